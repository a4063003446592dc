"""API keys: authentication, channel scoping, revocation, the management command, throttling."""

import io

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from partners.models import ApiKey
from partners.services import api_key_hash, api_key_revoke
from tests.orders.factories import OrderFactory

ORDERS_URL = "/api/v1/orders/"


def _assert_problem(response, status):
    assert response.status_code == status
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status
    assert {"type", "title", "detail"} <= body.keys()
    return body


def test_request_without_key_is_401_problem(db):
    response = APIClient().get(ORDERS_URL)
    _assert_problem(response, 401)
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_unknown_key_is_401_problem(api_key):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer csk_not-a-real-key")
    _assert_problem(client.get(ORDERS_URL), 401)


def test_non_bearer_scheme_is_401_problem(api_key):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Basic {api_key[1]}")
    _assert_problem(client.get(ORDERS_URL), 401)


def test_revoked_key_is_401_problem(api_client, api_key):
    assert api_client.get(ORDERS_URL).status_code == 200
    api_key_revoke(api_key=api_key[0])
    _assert_problem(api_client.get(ORDERS_URL), 401)


def test_key_of_inactive_channel_is_401(api_client, api_channel):
    api_channel.is_active = False
    api_channel.save()
    _assert_problem(api_client.get(ORDERS_URL), 401)


def test_order_of_another_channel_is_404(api_client, api_other_channel):
    theirs = OrderFactory(channel=api_other_channel)
    body = _assert_problem(api_client.get(f"{ORDERS_URL}{theirs.number}/"), 404)
    assert theirs.number in body["detail"]


@pytest.mark.parametrize("suffix", ["", "shipments/"])
def test_reads_of_another_channels_order_are_404(api_client, api_other_channel, suffix):
    theirs = OrderFactory(channel=api_other_channel)
    _assert_problem(api_client.get(f"{ORDERS_URL}{theirs.number}/{suffix}"), 404)


def test_cancel_of_another_channels_order_is_404_and_changes_nothing(api_client, api_other_channel):
    theirs = OrderFactory(channel=api_other_channel)
    _assert_problem(api_client.post(f"{ORDERS_URL}{theirs.number}/cancel/"), 404)
    theirs.refresh_from_db()
    assert theirs.status == "received"


def test_list_shows_only_own_channel(api_client, api_channel, api_other_channel):
    mine = OrderFactory(channel=api_channel)
    OrderFactory(channel=api_other_channel)
    numbers = [o["number"] for o in api_client.get(ORDERS_URL).json()["results"]]
    assert numbers == [mine.number]


def test_key_is_stored_hashed_with_visible_prefix(api_key):
    stored, raw = api_key
    stored.refresh_from_db()
    assert stored.key_hash == api_key_hash(raw)
    assert raw not in {stored.key_hash, stored.prefix}
    assert raw.startswith(stored.prefix)


def test_use_records_last_used_at(api_client, api_key):
    assert api_key[0].last_used_at is None
    api_client.get(ORDERS_URL)
    api_key[0].refresh_from_db()
    assert api_key[0].last_used_at is not None


def test_create_api_key_command_prints_raw_key_last(api_channel):
    out = io.StringIO()
    call_command("create_api_key", api_channel.code, "--name", "ERP", stdout=out)
    raw = out.getvalue().strip().splitlines()[-1]
    key = ApiKey.objects.get(key_hash=api_key_hash(raw))
    assert (key.channel, key.name) == (api_channel, "ERP")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert client.get(ORDERS_URL).status_code == 200


def test_create_api_key_command_refuses_unknown_channel(db):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="nope"):
        call_command("create_api_key", "nope", stdout=io.StringIO())


def test_throttle_answers_429_with_retry_after(api_client, settings):
    from django.core.cache import cache

    cache.clear()
    settings.API_THROTTLE_RATE = "2/minute"
    assert api_client.get(ORDERS_URL).status_code == 200
    assert api_client.get(ORDERS_URL).status_code == 200
    response = api_client.get(ORDERS_URL)
    _assert_problem(response, 429)
    assert int(response["Retry-After"]) > 0


def _use_lines(caplog):
    return [r for r in caplog.records if getattr(r, "event", None) == "api_key.used"]


def test_key_use_is_logged_once_per_interval_with_the_count(api_client, settings, caplog):
    import partners.authentication

    settings.API_KEY_USE_LOG_SECONDS = 60
    caplog.set_level("INFO", logger="consign.security")
    for _ in range(3):
        assert api_client.get(ORDERS_URL).status_code == 200
    lines = _use_lines(caplog)
    assert len(lines) == 1
    assert lines[0].uses == 1
    # The interval is over: the next use logs and counts the two folded into it.
    for seen in partners.authentication._uses.values():
        seen[0] -= 61
    api_client.get(ORDERS_URL)
    lines = _use_lines(caplog)
    assert [line.uses for line in lines] == [1, 3]


def test_key_use_from_a_new_address_is_logged_at_once(api_client, settings, caplog):
    settings.API_KEY_USE_LOG_SECONDS = 60
    caplog.set_level("INFO", logger="consign.security")
    api_client.get(ORDERS_URL)
    api_client.get(ORDERS_URL, REMOTE_ADDR="203.0.113.9")
    assert [line.ip for line in _use_lines(caplog)] == ["127.0.0.1", "203.0.113.9"]


def test_every_key_use_is_logged_when_the_interval_is_zero(api_client, settings, caplog):
    settings.API_KEY_USE_LOG_SECONDS = 0
    caplog.set_level("INFO", logger="consign.security")
    for _ in range(3):
        api_client.get(ORDERS_URL)
    assert len(_use_lines(caplog)) == 3


def _key_reads(client, url=ORDERS_URL):
    from django.db import connection

    reads = []

    def record(execute, sql, params, many, context):
        if sql.startswith("SELECT") and "partners_apikey" in sql:
            reads.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        response = client.get(url)
    return response.status_code, len(reads)


def test_active_key_is_remembered_between_requests(api_client):
    assert _key_reads(api_client) == (200, 1)
    assert _key_reads(api_client) == (200, 0)


def test_remembered_key_stops_working_at_once_when_revoked(api_client, api_key):
    assert _key_reads(api_client) == (200, 1)
    api_key_revoke(api_key=api_key[0])
    assert _key_reads(api_client) == (401, 1)


def test_remembered_key_stops_working_at_once_when_its_channel_is_deactivated(
    api_client, api_channel
):
    assert _key_reads(api_client) == (200, 1)
    api_channel.is_active = False
    api_channel.save()
    assert _key_reads(api_client)[0] == 401


def test_nothing_is_remembered_without_redis(api_client, monkeypatch):
    import redis
    from django.core.cache import cache

    def down(*args, **kwargs):
        raise redis.ConnectionError("down")

    assert _key_reads(api_client) == (200, 1)
    monkeypatch.setattr(cache._cache, "get_client", down)
    assert _key_reads(api_client) == (200, 1)
    assert _key_reads(api_client) == (200, 1)


def test_key_cache_can_be_turned_off(api_client, settings):
    settings.API_KEY_CACHE_SECONDS = 0
    assert _key_reads(api_client) == (200, 1)
    assert _key_reads(api_client) == (200, 1)
