"""The one door every partner-visible event leaves by: a topic, its data, the channel.

Callers (order intake and edits, shipments, returns, inbound receipts, stock) publish
inside the transaction that made the change; the deliveries are stored in that
transaction and sent after commit, signed (logistics.services.partner_webhooks).

Fan-out: one delivery per (event × active endpoint of the event's channel subscribed
to its topic). A batch costs one prepared, indexed query for the endpoints of its channels
(`logistics.sql.webhook_subscribers`) and, when anyone is subscribed, one INSERT of the
deliveries, whatever the number of events: order intake publishes order.created for
every order, and a channel nobody subscribed costs just that one query.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.utils import timezone

from logistics import sql
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
    many deliveries were queued. All deliveries of one event share its body (and its
    `timestamp`); each has its own webhook-id.
    """
    if not events:
        return 0
    subscribers: dict[int, list[tuple[int, str, list[str]]]] = {}
    for endpoint_id, channel_id, url, topics in sql.webhook_subscribers(
        channel_ids=sorted({event.channel_id for event in events})
    ):
        subscribers.setdefault(channel_id, []).append((endpoint_id, url, topics))
    if not subscribers:
        return 0
    messages = []
    for event in events:
        topic = str(event.topic)
        payload: dict[str, Any] | None = None
        for endpoint_id, url, topics in subscribers.get(event.channel_id, ()):
            if topic not in topics:
                continue
            payload = payload or envelope(topic=topic, data=event.data)
            messages.append(
                PartnerWebhookMessage(
                    channel_id=event.channel_id,
                    endpoint_id=endpoint_id,
                    order_id=event.order_id,
                    event=topic,
                    url=url,
                    payload=payload,
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
