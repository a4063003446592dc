"""The one seam between karrio and the network, and between karrio's loguru and our logging.

karrio sends every carrier request through `urlopen` as imported by
`karrio.core.utils.helpers` (through `_urlopen_with_span`), without a timeout unless the connector passes one (few do),
and it turns every failure, timeouts included, into a `Message` whose type is lost.
`install()` replaces that one name with `_guarded_urlopen`, which

* gives every request at most LSP_HTTP_TIMEOUT_SECONDS: the socket timeout bounds the
  connect and each wait for the answer's head, and the body is read here, in chunks,
  against the same deadline, so a carrier that stalls or drips can never hang a worker;
* sends the request to the account's `base_url` override when it has one (the sandbox
  in the offline demo, a recording server in tests), whatever host the connector names;
* writes what happened to each request into the call's `CallJournal` (a context
  variable, so karrio's worker threads, started with asyncio.to_thread, see it too): the
  adapter classifies the outcome from the journal, not from karrio's message text;
* during a label purchase, refuses to send anything after a request whose answer was
  lost: karrio's own retries must never send a purchase twice.

karrio logs through loguru with its own stderr handler; `install()` replaces it with one
sink into the standard `karrio` logger that redacts the call's secrets (every credential
value of the account in use) and anything shaped like a token, password or key.
"""

from __future__ import annotations

import contextlib
import contextvars
import http.client
import logging
import os
import re
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

logger = logging.getLogger("karrio")

# A label or manifest is tens of kilobytes; anything past this is not a carrier answer.
MAX_BODY_BYTES = 20 * 1024 * 1024
_CHUNK = 64 * 1024


class DeadlineExceeded(TimeoutError):
    """The carrier did not finish answering within LSP_HTTP_TIMEOUT_SECONDS."""


class SendRefused(ConnectionError):
    """Not sent: an earlier request of this purchase may have bought a label already."""


@dataclass
class RequestRecord:
    method: str
    path: str
    status: int | None = None  # HTTP status when an answer came
    # "" (answered), "not_sent" (refused, DNS, blocked), "lost" (sent, answer lost)
    failure: str = ""
    error: str = ""

    @property
    def is_auth(self) -> bool:
        # OAuth token requests (UPS, DHL Parcel DE) buy nothing: losing one is harmless.
        return self.path.rstrip("/").endswith("/token")


@dataclass
class CallJournal:
    """What one adapter call sent and got back; filled by `_guarded_urlopen`."""

    base_url: str = ""
    purchase: bool = False
    secrets: tuple[str, ...] = ()
    requests: list[RequestRecord] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, record: RequestRecord) -> None:
        with self.lock:
            self.requests.append(record)

    @property
    def lost_purchase(self) -> RequestRecord | None:
        """A non-auth request that was sent and whose answer never came (or a 5xx that may
        hide a processed request): the outcome of a purchase is then unknown."""
        for record in self.requests:
            if record.is_auth:
                continue
            if record.failure == "lost" or (record.status in (500, 502, 504)):
                return record
        return None

    @property
    def transport_failure(self) -> RequestRecord | None:
        for record in self.requests:
            if record.failure:
                return record
        return None

    @property
    def statuses(self) -> list[int]:
        return [r.status for r in self.requests if r.status is not None]


_journal: contextvars.ContextVar[CallJournal | None] = contextvars.ContextVar(
    "karrio_call_journal", default=None
)


@contextlib.contextmanager
def journal_open(journal: CallJournal) -> Iterator[CallJournal]:
    token = _journal.set(journal)
    try:
        yield journal
    finally:
        _journal.reset(token)


def _rewrite(url: str, base_url: str) -> str:
    """`url` with its scheme and host (and a path prefix) taken from `base_url`."""
    target = urllib.parse.urlsplit(url)
    base = urllib.parse.urlsplit(base_url)
    path = base.path.rstrip("/") + target.path
    return urllib.parse.urlunsplit((base.scheme, base.netloc, path, target.query, ""))


class _Answer:
    """An answered request, its body already read: what karrio's helpers use of it."""

    def __init__(self, *, body: bytes, status: int, headers: Any, url: str) -> None:
        self._body = body
        self.status = status
        self.code = status
        self.headers = headers
        self.url = url

    def read(self, *_: Any) -> bytes:
        return self._body

    def getcode(self) -> int:
        return self.status

    def __enter__(self) -> _Answer:
        return self

    def __exit__(self, *_: Any) -> None:
        return None


def _exec_parallel_in_context(
    function: Any, sequence: list[Any], max_workers: int | None = None
) -> list[Any]:
    """karrio's exec_parrallel (thread pool; results in completion order, exceptions as
    results) with the caller's context variables, so its threads see the call's journal."""
    from concurrent.futures import ThreadPoolExecutor, as_completed

    if not sequence:
        return []
    workers = min(len(sequence), max_workers or len(sequence))
    with ThreadPoolExecutor(max_workers=workers) as executor:
        futures = [
            executor.submit(contextvars.copy_context().run, function, item) for item in sequence
        ]
        results: list[Any] = []
        for future in as_completed(futures):
            try:
                results.append(future.result())
            except Exception as exc:  # noqa: BLE001  (karrio's contract: errors as results)
                results.append(exc)
        return results


def _read_body(response: Any, deadline: float) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        if time.monotonic() > deadline:
            raise DeadlineExceeded("the carrier's answer did not finish in time")
        chunk = response.read(_CHUNK)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise http.client.HTTPException("the carrier's answer is too large")
        chunks.append(chunk)


