"""The one door every partner-visible event leaves by: a topic, its data, the channel.

Callers (order intake and edits, shipments, returns, inbound receipts, stock) publish
inside the transaction that made the change; the deliveries are stored in that
transaction and sent after commit, signed (logistics.services.partner_webhooks).

Until webhook endpoints by topic exist (issue 18, item 5), an event about an order
goes to the channel's one webhook URL, as before; an event without an order is
not sent anywhere yet.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.utils import timezone

from logistics.models import PartnerWebhookDelivery
from logistics.services.partner_webhooks import (
    PartnerWebhookMessage,
    partner_webhooks_enqueue_many,
)
from logistics.webhook_topics import Topic


@dataclass(frozen=True)
class PartnerEvent:
    """One thing a channel may hear about; `data` is a snapshot of the moment it happened."""

    channel_id: int
    topic: Topic | str
    data: dict[str, Any]
    order_id: int | None = None


def envelope(*, topic: str, data: dict[str, Any]) -> dict[str, Any]:
    """The body every delivery carries: {type, timestamp, data}."""
    return {"type": topic, "timestamp": timezone.now().isoformat(), "data": data}


def partner_events_publish_many(*, events: Sequence[PartnerEvent]) -> int:
    """Queue each event to its channel's subscribers, in list order, with one INSERT.

    Call inside the transaction that made the change; sent after commit. Returns how
    many deliveries were queued.
    """
    by_order = [event for event in events if event.order_id is not None]
    if not by_order:
        return 0
    channel_model = PartnerWebhookDelivery._meta.get_field("channel").related_model
    channels: dict[int, Any] = {
        channel.pk: channel
        for channel in channel_model._default_manager.only("webhook_url", "webhook_secret").filter(
            pk__in={event.channel_id for event in by_order}
        )
    }
    messages = []
    for event in by_order:
        channel = channels.get(event.channel_id)
        if channel is None or not (channel.webhook_url and channel.webhook_secret):
            continue
        messages.append(
            PartnerWebhookMessage(
                channel_id=event.channel_id,
                order_id=event.order_id or 0,
                event=str(event.topic),
                url=channel.webhook_url,
                payload=envelope(topic=str(event.topic), data=event.data),
            )
        )
    partner_webhooks_enqueue_many(messages=messages)
    return len(messages)


def partner_event_publish(
    *, channel_id: int, topic: Topic | str, data: dict[str, Any], order_id: int | None = None
) -> int:
    """Queue one event to the channel's subscribers; returns how many deliveries."""
    return partner_events_publish_many(
        events=[PartnerEvent(channel_id=channel_id, topic=topic, data=data, order_id=order_id)]
    )
