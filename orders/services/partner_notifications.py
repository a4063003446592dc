"""What the channel (partner) hears about its orders, and when.

The services that cause a partner-visible change call these explicitly: the order
cancel (orders.services.cancellation), shipment progress (orders.services.progress:
shipped, delivered, tracking exceptions) and the return receipt (returns.services).
The payload is built here, a snapshot of the moment of the change; logistics stores
the delivery and sends it, signed, after commit (logistics.services.partner_webhooks).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.utils import timezone

from logistics.models import PartnerWebhookDelivery, Shipment
from logistics.services import partner_webhooks
from logistics.services.partner_webhooks import PartnerWebhookMessage
from orders.models import Order

Event = PartnerWebhookDelivery.Event


def partner_wants_webhooks(*, order: Order) -> bool:
    """True when the order's channel has a webhook endpoint and a secret to sign with."""
    return bool(order.channel.webhook_url and order.channel.webhook_secret)


def order_payload(
    *,
    order: Order,
    event: str,
    extra: dict[str, Any] | None = None,
    shipments: Sequence[Shipment] | None = None,
) -> dict[str, Any]:
    """The notification body; `shipments` (the order's, in pk order) saves the query."""
    if shipments is None:
        shipments = list(order.shipments.select_related("provider").order_by("pk"))
    return {
        "type": event,
        "timestamp": timezone.now().isoformat(),
        "data": {
            "number": order.number,
            "external_reference": order.external_reference,
            "status": order.status,
            "shipments": [
                {
                    "id": s.pk,
                    "status": s.status,
                    "direction": s.direction,
                    "tracking_number": s.tracking_number,
                    "tracking_url": s.tracking_url,
                }
                for s in shipments
            ],
            **(extra or {}),
        },
    }


def partner_notification_build(
    *,
    order: Order,
    event: str,
    extra: dict[str, Any] | None = None,
    shipments: Sequence[Shipment] | None = None,
) -> PartnerWebhookMessage | None:
    """The notification `order_notify` would queue, unsent (None: the channel has no endpoint).

    Batch writers build notifications as things happen (the payload is a snapshot of
    that moment) and queue them together with `order_notifications_send`.
    """
    if not partner_wants_webhooks(order=order):
        return None
    return PartnerWebhookMessage(
        channel_id=order.channel_id,
        order_id=order.pk,
        event=event,
        url=order.channel.webhook_url,
        payload=order_payload(order=order, event=event, extra=extra, shipments=shipments),
    )


def order_notify(
    *, order: Order, event: str, extra: dict[str, Any] | None = None
) -> PartnerWebhookDelivery | None:
    """Queue one signed notification about the order to its channel; sent after commit.

    Call inside the transaction that made the change. Returns the queued delivery, or
    None when the channel has no webhook endpoint configured.
    """
    message = partner_notification_build(order=order, event=event, extra=extra)
    if message is None:
        return None
    return partner_webhooks.partner_webhook_enqueue(message=message)


def order_notifications_send(*, messages: Sequence[PartnerWebhookMessage]) -> None:
    """Queue notifications built with `partner_notification_build`: one INSERT, sent after commit."""
    partner_webhooks.partner_webhooks_enqueue_many(messages=messages)