def _not_sent(error: BaseException) -> bool:
    """Whether the request certainly never reached the carrier."""
    reason = error.reason if isinstance(error, urllib.error.URLError) else error
    return isinstance(reason, ConnectionRefusedError | socket.gaierror | SendRefused)


def _guarded_urlopen(request: Any, timeout: float | None = None) -> Any:
    journal = _journal.get()
    budget = float(settings.LSP_HTTP_TIMEOUT_SECONDS)
    if timeout is not None:
        budget = min(budget, float(timeout))
    if isinstance(request, str):
        request = urllib.request.Request(request)  # noqa: S310 (scheme checked below)
    if urllib.parse.urlsplit(request.full_url).scheme not in ("http", "https"):
        raise urllib.error.URLError(SendRefused("only http(s) carrier URLs are allowed"))
    if journal is None:
        # Every carrier call goes through the adapter, which opens a journal; a request
        # without one would go to the connector's real host unguarded.
        raise urllib.error.URLError(SendRefused("karrio request outside an adapter call"))
    if journal.base_url:
        request.full_url = _rewrite(request.full_url, journal.base_url)
    record = RequestRecord(
        method=request.get_method(), path=urllib.parse.urlsplit(request.full_url).path
    )
    if journal.purchase and journal.lost_purchase is not None:
        record.failure, record.error = "not_sent", "refused: an earlier answer was lost"
        journal.add(record)
        raise urllib.error.URLError(
            SendRefused("an earlier request of this purchase lost its answer")
        )
    journal.add(record)
    deadline = time.monotonic() + budget
    try:
        response = urllib.request.urlopen(request, timeout=budget)  # noqa: S310
        with response:
            body = _read_body(response, deadline)
            answer = _Answer(
                body=body, status=response.status, headers=response.headers, url=response.url
            )
    except urllib.error.HTTPError as exc:
        record.status = exc.code
        raise
    except (OSError, http.client.HTTPException) as exc:
        record.failure = "not_sent" if _not_sent(exc) else "lost"
        record.error = f"{type(exc).__name__}: {exc}"[:300]
        raise
    record.status = answer.status
    return answer


# --- logging ------------------------------------------------------------------------

_SHAPES = [
    # key=value / "key": "value" pairs whose key names a secret
    re.compile(
        r"""(?i)(["']?(?:password|passwd|secret|client_secret|api[_-]?key|apikey|token|"""
        r"""access_token|refresh_token|authorization|site_id|account_number|username)["']?"""
        r"""\s*[:=]\s*)(["']?)[^"',}\s&]+"""
    ),
    re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+"),
]
REDACTED = "[redacted]"


def redact(text: str, secrets: tuple[str, ...] = ()) -> str:
    """`text` without the given secret values (as they are, or URL-encoded) nor anything
    shaped like a credential."""
    forms = {
        form
        for secret in secrets
        if len(secret) >= 3
        for form in (secret, urllib.parse.quote(secret, safe=""), urllib.parse.quote_plus(secret))
    }
    for secret in sorted(forms, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    text = _SHAPES[0].sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)
    return _SHAPES[1].sub(lambda m: f"{m.group(1)} {REDACTED}", text)


# Extras karrio passes to loguru that say what happened without any request content.
_SAFE_EXTRAS = ("request_id", "url", "status_code", "error_code", "attempt", "carrier", "error")


def _loguru_sink(message: Any) -> None:
    record = message.record
    level = logging.getLevelName(record["level"].name)
    levelno = level if isinstance(level, int) else logging.INFO
    if not logger.isEnabledFor(levelno):
        return
    journal = _journal.get()
    secrets = journal.secrets if journal is not None else ()
    parts = [str(record["message"])]
    extras = record["extra"]
    for key in _SAFE_EXTRAS:
        value = extras.get(key)
        if value is None:
            continue
        if key == "url":
            # A query string can carry credentials (DHL's tracking API takes them there).
            value = str(value).split("?", 1)[0]
        parts.append(f"{key}={value}")
    if record["exception"] is not None:
        exc = record["exception"].value
        parts.append(f"({type(exc).__name__}: {exc})")
    logger.log(levelno, redact(" ".join(parts), secrets))


_installed = False
_install_lock = threading.Lock()


def install() -> None:
    """Patch karrio's network seam and route its logging (idempotent, once per process)."""
    global _installed
    with _install_lock:
        if _installed:
            return
        # karrio adds its own stderr handler when first imported; below INFO it stays
        # quiet until the handler is replaced here.
        os.environ.setdefault("KARRIO_LOG_LEVEL", "WARNING")
        from karrio.core.utils import helpers
        from loguru import logger as loguru_logger

        helpers.urlopen = _guarded_urlopen
        # Its Sentry wrapper re-sends a failed request through plain urlopen when
        # sentry_sdk is installed: a second label. Bypassed, not wrapped.
        helpers._urlopen_with_span = _guarded_urlopen
        import karrio.core.utils as karrio_utils

        # karrio.lib.run_concurently (UPS tracking) runs requests in a plain thread pool,
        # which does not carry context variables: without this its requests would see no
        # journal and be refused.
        karrio_utils.exec_parrallel = _exec_parallel_in_context
        loguru_logger.remove()
        loguru_logger.add(_loguru_sink, level="DEBUG", format="{message}", backtrace=False)
        _installed = True


def warm_up() -> None:
    """Load karrio's connectors now (seconds, once per process) rather than in the first
    carrier call: karrio imports every installed connector on first use."""
    install()
    import karrio.sdk as karrio_sdk

    karrio_sdk.gateway.providers  # noqa: B018  (the property loads the plugins)
