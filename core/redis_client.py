"""The one Redis client per process, URL and timeouts, for code that talks to Redis directly.

A client per call opened a new Redis connection every time (once per task, in the
redelivery counter); a cached client keeps one connection pool per process.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import redis


@cache
def redis_client(url: str, *, timeout: float, connect_timeout: float | None = None) -> redis.Redis:
    import redis

    return redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=connect_timeout)
