"""Issue 16, item 5: poison webhooks are refused at the door or parked, never retried forever.

A signed body of 5,000 `[` used to be stored, then raised RecursionError in every
processing attempt while the row stayed `pending`.
"""

import json

import pytest
from django.utils import timezone

from backoffice.selectors import exception_queue
from core.json_input import MAX_JSON_DEPTH
from logistics.models import InboundWebhook, TrackingEvent
from logistics.services import tracking
from logistics.tasks import tracking_process_webhook_task
from tests.logistics.factories import ShipmentFactory
from tests.logistics.helpers import sandbox_provider, signed_post, tracking_payload

pytestmark = pytest.mark.django_db


@pytest.fixture
def provider():
    return sandbox_provider()


@pytest.fixture
def payload(provider):
    shipment = ShipmentFactory(provider=provider, provider_reference="sbx_9", status="dispatched")
    return tracking_payload(shipment=shipment, status="IN_TRANSIT", at=timezone.now())


def _nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


@pytest.mark.parametrize(
    "body",
    [
        _nested(5000),
        b"[" * 5000,  # not even closed: a parser would still recurse into every one
        json.dumps({"data": {"event": json.loads(_nested(MAX_JSON_DEPTH - 1))}}).encode(),
    ],
    ids=["5000-levels", "5000-open", "one-past-the-limit"],
)
def test_deeply_nested_signed_webhook_is_refused_and_nothing_stored(client, provider, body):
    response = signed_post(client, provider=provider, payload=body)
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert "nests deeper than" in response.json()["detail"]
    assert not InboundWebhook.objects.exists()


def test_nesting_up_to_the_limit_is_accepted(client, provider, payload):
    payload["data"]["event"]["extra"] = json.loads(_nested(MAX_JSON_DEPTH - 3))
    response = signed_post(client, provider=provider, payload=payload)
    assert response.status_code == 202


@pytest.mark.parametrize(
    "text", ["left at\u0000door", "\ud800 lone surrogate"], ids=["nul", "surrogate"]
)
def test_signed_webhook_with_text_postgres_cannot_store_is_refused(client, provider, payload, text):
    payload["data"]["event"]["description"] = text
    response = signed_post(client, provider=provider, payload=json.dumps(payload).encode())
    assert response.status_code == 400
    assert "data.event.description" in response.json()["detail"]
    assert not InboundWebhook.objects.exists()


def test_raw_nul_byte_in_a_signed_webhook_is_refused(client, provider):
    response = signed_post(client, provider=provider, payload=b'{"type": "x\x00"}')
    assert response.status_code == 400
    assert not InboundWebhook.objects.exists()


def test_surrogate_pair_escapes_are_fine(client, provider, payload):
    payload["data"]["event"]["description"] = "\U0001f4e6 at the door"  # ensure_ascii: \ud83d\udce6
    response = signed_post(client, provider=provider, payload=payload)
    assert response.status_code == 202


def test_deeply_nested_row_stored_earlier_is_processed_not_crashed(provider):
    row = InboundWebhook.objects.create(
        provider=provider, webhook_id="old-deep", body=_nested(5000).decode()
    )
    assert tracking.inbound_webhook_process(inbound_id=row.pk) == "processed"
    assert not TrackingEvent.objects.exists()


@pytest.fixture
def poison(provider, monkeypatch, settings):
    """A stored webhook whose processing fails every time (as RecursionError did)."""
    settings.TRACKING_WEBHOOK_MAX_ATTEMPTS = 3
    real = tracking.adapter_for

    class Poisoned:
        def __init__(self, provider):
            self.inner = real(provider)

        def parse_webhook(self, body):
            if b"poison" in body:
                raise RecursionError("maximum recursion depth exceeded")
            return self.inner.parse_webhook(body)

    monkeypatch.setattr(tracking, "adapter_for", Poisoned)
    return InboundWebhook.objects.create(
        provider=provider, webhook_id="poison-1", body='{"type": "poison"}'
    )


def test_webhook_that_keeps_failing_is_parked_after_the_last_attempt(
    poison, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as retries:
        for _ in range(5):
            tracking._process_alone(inbound_id=poison.pk)
    poison.refresh_from_db()
    assert poison.status == InboundWebhook.Status.FAILED
    assert poison.attempts == 3  # then no more: processing skips a parked row
    assert "RecursionError" in poison.error
    assert len(retries) == 2  # a retry after the first two failures, none after parking


def test_retry_task_parks_instead_of_retrying(poison):
    InboundWebhook.objects.filter(pk=poison.pk).update(attempts=2)
    result = tracking_process_webhook_task.apply(kwargs={"inbound_id": poison.pk})
    assert result.get() == "failed"
    assert InboundWebhook.objects.get(pk=poison.pk).status == InboundWebhook.Status.FAILED


def test_parked_webhook_shows_in_the_exception_queue_and_is_not_swept(poison, settings):
    InboundWebhook.objects.filter(pk=poison.pk).update(attempts=2)
    tracking._process_alone(inbound_id=poison.pk)
    settings.LOGISTICS_ACK_TIMEOUT_SECONDS = 0
    assert tracking.tracking_sweep() == []
    section = exception_queue(kind="webhook_failed")["webhook_failed"]
    assert section["count"] == 1
    (item,) = section["items"]
    assert "poison-1" in item.subject
    assert "RecursionError" in item.detail
    assert item.provider == poison.provider.code


def test_exception_queue_page_lists_parked_webhooks(client, manager, poison):
    InboundWebhook.objects.filter(pk=poison.pk).update(attempts=2)
    tracking._process_alone(inbound_id=poison.pk)
    client.force_login(manager)
    page = client.get("/ops/exceptions/").content.decode()
    assert 'id="q-webhook_failed"' in page
    assert "poison-1" in page


def test_parked_webhook_can_be_processed_again_once_fixed(
    poison, monkeypatch, django_capture_on_commit_callbacks
):
    InboundWebhook.objects.filter(pk=poison.pk).update(attempts=2)
    tracking._process_alone(inbound_id=poison.pk)
    monkeypatch.undo()  # the cause is fixed
    with django_capture_on_commit_callbacks() as drains:
        assert tracking.inbound_webhooks_retry(inbound_ids=[poison.pk]) == 1
    assert len(drains) == 1
    poison.refresh_from_db()
    assert (poison.status, poison.attempts, poison.error) == ("pending", 0, "")
    assert tracking.inbound_webhooks_drain() == 1
    assert InboundWebhook.objects.get(pk=poison.pk).status == "processed"


def test_admin_action_requeues_parked_webhooks(client, superuser, poison):
    InboundWebhook.objects.filter(pk=poison.pk).update(status="failed", attempts=3)
    client.force_login(superuser)
    response = client.post(
        "/admin/logistics/inboundwebhook/",
        {"action": "process_again", "_selected_action": [poison.pk]},
        follow=True,
    )
    assert "1 parked webhook(s) queued" in response.content.decode()
    assert InboundWebhook.objects.get(pk=poison.pk).status == "pending"
