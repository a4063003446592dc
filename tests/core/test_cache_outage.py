"""With Redis unreachable the cache misses instead of raising (the API keeps answering)."""

import pytest
from django.core.cache.backends.redis import RedisCache

from core.cache import ResilientRedisCache


@pytest.fixture
def dead_cache():
    # A port nothing listens on: every call is a real connection refusal.
    return ResilientRedisCache(
        "redis://127.0.0.1:9/0", {"OPTIONS": {"socket_connect_timeout": 0.5}}
    )


def test_reads_miss_and_writes_are_dropped_when_redis_is_down(dead_cache):
    assert dead_cache.get("k", "fallback") == "fallback"
    assert dead_cache.get_many(["a", "b"]) == {}
    assert dead_cache.add("k", 1) is False
    dead_cache.set("k", 1)  # no exception


def test_the_plain_backend_would_raise(dead_cache):
    plain = RedisCache("redis://127.0.0.1:9/0", {"OPTIONS": {"socket_connect_timeout": 0.5}})
    with pytest.raises(Exception):  # noqa: B017, PT011 - the point is that it raises at all
        plain.get("k")


def test_api_answers_while_the_cache_is_down(api_client, settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "core.cache.ResilientRedisCache",
            "LOCATION": "redis://127.0.0.1:9/0",
            "OPTIONS": {"socket_connect_timeout": 0.5},
        }
    }
    response = api_client.get("/api/v1/orders/")
    assert response.status_code == 200
