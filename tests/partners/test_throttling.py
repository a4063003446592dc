"""The per-key sliding-window rate limit (partners/throttling.py) against the real Redis."""

import logging

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from partners.throttling import auth_failures_reset, retry_after

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


# --- requests without a valid key, per client IP ---------------------------------------


@pytest.fixture
def failures_limited(settings):
    settings.API_AUTH_FAILURE_RATE = "3/hour"
    for ip in ("10.1.0.1", "10.1.0.2"):
        auth_failures_reset(ip=ip)
    return settings


def _client(key: str | None, ip: str) -> APIClient:
    client = APIClient(REMOTE_ADDR=ip)
    if key is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


def test_bad_keys_from_one_address_get_429_problem_with_retry_after(failures_limited, db):
    client = _client("csk_not-a-real-key", "10.1.0.1")
    statuses = [client.get(ORDERS_URL).status_code for _ in range(5)]
    assert statuses == [401, 401, 401, 429, 429]
    response = client.get(ORDERS_URL)
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["status"] == 429
    # A sliding window: the refused request fits again at most by the end of the next
    # window, so up to two periods away depending on the minute the test runs in.
    assert 0 < int(response["Retry-After"]) <= 2 * 3600


def test_missing_revoked_and_malformed_keys_count_together(failures_limited, api_key):
    from partners.services import api_key_revoke

    raw = api_key[1]
    api_key_revoke(api_key=api_key[0])
    statuses = [
        _client(None, "10.1.0.1").get(ORDERS_URL).status_code,
        _client(raw, "10.1.0.1").get(ORDERS_URL).status_code,
        _client("csk_bad", "10.1.0.1").post(ORDERS_URL, {}, format="json").status_code,
        _client(None, "10.1.0.1").get(ORDERS_URL).status_code,
        _client(raw, "10.1.0.1").get(ORDERS_URL).status_code,
    ]
    assert statuses == [401, 401, 401, 429, 429]


def test_a_bad_client_locks_out_neither_good_keys_nor_other_addresses(failures_limited, api_key):
    bad = _client("csk_not-a-real-key", "10.1.0.1")
    for _ in range(5):
        bad.get(ORDERS_URL)
    assert bad.get(ORDERS_URL).status_code == 429
    # A valid key from the very same address still works, as often as its own rate allows.
    good = _client(api_key[1], "10.1.0.1")
    assert [good.get(ORDERS_URL).status_code for _ in range(5)] == [200] * 5
    # Another address is counted on its own.
    assert _client("csk_not-a-real-key", "10.1.0.2").get(ORDERS_URL).status_code == 401


def test_throttled_refusals_are_logged_once_not_per_request(failures_limited, db, caplog):
    caplog.set_level(logging.INFO, logger="consign.security")
    client = _client("csk_not-a-real-key", "10.1.0.1")
    for _ in range(10):
        client.get(ORDERS_URL)
    events = [getattr(r, "event", "") for r in caplog.records if r.name == "consign.security"]
    assert events.count("api_key.rejected") == 3
    assert events.count("api_key.throttled") == 1
