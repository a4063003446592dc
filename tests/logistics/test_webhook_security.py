"""POST /webhooks/lsp/<code>/: only authentic, fresh, first deliveries get processed."""

import datetime as dt
import json
import time

import pytest
from django.utils import timezone

from logistics.models import InboundWebhook, TrackingEvent
from tests.logistics.factories import ProviderFactory, ShipmentFactory
from tests.logistics.helpers import sandbox_provider, signed_post, tracking_payload

pytestmark = pytest.mark.django_db


@pytest.fixture
def provider():
    return sandbox_provider()


@pytest.fixture
def shipment(provider):
    return ShipmentFactory(provider=provider, provider_reference="sbx_1", status="dispatched")


@pytest.fixture
def payload(shipment):
    return tracking_payload(shipment=shipment, status="IN_TRANSIT", at=timezone.now())


def _nothing_stored():
    return InboundWebhook.objects.count() == 0 and TrackingEvent.objects.count() == 0


def test_signed_webhook_is_stored_and_processed(
    client, provider, payload, eager_celery, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = signed_post(client, provider=provider, payload=payload)
    assert response.status_code == 202
    row = InboundWebhook.objects.get()
    assert json.loads(row.body) == payload
    assert row.status == InboundWebhook.Status.PROCESSED
    assert TrackingEvent.objects.get().status == "in_transit"


def test_bad_signature_is_401_and_nothing_stored(client, provider, payload, caplog):
    response = signed_post(
        client, provider=provider, payload=payload, secret="whsec_c29tZXRoaW5nLWVsc2U="
    )
    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"
    assert _nothing_stored()
    assert "bad_signature" in caplog.text


def test_old_timestamp_is_401_and_nothing_stored(client, provider, payload):
    response = signed_post(
        client, provider=provider, payload=payload, timestamp=int(time.time()) - 301
    )
    assert response.status_code == 401
    assert response.json()["detail"] == "timestamp_outside_tolerance"
    assert _nothing_stored()


def test_future_timestamp_beyond_tolerance_is_401(client, provider, payload):
    response = signed_post(
        client, provider=provider, payload=payload, timestamp=int(time.time()) + 301
    )
    assert response.status_code == 401
    assert _nothing_stored()


def test_missing_signature_headers_is_401(client, provider, payload):
    response = client.post(
        f"/webhooks/lsp/{provider.code}/", data=payload, content_type="application/json"
    )
    assert response.status_code == 401
    assert _nothing_stored()


def test_replayed_webhook_id_is_acknowledged_but_changes_nothing(
    client, provider, payload, eager_celery, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        first = signed_post(client, provider=provider, payload=payload, msg_id="msg_replay")
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        again = signed_post(client, provider=provider, payload=payload, msg_id="msg_replay")
    assert first.status_code == 202
    assert again.status_code == 200
    assert again.json() == {"status": "duplicate"}
    assert callbacks == []
    assert InboundWebhook.objects.count() == 1
    assert TrackingEvent.objects.count() == 1


def test_webhook_signed_with_another_providers_secret_is_401(client, provider, payload):
    other = ProviderFactory(code="other-lsp", webhook_secret="whsec_b3RoZXItc2VjcmV0")
    response = signed_post(client, provider=other, payload=payload, secret=provider.webhook_secret)
    assert response.status_code == 401
    assert _nothing_stored()


def test_unknown_provider_code_is_404(client, provider, payload):
    provider.code = "nobody"
    response = signed_post(client, provider=provider, payload=payload)
    assert response.status_code == 404
    assert _nothing_stored()


def test_inactive_provider_is_404(client, provider, payload):
    provider.is_active = False
    provider.save()
    response = signed_post(client, provider=provider, payload=payload)
    assert response.status_code == 404
    assert _nothing_stored()


def test_oversize_body_is_413_and_nothing_stored(client, provider, payload, settings):
    settings.LSP_WEBHOOK_MAX_BYTES = 1024
    payload["data"]["event"]["description"] = "x" * 2000
    response = signed_post(client, provider=provider, payload=payload)
    assert response.status_code == 413
    assert _nothing_stored()


def test_get_is_not_allowed(client, provider):
    assert client.get(f"/webhooks/lsp/{provider.code}/").status_code == 405


def test_same_event_in_a_new_delivery_is_stored_once(
    client, provider, shipment, eager_celery, django_capture_on_commit_callbacks
):
    at = timezone.now() - dt.timedelta(minutes=1)
    payload = tracking_payload(shipment=shipment, status="IN_TRANSIT", at=at, event_id="evt-9")
    with django_capture_on_commit_callbacks(execute=True):
        assert signed_post(client, provider=provider, payload=payload).status_code == 202
        assert signed_post(client, provider=provider, payload=payload).status_code == 202
    assert InboundWebhook.objects.count() == 2
    assert TrackingEvent.objects.count() == 1


def test_rotated_secret_applies_at_once(client, provider, payload):
    old_secret = provider.webhook_secret
    assert signed_post(client, provider=provider, payload=payload).status_code == 202
    provider.webhook_secret = "whsec_bmV3LXNlY3JldA=="
    provider.save()
    response = signed_post(client, provider=provider, payload=payload, secret=old_secret)
    assert response.status_code == 401
