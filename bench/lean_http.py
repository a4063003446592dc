"""A lean asyncio HTTP/1.1 client for the benchmarks' load generators.

On a 2-core machine the load generator shares the CPUs with the system it
measures. httpx cost about 2.7 ms of CPU per request here (a new connection per
request against gunicorn's sync workers, which close after every response):
a fifth of a read's whole budget, taken from the server under test. This client
does only what the benches need (one host, Content-Length or chunked bodies,
keep-alive when the server allows it) for a tenth of that, so the figures
measure Consign rather than the client.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from urllib.parse import urlencode


class HttpError(Exception):
    """The connection failed or the response could not be read."""


@dataclass
class Response:
    status_code: int
    headers: dict[str, str]
    content: bytes

    def json(self):
        return json.loads(self.content)

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")


class LeanClient:
    """Requests to one host:port over a pool of at most `size` connections."""

    def __init__(
        self,
        base_url: str,
        *,
        size: int = 16,
        timeout: float = 30.0,
        headers: dict[str, str] | None = None,
        keepalive_expiry: float = 1.0,
    ) -> None:
        scheme, _, rest = base_url.partition("://")
        if scheme != "http":
            raise ValueError("lean_http speaks plain http only")
        hostport = rest.split("/", 1)[0]
        host, _, port = hostport.partition(":")
        self.host, self.port, self.timeout = host, int(port or 80), timeout
        self._host_header = f"Host: {hostport}\r\n".encode() + b"".join(
            f"{name}: {value}\r\n".encode() for name, value in (headers or {}).items()
        )
        # Idle connections are dropped after keepalive_expiry seconds, before the
        # server's own keep-alive timeout (gunicorn: 2 s) can race a request.
        self._keepalive_expiry = keepalive_expiry
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter, float]] = []
        self._slots = asyncio.Semaphore(size)

    async def __aenter__(self) -> LeanClient:
        return self

    async def __aexit__(self, *exc) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        while self._idle:
            _, writer, _ = self._idle.pop()
            writer.close()

    async def request(
        self,
        method: str,
        path: str,
        *,
        headers: dict[str, str] | None = None,
        content: bytes | None = None,
        json_body=None,
        params: dict[str, str] | None = None,
    ) -> Response:
        if params:
            path = f"{path}?{urlencode(params)}"
        if json_body is not None:
            content = json.dumps(json_body, separators=(",", ":")).encode()
            headers = {**(headers or {}), "Content-Type": "application/json"}
        head = [f"{method} {path} HTTP/1.1\r\n".encode(), self._host_header]
        for name, value in (headers or {}).items():
            head.append(f"{name}: {value}\r\n".encode())
        if content is not None:
            head.append(f"Content-Length: {len(content)}\r\n".encode())
        head.append(b"\r\n")
        if content:
            head.append(content)
        payload = b"".join(head)
        async with self._slots:
            try:
                return await asyncio.wait_for(self._exchange(payload), self.timeout)
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
                raise HttpError(f"{type(exc).__name__}: {exc}") from exc
            except TimeoutError as exc:
                raise HttpError("timeout") from exc

    def _take_idle(self):
        now = time.monotonic()
        while self._idle:
            reader, writer, since = self._idle.pop()
            if now - since < self._keepalive_expiry:
                return reader, writer
            writer.close()
        return None

    async def _exchange(self, payload: bytes) -> Response:
        idle = self._take_idle()
        reused = idle is not None
        reader, writer = idle if reused else await self._connect()
        try:
            writer.write(payload)
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionResetError):
                if not reused:
                    raise
                # The server closed a kept-alive connection between requests: a
                # race every HTTP client retries once on a fresh connection.
                writer.close()
                reader, writer = await self._connect()
                writer.write(payload)
                head = await reader.readuntil(b"\r\n\r\n")
            response, keep = await self._read(reader, head)
        except BaseException:
            writer.close()
            raise
        if keep:
            self._idle.append((reader, writer, time.monotonic()))
        else:
            writer.close()
        return response

    async def _connect(self):
        return await asyncio.open_connection(self.host, self.port, limit=1 << 20)

    @staticmethod
    async def _read(reader: asyncio.StreamReader, head: bytes) -> tuple[Response, bool]:
        lines = head.decode("latin-1").split("\r\n")
        version, status, *_ = lines[0].split(" ", 2)
        headers = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        keep = version == "HTTP/1.1" and headers.get("connection", "").lower() != "close"
        if "content-length" in headers:
            body = await reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            parts = []
            while True:
                size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                if size == 0:
                    await reader.readuntil(b"\r\n")
                    break
                parts.append(await reader.readexactly(size))
                await reader.readexactly(2)
            body = b"".join(parts)
        else:
            body, keep = await reader.read(), False
        return Response(int(status), headers, body), keep
