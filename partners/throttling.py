"""Per-API-key rate limit, and per-IP limit on requests without a valid key.

Over either limit: 429 problem+json with Retry-After.

A sliding-window counter (the current and the previous fixed window, the
previous one weighted by how much of it still overlaps the sliding window),
decided and counted by one Lua script: one Redis round trip per request, atomic
across gunicorn workers, and constant in size. (DRF's SimpleRateThrottle keeps a
list of every request time in the window and reads and rewrites all of it on
every request, in two round trips that race between workers: at a busy
partner's rate that list holds thousands of floats.) Refused requests are not
counted, so a client that backs off as told by Retry-After gets through.
"""

from __future__ import annotations

import logging
import math
import time
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.cache import cache
from rest_framework.throttling import BaseThrottle

from core.security_log import client_ip, security_event

if TYPE_CHECKING:
    from redis.commands.core import Script

logger = logging.getLogger(__name__)

_DURATIONS = {"s": 1, "m": 60, "h": 3600, "d": 86400}

# KEYS[1]: this window's counter, KEYS[2]: the previous window's.
# ARGV: limit, weight of the previous window (0..1), counter lifetime in seconds.
# Returns {allowed (0/1), current count, previous count}.
_SCRIPT = """
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
local previous = tonumber(redis.call('GET', KEYS[2]) or '0')
if previous * tonumber(ARGV[2]) + current + 1 > tonumber(ARGV[1]) then
    return {0, current, previous}
end
current = redis.call('INCR', KEYS[1])
if current == 1 then
    redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3]))
end
return {1, current, previous}
"""
_script: list[Script] = []  # the registered script (redis-py Script), created on first use


def parse_rate(rate: str) -> tuple[int, int]:
    """DRF's "<n>/<second|minute|hour|day>" → (requests, seconds)."""
    count, _, period = rate.partition("/")
    return int(count), _DURATIONS[period.strip()[0]]


def retry_after(*, limit: int, period: int, now: float, current: int, previous: int) -> int:
    """Whole seconds until one more request fits, if no other request comes meanwhile."""
    window_start = now - now % period
    if current + 1 > limit:
        # Not in this window: in the next one this window's count is the weighted one.
        fraction = 1 - (limit - 1) / current if current else 0.0
        at = window_start + period + fraction * period
    else:
        fraction = 1 - (limit - current - 1) / previous if previous else 0.0
        at = window_start + fraction * period
    return max(1, math.ceil(at - now - 1e-6))


def _take(*, base: str, limit: int, period: int) -> int | None:
    """Count one request under `base` if it fits `limit` per `period`.

    None when it fits; else the whole seconds until one would (the refused request
    is not counted). Fails open: the counters live in Redis, and a Redis outage must
    not take the API down with it (orders are durable in Postgres; the outbox holds
    the work).
    """
    now = time.time()
    window = int(now // period)
    weight = 1 - (now % period) / period
    keys = [cache.make_and_validate_key(f"{base}:{period}:{w}") for w in (window, window - 1)]
    try:
        # RedisCache's own client (private API; BaseCache, as the stubs type `cache`, has none).
        client = cache._cache.get_client(keys[0], write=True)  # type: ignore[attr-defined]
        if not _script:
            _script.append(client.register_script(_SCRIPT))
        allowed, current, previous = _script[0](
            keys=keys, args=[limit, weight, 2 * period], client=client
        )
    except Exception:  # redis.ConnectionError, TimeoutError...: any cache failure
        logger.warning("rate limit cache unavailable; request allowed", exc_info=False)
        return None
    if allowed:
        return None
    return retry_after(
        limit=limit, period=period, now=now, current=int(current), previous=int(previous)
    )


class ApiKeyRateThrottle(BaseThrottle):
    scope = "api_key"

    def __init__(self):
        self._wait: int | None = None

    def allow_request(self, request, view) -> bool:
        api_key = getattr(request, "auth", None)
        if api_key is None or not hasattr(api_key, "pk"):
            return True
        # Read at request time (not import time) so the setting can change in tests.
        limit, period = parse_rate(settings.API_THROTTLE_RATE)
        self._wait = _take(base=f"throttle:{self.scope}:{api_key.pk}", limit=limit, period=period)
        return self._wait is None

    def wait(self) -> int | None:
        return self._wait


# --- Requests without a valid key ----------------------------------------------------
AUTH_FAILURE_SCOPE = "auth_failure"


def _auth_failure_base(ip: str) -> str:
    return f"throttle:{AUTH_FAILURE_SCOPE}:{ip or 'unknown'}"


def auth_failure_throttle(*, request) -> int | None:
    """Count one request without a valid API key against its client IP.

    None while the IP is within API_AUTH_FAILURE_RATE (the caller answers 401); else
    the seconds to wait, for a 429 with Retry-After. Only failures are counted and only
    failures are refused: a request with a valid key never consults this counter, so a
    client hammering with a bad or revoked key cannot lock out a good key, not even one
    sent from the same address (a partner's NAT, an old and a new deployment side by
    side). The first refusal per IP and window leaves one `api_key.throttled` line in
    the security log; the refusals after it are not logged one by one.
    """
    ip = client_ip(getattr(request, "_request", request))
    limit, period = parse_rate(settings.API_AUTH_FAILURE_RATE)
    wait = _take(base=_auth_failure_base(ip), limit=limit, period=period)
    if wait is not None:
        try:
            first = cache.add(f"{_auth_failure_base(ip)}:logged", 1, timeout=wait)
        except Exception:  # the cache is down: log every refusal rather than none
            first = True
        if first:
            security_event(
                "api_key.throttled",
                request=request,
                level=logging.WARNING,
                retry_after=wait,
                limit=settings.API_AUTH_FAILURE_RATE,
            )
    return wait


def auth_failures_reset(*, ip: str) -> None:
    """Forget an IP's recent failures (its counters for this and the previous window)."""
    _, period = parse_rate(settings.API_AUTH_FAILURE_RATE)
    window = int(time.time() // period)
    base = _auth_failure_base(ip)
    cache.delete_many([f"{base}:{period}:{w}" for w in (window, window - 1)] + [f"{base}:logged"])
