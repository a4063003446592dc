"""The one door every partner-visible event leaves by: a topic, its data, the channel.

Callers (order intake and edits, shipments, returns, inbound receipts, stock) publish
inside the transaction that made the change; the deliveries are stored in that
transaction and sent after commit, signed (logistics.services.partner_webhooks).

Until webhook endpoints by topic exist (issue 18, item 5), an event about an order
goes to the channel's one webhook URL, as before; an event without an order is
not sent anywhere yet.
"""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from logistics.models import PartnerWebhookDelivery
from logistics.services.partner_webhooks import PartnerWebhookMessage, partner_webhook_enqueue
from logistics.webhook_topics import Topic


def envelope(*, topic: str, data: dict[str, Any]) -> dict[str, Any]:
    """The body every delivery carries: {type, timestamp, data}."""
    return {"type": topic, "timestamp": timezone.now().isoformat(), "data": data}


def partner_event_publish(
    *, channel_id: int, topic: Topic | str, data: dict[str, Any], order_id: int | None = None
) -> int:
    """Queue `topic` with `data` to the channel's subscribers; returns how many deliveries."""
    if order_id is None:
        return 0
    channel_model = PartnerWebhookDelivery._meta.get_field("channel").related_model
    channel: Any = channel_model._default_manager.only("webhook_url", "webhook_secret").get(
        pk=channel_id
    )
    if not (channel.webhook_url and channel.webhook_secret):
        return 0
    partner_webhook_enqueue(
        message=PartnerWebhookMessage(
            channel_id=channel_id,
            order_id=order_id,
            event=str(topic),
            url=channel.webhook_url,
            payload=envelope(topic=str(topic), data=data),
        )
    )
    return 1
