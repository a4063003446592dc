"""Read-side queries of the orders domain (partner API and back office)."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet, prefetch_related_objects

from core.errors import NotFound
from inventory.models import Allocation
from logistics.models import Shipment, ShipmentLine, TrackingEvent
from orders import error_codes
from orders.models import Channel, Order, OrderLine


def orders_for_channel(*, channel: Channel) -> QuerySet[Order]:
    """The channel's orders with what a list page shows (lines), in a constant number of queries."""
    return (
        Order.objects.filter(channel=channel)
        .select_related("channel", "service_level__provider")
        .prefetch_related(Prefetch("lines", queryset=OrderLine.objects.order_by("line_number")))
    )


def shipments_for_order_qs() -> QuerySet[Shipment]:
    return (
        Shipment.objects.select_related("provider", "warehouse", "service_level__provider")
        .prefetch_related(
            Prefetch("lines", queryset=ShipmentLine.objects.select_related("order_line")),
            "parcels",
            Prefetch(
                "tracking_events", queryset=TrackingEvent.objects.order_by("occurred_at", "id")
            ),
        )
        .order_by("id")
    )


def _detail_prefetches() -> list[Prefetch | str]:
    # Flat lookups (not querysets nesting their own prefetches) so that relations a
    # service has already filled (order intake: lines and shipments) are not read
    # again while the ones below them still are.
    return [
        Prefetch("lines", queryset=OrderLine.objects.order_by("line_number")),
        Prefetch(
            "lines__allocations",
            queryset=Allocation.objects.select_related("warehouse").order_by("id"),
        ),
        Prefetch(
            "shipments",
            queryset=Shipment.objects.select_related(
                "provider", "warehouse", "service_level__provider"
            ).order_by("id"),
        ),
        Prefetch("shipments__lines", queryset=ShipmentLine.objects.select_related("order_line")),
        "shipments__parcels",
        Prefetch(
            "shipments__tracking_events",
            queryset=TrackingEvent.objects.order_by("occurred_at", "id"),
        ),
    ]


def order_with_details(*, order: Order) -> Order:
    """The order instance just written, with what the detail view shows.

    Skips re-reading the order row and its channel and service level (the
    caller has them) and relations the writing service already filled (see
    core.models.related_objects_set: intake's lines and shipments); re-reads the
    status, which fulfilment may have moved.
    """
    order.refresh_from_db(fields=["status", "updated_at", "cancelled_at"])
    prefetch_related_objects([order], *_detail_prefetches())
    return order


def order_get_for_channel(*, channel: Channel, number: str) -> Order:
    """One order of the channel with lines, allocations, shipments and tracking.

    Raises NotFound for an unknown number and for another channel's order alike,
    so a partner learns nothing about orders that are not theirs.
    """
    order = (
        Order.objects.filter(channel=channel, number=number)
        .select_related("channel", "service_level__provider")
        .prefetch_related(*_detail_prefetches())
        .first()
    )
    if order is None:
        raise NotFound(f"No order {number} in this channel.", code=error_codes.ORDER_NOT_FOUND)
    return order


def order_lookup_for_channel(*, channel: Channel, number: str) -> Order:
    """The bare order row (for writes), or NotFound."""
    order = Order.objects.filter(channel=channel, number=number).first()
    if order is None:
        raise NotFound(f"No order {number} in this channel.", code=error_codes.ORDER_NOT_FOUND)
    return order


def shipments_for_order(*, order: Order) -> QuerySet[Shipment]:
    return shipments_for_order_qs().filter(order=order)
