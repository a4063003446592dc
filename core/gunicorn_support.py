"""What gunicorn itself writes: a redacted access log and problem+json for its own errors.

Loaded by gunicorn.conf.py in the gunicorn processes only; no Django import here (the
master reads it before any application code).

Access log. Query strings carry what people type: the desk's `?q=` is an e-mail, a
phone number or a postcode read out by a customer, and a partner may filter by
`?email=`. The access log is kept longer and read by more people than the data, so
every query-string value is replaced by `REDACTED` (the names stay, so the log still
says which filter was used), in the request line, the query string and the Referer,
whatever `access_log_format` asks for.

Errors. Gunicorn answers a request it cannot parse (a header over
`limit_request_field_size`, e.g. a 100 KB Idempotency-Key; a malformed request line)
itself, before Django sees it, with an HTML page. The API promises problem+json and
never an HTML error page, so gunicorn's writer is replaced by one that answers
RFC 9457 problem+json with the same status.
"""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from gunicorn import util
from gunicorn.glogging import Logger
from gunicorn.http.message import DEFAULT_MAX_HEADERFIELD_SIZE

REDACTED = "REDACTED"
# A parameter name worth keeping: short and plain. Anything else (`?ada@example.com`,
# a name that is itself data) is redacted whole.
_PLAIN_NAME = re.compile(r"[A-Za-z0-9_.\-\[\]]{1,64}")


def redact_query(query: str | None) -> str | None:
    """`q=ada%40example.com&status=` -> `q=REDACTED&status=`: names kept, values gone."""
    if not query:
        return query
    out = []
    for item in query.split("&"):
        name, sep, value = item.partition("=")
        if not _PLAIN_NAME.fullmatch(name):
            out.append(REDACTED)
        elif sep and value:
            out.append(f"{name}={REDACTED}")
        else:
            out.append(item)
    return "&".join(out)


def redact_url(url: str | None) -> str | None:
    """A path or absolute URL with its query values redacted and its fragment dropped."""
    if not url:
        return url
    base, has_query, rest = url.partition("?")
    base = base.partition("#")[0]
    if not has_query:
        return base
    return f"{base}?{redact_query(rest.partition('#')[0])}"


class RedactingLogger(Logger):
    """gunicorn's logger, with query-string values redacted from every access-log atom."""

    _URL_ATOMS = ("f", "{referer}i", "{raw_uri}e", "{http_referer}e")
    _QUERY_ATOMS = ("q", "{query_string}e")
    _SECRET_ATOMS = ("{authorization}i", "{cookie}i", "{http_authorization}e", "{http_cookie}e")

    # gunicorn ships no types: its response, request and config objects are Any here.
    def atoms(
        self, resp: Any, req: Any, environ: dict[str, Any], request_time: timedelta
    ) -> dict[str, Any]:
        atoms: dict[str, Any] = super().atoms(resp, req, environ, request_time)
        raw_uri = environ.get("RAW_URI")
        if raw_uri is not None:
            atoms["r"] = (
                f"{environ.get('REQUEST_METHOD')} {redact_url(raw_uri)} "
                f"{environ.get('SERVER_PROTOCOL')}"
            )
        for name in self._URL_ATOMS:
            if name in atoms:
                atoms[name] = redact_url(atoms[name])
        for name in self._QUERY_ATOMS:
            if name in atoms:
                atoms[name] = redact_query(atoms[name])
        for name in self._SECRET_ATOMS:
            if name in atoms:
                atoms[name] = REDACTED
        return atoms

    def exception(self, msg: str, *args: Any, **kwargs: Any) -> None:
        # "Error handling request %s" with the URI: the same query values as the access log.
        args = tuple(redact_url(a) if isinstance(a, str) else a for a in args)
        super().exception(msg, *args, **kwargs)


PROBLEM_TYPE_BASE = "https://consign.dev/problems/"


def problem_error_writer(cfg: Any) -> Callable[[socket.socket, int, str, str], None]:
    """A replacement for gunicorn.util.write_error answering problem+json (see the module)."""
    # 0 means gunicorn's own ceiling, not "unlimited" (gunicorn/http/message.py).
    field_limit = cfg.limit_request_field_size or DEFAULT_MAX_HEADERFIELD_SIZE
    details = {
        431: f"A request header is too large: each header line may have at most "
        f"{field_limit} bytes, and at most {cfg.limit_request_fields} headers are read.",
        414: "The request line is too long.",
        500: "Something went wrong on our side.",
    }

    def write_error(sock: socket.socket, status_int: int, reason: str, mesg: str) -> None:
        code = re.sub(r"[^a-z0-9]+", "_", reason.lower()).strip("_") or "error"
        body = json.dumps(
            {
                "type": PROBLEM_TYPE_BASE + code.replace("_", "-"),
                "title": reason,
                "status": status_int,
                "detail": details.get(status_int) or mesg or reason,
                "code": code,
            }
        ).encode()
        head = (
            f"HTTP/1.1 {status_int} {reason}\r\n"
            "Connection: close\r\n"
            "Content-Type: application/problem+json\r\n"
            "Cache-Control: no-store, private\r\n"
            f"Content-Length: {len(body)}\r\n"
            "\r\n"
        ).encode("latin-1")
        util.write_nonblock(sock, head + body)

    return write_error


def install_problem_errors(worker: Any) -> None:
    """Make this worker answer its own parse errors with problem+json.

    gunicorn's workers call `gunicorn.util.write_error` through the module for every
    error they answer themselves (workers/base.py handle_error), whatever the worker
    class; tests/core/test_gunicorn.py fails if an upgrade changes that.
    """
    util.write_error = problem_error_writer(worker.cfg)
