"""Outbound partner webhooks: signed like inbound ones, retried with backoff, logged."""

import json

import httpx
import pytest

from logistics import webhook_signing
from logistics.models import PartnerWebhookDelivery
from logistics.services import partner_webhooks
from orders.services import partner_notifications
from orders.services.cancellation import order_cancel
from tests.logistics.factories import channel_with_webhooks
from tests.orders.factories import OrderFactory

pytestmark = pytest.mark.django_db
SECRET = "whsec_cGFydG5lci1zZWNyZXQ="


@pytest.fixture
def order():
    channel = channel_with_webhooks(secret=SECRET)
    return OrderFactory(channel=channel, status="shipped")


def _client(status, seen):
    def handler(request: httpx.Request):
        seen.append(request)
        return httpx.Response(status)

    return httpx.Client(transport=httpx.MockTransport(handler))


def test_delivery_is_signed_with_the_channel_secret(order):
    delivery = partner_notifications.order_notify(order=order, event="order.shipped")
    seen = []
    assert (
        partner_webhooks.partner_webhook_send(delivery_id=delivery.pk, client=_client(200, seen))
        is None
    )
    (request,) = seen
    assert webhook_signing.verify(secret=SECRET, headers=request.headers, body=request.content)
    assert request.headers["webhook-id"] == delivery.webhook_id
    assert json.loads(request.content)["data"]["number"] == order.number
    delivery.refresh_from_db()
    assert delivery.status == PartnerWebhookDelivery.Status.DELIVERED


def test_failed_delivery_is_retried_with_the_same_id(order):
    delivery = partner_notifications.order_notify(order=order, event="order.shipped")
    seen = []
    retry_in = partner_webhooks.partner_webhook_send(
        delivery_id=delivery.pk, client=_client(500, seen)
    )
    partner_webhooks.partner_webhook_send(delivery_id=delivery.pk, client=_client(200, seen))
    delivery.refresh_from_db()
    assert retry_in > 0
    assert delivery.attempts == 2
    assert delivery.status == PartnerWebhookDelivery.Status.DELIVERED
    assert seen[0].headers["webhook-id"] == seen[1].headers["webhook-id"]


def test_gives_up_after_max_attempts(order, settings):
    settings.PARTNER_WEBHOOK_MAX_ATTEMPTS = 2
    delivery = partner_notifications.order_notify(order=order, event="order.shipped")
    for _ in range(2):
        partner_webhooks.partner_webhook_send(delivery_id=delivery.pk, client=_client(503, []))
    delivery.refresh_from_db()
    assert delivery.status == PartnerWebhookDelivery.Status.FAILED
    assert delivery.last_status_code == 503


def test_channel_without_endpoint_gets_nothing():
    order = OrderFactory()
    assert partner_notifications.order_notify(order=order, event="order.shipped") is None


def test_cancelling_an_order_notifies_the_channel():
    channel = channel_with_webhooks(secret=SECRET)
    order = OrderFactory(channel=channel, status="allocated")
    order_cancel(order=order, reason="customer asked")
    # order.status_changed goes with it; this is about the cancel notification.
    assert PartnerWebhookDelivery.objects.filter(order=order, event="order.cancelled").exists()
