"""Idempotency-Key semantics (Stripe): replay, mismatch, in flight, a dead request, retention."""

from contextlib import contextmanager
from datetime import timedelta

import pytest
from django.utils import timezone

from orders.models import Order
from partners.models import IdempotencyRecord
from partners.services import idempotency_records_purge
from partners.tasks import idempotency_records_purge_task

URL = "/api/v1/orders/"

pytestmark = pytest.mark.usefixtures("api_world")


def _post(client, payload, key):
    return client.post(URL, payload, format="json", headers={"Idempotency-Key": key})


def test_same_key_and_body_replays_first_response(api_client, order_payload):
    first = _post(api_client, order_payload, "key-1")
    second = _post(api_client, order_payload, "key-1")
    assert first.status_code == second.status_code == 201
    assert second.content == first.content
    assert second["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first
    assert Order.objects.count() == 1


def test_replayed_create_names_the_order_in_location(api_client, order_payload):
    first = _post(api_client, order_payload, "key-1")
    second = _post(api_client, order_payload, "key-1")
    assert second["Idempotent-Replayed"] == "true"
    assert second["Location"] == first["Location"] == f"/api/v1/orders/{first.json()['number']}/"


def test_replay_ignores_json_formatting_of_the_same_body(api_client, order_payload):
    import json

    _post(api_client, order_payload, "key-1")
    reformatted = json.dumps(order_payload, indent=2, sort_keys=True)
    response = api_client.post(
        URL, reformatted, content_type="application/json", headers={"Idempotency-Key": "key-1"}
    )
    assert response.status_code == 201
    assert response["Idempotent-Replayed"] == "true"


def test_same_key_with_different_body_is_422(api_client, order_payload):
    _post(api_client, order_payload, "key-1")
    order_payload["lines"][0]["quantity"] = 5
    response = _post(api_client, order_payload, "key-1")
    assert response.status_code == 422
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "idempotency_key_reused"
    assert Order.objects.count() == 1


def test_same_key_on_another_endpoint_is_422(api_client, order_payload):
    number = _post(api_client, order_payload, "key-1").json()["number"]
    response = api_client.post(
        f"{URL}{number}/cancel/", {}, format="json", headers={"Idempotency-Key": "key-1"}
    )
    assert response.status_code == 422
    assert Order.objects.get().status != "cancelled"


def test_keys_are_per_api_key(api_client, other_api_client, order_payload):
    assert _post(api_client, order_payload, "shared").status_code == 201
    response = _post(other_api_client, order_payload, "shared")
    assert response.status_code == 201
    assert "Idempotent-Replayed" not in response


@contextmanager
def _request_in_flight(api_key, key):
    """Another database session holds `key` as a running request does (inside an open
    transaction, with the claim idempotency_claim takes) until the block ends, when
    its connection closes as a killed worker's would."""
    from django.db import connection

    other = connection.get_new_connection(connection.get_connection_params())
    try:
        other.execute("BEGIN")
        other.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [f"{api_key.pk}:{key}"]
        )
        yield
    finally:
        other.close()


def test_key_in_flight_is_409(api_client, api_key, order_payload):
    with _request_in_flight(api_key[0], "busy"):
        response = _post(api_client, order_payload, "busy")
    assert response.status_code == 409
    assert response.json()["code"] == "idempotency_key_in_use"
    assert not Order.objects.exists()
    assert not IdempotencyRecord.objects.exists()


def test_key_of_a_request_that_died_is_free_at_once(api_client, api_key, order_payload):
    with _request_in_flight(api_key[0], "crashed"):
        pass
    response = _post(api_client, order_payload, "crashed")
    assert response.status_code == 201
    record = IdempotencyRecord.objects.get(key="crashed")
    assert record.response_status == 201
    assert record.response_body == response.content.decode()


def test_key_in_flight_for_another_api_key_does_not_block(
    api_client, other_api_client, api_key, order_payload
):
    with _request_in_flight(api_key[0], "shared"):
        response = _post(other_api_client, order_payload, "shared")
    assert response.status_code == 201


def test_validation_failure_is_not_stored_so_the_key_can_be_retried(api_client, order_payload):
    order_payload["currency"] = "NOPE"
    assert _post(api_client, order_payload, "key-1").status_code == 422
    assert not IdempotencyRecord.objects.exists()
    order_payload["currency"] = "EUR"
    assert _post(api_client, order_payload, "key-1").status_code == 201


def test_duplicate_external_reference_409_is_replayed(api_client, order_payload):
    _post(api_client, order_payload, "key-1")
    conflict = _post(api_client, order_payload, "key-2")
    again = _post(api_client, order_payload, "key-2")
    assert conflict.status_code == again.status_code == 409
    assert again.content == conflict.content
    assert again["Idempotent-Replayed"] == "true"


def test_server_error_releases_the_key(api_client, order_payload, monkeypatch):
    def boom(**kwargs):
        raise RuntimeError("allocation crashed")

    monkeypatch.setattr("orders.services.intake.order_fulfil", boom)
    api_client.raise_request_exception = False
    assert _post(api_client, order_payload, "key-1").status_code == 500
    assert not IdempotencyRecord.objects.exists()
    monkeypatch.undo()
    assert _post(api_client, order_payload, "key-1").status_code == 201


@pytest.mark.parametrize("key", ["", "with space", "x" * 256, "ünïcode"])
def test_malformed_key_is_400(api_client, order_payload, key):
    response = api_client.post(
        URL,
        order_payload,
        format="json",
        headers={"Idempotency-Key": key.encode().decode("latin-1")},
    )
    assert response.status_code == 400
    assert response.json()["code"] == "idempotency_key_invalid"
    assert not Order.objects.exists()


def test_purge_deletes_records_older_than_retention(api_client, order_payload):
    _post(api_client, order_payload, "old")
    order_payload["external_reference"] = "SHOP-1002"
    _post(api_client, order_payload, "new")
    IdempotencyRecord.objects.filter(key="old").update(
        created_at=timezone.now() - timedelta(hours=25)
    )
    assert idempotency_records_purge_task() == 1
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["new"]


def test_purge_never_keeps_less_than_24_hours(api_client, order_payload, settings):
    settings.IDEMPOTENCY_KEY_TTL_HOURS = 1
    _post(api_client, order_payload, "recent")
    IdempotencyRecord.objects.update(created_at=timezone.now() - timedelta(hours=23))
    assert idempotency_records_purge() == 0
