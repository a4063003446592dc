"""What the channel (partner) hears about its orders and shipments, and when.

The services that cause a partner-visible change call these explicitly: order intake
(order.created), the status machine (order.status_changed, orders.transitions), the
order cancel (orders.services.cancellation), shipment planning (shipment.created),
shipment progress (orders.services.progress: shipped, delivered, tracking exceptions,
shipment.tracking_updated) and returns (return.created, return.received).
The payload is built here, a snapshot of the moment of the change; every event leaves
through logistics' one door (logistics.services.partner_events), which stores the
deliveries in the caller's transaction and sends them, signed, after commit.

`partner_events_held` lets a writer that makes several changes in one transaction
(order intake) gather the events its callees emit and publish them together, in one
call, after deciding which of them a partner needs.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from logistics.models import PartnerWebhookDelivery, Shipment
from logistics.services.partner_events import (
    PartnerEvent,
    partner_event_publish,
    partner_events_publish_many,
)
from logistics.webhook_topics import Topic
from orders.models import Order
from orders.sql import orders_detail_json_by_ids

if TYPE_CHECKING:
    from logistics.models import TrackingEvent

Event = Topic

# The events emitted while a writer holds them (see partner_events_held); None: publish.
_held: ContextVar[list[PartnerEvent] | None] = ContextVar("partner_events_held", default=None)


@contextmanager
def partner_events_held() -> Iterator[list[PartnerEvent]]:
    """Hold the events `order_notifications_send` is given inside the block, in emission order.

    The holder publishes them itself (with `order_notifications_send`, inside its
    transaction), after keeping the ones a partner needs. On an exception the held
    events are dropped: what they describe is rolled back. Nested holders each hold
    their own block's events.
    """
    held: list[PartnerEvent] = []
    token = _held.set(held)
    try:
        yield held
    finally:
        _held.reset(token)


def order_notifications_send(*, messages: Sequence[PartnerEvent]) -> None:
    """Publish the events (one call for all), or hand them to the enclosing holder."""
    if not messages:
        return
    held = _held.get()
    if held is not None:
        held.extend(messages)
        return
    partner_events_publish_many(events=messages)


def orders_created_publish(*, orders: Sequence[Order], held: Sequence[PartnerEvent]) -> None:
    """order.created for each new order, then what was held while they were created.

    `data` is each order as `GET /api/v1/orders/{number}/` shows it now, all rendered
    in one statement; each order keeps its rendering in `detail_json` for the answer
    (orders.selectors.order_detail_json), so the caller's response costs no statement.
    The status moves the new orders made while they were created (received →
    allocated → in_fulfilment) are not order.status_changed events: order.created
    already carries the status they led to. Their shipment.created (and anything else
    held) follow, in emission order. One publish for all of it.
    """
    if not orders:
        return
    rendered = orders_detail_json_by_ids(order_ids=[order.pk for order in orders])
    created = []
    for order in orders:
        order.detail_json = rendered[order.pk]
        created.append(
            PartnerEvent(
                channel_id=order.channel_id,
                topic=Topic.ORDER_CREATED,
                data=json.loads(order.detail_json),
                order_id=order.pk,
            )
        )
    new = {order.pk for order in orders}
    order_notifications_send(
        messages=[
            *created,
            *(
                event
                for event in held
                if not (event.topic == Topic.ORDER_STATUS_CHANGED and event.order_id in new)
            ),
        ]
    )


def order_data(
    *,
    order: Order,
    extra: dict[str, Any] | None = None,
    shipments: Sequence[Shipment] | None = None,
) -> dict[str, Any]:
    """The order's `data` of the order.* topics; `shipments` (the order's, in pk order)
    saves the query."""
    if shipments is None:
        shipments = list(order.shipments.select_related("provider").order_by("pk"))
    return {
        "number": order.number,
        "external_reference": order.external_reference,
        "status": order.status,
        "ship_by": _iso(order.ship_by),
        "promised_delivery_date": _iso(order.promised_delivery_date),
        "shipments": [
            {
                "id": s.pk,
                "status": s.status,
                "direction": s.direction,
                "tracking_number": s.tracking_number,
                "tracking_url": s.tracking_url,
                "ship_by": _iso(s.ship_by),
                "promised_delivery_date": _iso(s.promised_delivery_date),
            }
            for s in shipments
        ],
        **(extra or {}),
    }


def partner_notification_build(
    *,
    order: Order,
    event: str,
    extra: dict[str, Any] | None = None,
    shipments: Sequence[Shipment] | None = None,
) -> PartnerEvent:
    """The order.* event `order_notify` would publish, unsent.

    Batch writers build events as things happen (the payload is a snapshot of that
    moment) and publish them together with `order_notifications_send`.
    """
    return PartnerEvent(
        channel_id=order.channel_id,
        topic=event,
        data=order_data(order=order, extra=extra, shipments=shipments),
        order_id=order.pk,
    )


def order_notify(
    *, order: Order, event: str, extra: dict[str, Any] | None = None
) -> PartnerWebhookDelivery | None:
    """Publish one order.* event about the order to its channel; sent after commit.

    Call inside the transaction that made the change (it is published at once, never
    held). Returns the last delivery it queued, or None when nobody on the channel
    listens to the topic.
    """
    queued = partner_event_publish(
        channel_id=order.channel_id,
        topic=event,
        data=order_data(order=order, extra=extra),
        order_id=order.pk,
    )
    if not queued:
        return None
    return (
        PartnerWebhookDelivery.objects.filter(order_id=order.pk, event=str(event))
        .order_by("-pk")
        .first()
    )


def status_changed_event_build(*, order: Order, previous_status: str) -> PartnerEvent:
    """order.status_changed: the order as it is now, with the status it left."""
    return PartnerEvent(
        channel_id=order.channel_id,
        topic=Topic.ORDER_STATUS_CHANGED,
        data={
            "number": order.number,
            "external_reference": order.external_reference,
            "status": order.status,
            "previous_status": previous_status,
            "changed_at": order.updated_at.isoformat(),
        },
        order_id=order.pk,
    )


def shipment_data(*, order: Order, shipment: Shipment) -> dict[str, Any]:
    """The `data` of the shipment.* topics: the order it belongs to and the shipment.

    Reads nothing when the shipment's provider is loaded (planning and tracking have it).
    """
    return {
        "number": order.number,
        "external_reference": order.external_reference,
        "shipment": {
            "id": shipment.pk,
            "status": shipment.status,
            "direction": shipment.direction,
            "provider": shipment.provider.code if shipment.provider_id else None,
            "tracking_number": shipment.tracking_number,
            "tracking_url": shipment.tracking_url,
            "ship_by": _iso(shipment.ship_by),
            "promised_delivery_date": _iso(shipment.promised_delivery_date),
        },
    }


def _iso(day: datetime.date | None) -> str | None:
    return None if day is None else day.isoformat()


def shipment_created_event_build(*, order: Order, shipment: Shipment) -> PartnerEvent:
    return PartnerEvent(
        channel_id=order.channel_id,
        topic=Topic.SHIPMENT_CREATED,
        data=shipment_data(order=order, shipment=shipment),
        order_id=order.pk,
    )


def shipment_tracked_event_build(
    *, order: Order, shipment: Shipment, tracking_event: TrackingEvent
) -> PartnerEvent:
    """shipment.tracking_updated: a new tracking event was stored for the shipment."""
    return PartnerEvent(
        channel_id=order.channel_id,
        topic=Topic.SHIPMENT_TRACKING_UPDATED,
        data={
            **shipment_data(order=order, shipment=shipment),
            "tracking_event": {
                "status": tracking_event.status,
                "provider_status": tracking_event.provider_status,
                "description": tracking_event.description,
                "location": tracking_event.location,
                "occurred_at": tracking_event.occurred_at.isoformat(),
            },
        },
        order_id=order.pk,
    )
