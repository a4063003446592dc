"""The per-key sliding-window rate limit (partners/throttling.py) against the real Redis."""

import pytest
from django.core.cache import cache

from partners.throttling import retry_after

ORDERS_URL = "/api/v1/orders/"


@pytest.fixture
def limited(settings):
    cache.clear()
    settings.API_THROTTLE_RATE = "3/hour"
    return settings


def test_requests_over_the_rate_are_refused(limited, api_client):
    statuses = [api_client.get(ORDERS_URL).status_code for _ in range(5)]
    assert statuses == [200, 200, 200, 429, 429]


def test_refused_requests_are_not_counted(limited, api_client, monkeypatch):
    import partners.throttling

    hour = 3600
    start = 1_000 * hour  # the start of a window
    clock = [start + 0.5 * hour]
    monkeypatch.setattr(partners.throttling.time, "time", lambda: clock[0])
    assert [api_client.get(ORDERS_URL).status_code for _ in range(3)] == [200] * 3
    for _ in range(30):
        assert api_client.get(ORDERS_URL).status_code == 429
    # Next window, 90 % in: the previous window's 3 weigh 0.3, so two more fit (had the 30
    # refusals counted, 33 x 0.1 = 3.3 would refuse at once).
    clock[0] = start + 1.9 * hour
    assert [api_client.get(ORDERS_URL).status_code for _ in range(3)] == [200, 200, 429]


def test_limit_is_per_key(limited, api_client, other_api_client):
    for _ in range(3):
        api_client.get(ORDERS_URL)
    assert api_client.get(ORDERS_URL).status_code == 429
    assert other_api_client.get(ORDERS_URL).status_code == 200


def test_redis_outage_lets_requests_through(limited, api_client, monkeypatch):
    import redis

    def down(*args, **kwargs):
        raise redis.ConnectionError("down")

    monkeypatch.setattr(cache._cache, "get_client", down)
    assert [api_client.get(ORDERS_URL).status_code for _ in range(5)] == [200] * 5


@pytest.mark.parametrize(
    ("now", "current", "previous", "expected"),
    [
        # Window full: wait for the next window, then until 2 of the 3 have "slid out".
        (30.0, 3, 0, 30 + 20),
        # Room in this window, but the previous one still weighs too much.
        (6.0, 1, 3, 34),
        (59.5, 1, 3, 1),
    ],
)
def test_retry_after_is_when_the_next_request_fits(now, current, previous, expected):
    assert retry_after(limit=3, period=60, now=now, current=current, previous=previous) == expected
