"""Real concurrent HTTP clients against gunicorn on Postgres: no duplicate orders."""

import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from orders.models import Order

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("api_world")]

CLIENTS = 50


def _fire(url: str, raw_key: str, payloads_and_keys: list[tuple[dict, str]]) -> list:
    """Send every request at the same moment (a barrier releases all threads at once)."""
    barrier = threading.Barrier(len(payloads_and_keys))

    def one(item):
        payload, key = item
        with httpx.Client(timeout=60) as client:
            barrier.wait()
            return client.post(
                url,
                json=payload,
                headers={"Authorization": f"Bearer {raw_key}", "Idempotency-Key": key},
            )

    with ThreadPoolExecutor(max_workers=len(payloads_and_keys)) as pool:
        return list(pool.map(one, payloads_and_keys))


@pytest.mark.django_db(transaction=True)
def test_50_simultaneous_posts_with_same_key_and_body_create_one_order(
    gunicorn_url, api_key, order_payload
):
    responses = _fire(
        f"{gunicorn_url}/api/v1/orders/", api_key[1], [(order_payload, "same-key")] * CLIENTS
    )

    assert Order.objects.count() == 1
    statuses = [r.status_code for r in responses]
    assert set(statuses) <= {201, 409}, statuses
    created = [r for r in responses if r.status_code == 201]
    originals = [r for r in created if r.headers.get("Idempotent-Replayed") != "true"]
    assert len(originals) == 1
    assert {r.content for r in created} == {originals[0].content}
    for conflict in (r for r in responses if r.status_code == 409):
        assert conflict.headers["Content-Type"] == "application/problem+json"
        assert conflict.json()["code"] == "idempotency_key_in_use"


@pytest.mark.django_db(transaction=True)
def test_50_simultaneous_posts_with_different_keys_and_same_reference_create_one_order(
    gunicorn_url, api_key, order_payload
):
    responses = _fire(
        f"{gunicorn_url}/api/v1/orders/",
        api_key[1],
        [(order_payload, f"key-{i}") for i in range(CLIENTS)],
    )

    assert Order.objects.count() == 1
    number = Order.objects.get().number
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [409] * (CLIENTS - 1), statuses
    for conflict in (r for r in responses if r.status_code == 409):
        assert conflict.json()["code"] == "duplicate_external_reference"
        assert conflict.json()["existing_order"] == number
