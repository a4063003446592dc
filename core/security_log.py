"""The security log: one JSON line per security-relevant event, on logger `consign.security`.

Every line carries the UTC time, the event name, who (a username, or an API key's
*prefix*, never the secret), the client IP and the request line, so that a SIEM
or `jq` can answer "who tried what from where". Raw secrets never reach it:
callers pass prefixes, and `JsonFormatter` drops any field named like a secret.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

from django.http import HttpRequest

logger = logging.getLogger("consign.security")

# Standard LogRecord attributes: everything else on a record is an `extra` field.
_RECORD_FIELDS = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
}
_SECRET_NAMES = ("password", "secret", "raw_key", "token", "authorization")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts (UTC, ISO 8601), level, logger, message, extras."""

    def format(self, record: logging.LogRecord) -> str:
        body: dict[str, Any] = {
            "ts": dt.datetime.fromtimestamp(record.created, tz=dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key in _RECORD_FIELDS or key.startswith("_"):
                continue
            if any(name in key.lower() for name in _SECRET_NAMES):
                continue
            body[key] = value
        if record.exc_info:
            body["exc"] = self.formatException(record.exc_info)
        return json.dumps(body, default=str, ensure_ascii=False)


def client_ip(request: HttpRequest | None) -> str:
    """REMOTE_ADDR; behind a proxy, gunicorn's forwarded_allow_ips sets it from the proxy."""
    if request is None:
        return ""
    return str(request.META.get("REMOTE_ADDR", ""))


def _who(request: HttpRequest | None) -> dict[str, str]:
    if request is None:
        return {}
    out: dict[str, str] = {}
    auth = request.__dict__.get("auth")
    prefix = getattr(auth, "prefix", None)
    if prefix:
        out["key_prefix"] = prefix
    user = request.__dict__.get("user") or request.__dict__.get("_cached_user")
    if user is not None and getattr(user, "is_authenticated", False) and not prefix:
        out["user"] = user.get_username()
    return out


def security_event(
    event: str,
    *,
    request: HttpRequest | None = None,
    level: int = logging.INFO,
    user: str | None = None,
    key_prefix: str | None = None,
    **fields: Any,
) -> None:
    """Write one security log line named `event` (e.g. `login.failed`, `access.denied`)."""
    # A DRF Request would authenticate on `.auth`/`.user` access (recursing when called
    # from an authenticator): read the Django request underneath, which DRF updates.
    request = getattr(request, "_request", request)
    extra: dict[str, Any] = {"event": event, "ip": client_ip(request)}
    extra.update(_who(request))
    if user is not None:
        extra["user"] = user
    if key_prefix is not None:
        extra["key_prefix"] = key_prefix
    if request is not None:
        extra["method"] = request.method
        extra["path"] = request.path[:300]
    extra.update(fields)
    logger.log(level, event, extra=extra)
