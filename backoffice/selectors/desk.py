"""Customer-service desk reads: the search and the order page.

Each desk lookup is shaped so that Postgres can answer it from one of the
indexes declared on Order / Shipment / Parcel (see docs/backoffice.md for the
EXPLAIN of each); the search runs the applicable lookups as one UNION query.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import (
    IntegerField,
    OuterRef,
    Prefetch,
    Subquery,
    Sum,
)
from django.db.models.functions import Coalesce

from inventory.models import (
    Allocation,
)
from logistics.models import Shipment, TrackingEvent
from orders.models import Hold, Order, OrderEvent, OrderLine

RECENT_LIMIT = 20
MY_HOLDS_LIMIT = 50


def orders_recent(*, limit: int = RECENT_LIMIT) -> list[Order]:
    """The most recently placed orders, newest first: what the empty desk shows.

    One query, read from the end of the order_placed index.
    """
    return list(Order.objects.select_related("channel").order_by("-placed_at", "-id")[:limit])


def holds_active_placed_by(*, user, limit: int = MY_HOLDS_LIMIT) -> list[Hold]:
    """Holds `user` placed that are still active, newest first, with their orders.

    One query (index hold_active_placed_by); an anonymous user has none.
    """
    if not getattr(user, "is_authenticated", False):
        return []
    return list(
        Hold.objects.filter(placed_by=user, released_at__isnull=True)
        .select_related("order", "order__channel")
        .order_by("-created_at")[:limit]
    )


# --- Order page ---------------------------------------------------------------


@dataclass
class TimelineEntry:
    at: datetime
    source: str  # "order" or "tracking"
    title: str
    detail: str
    actor: str
    css: str = ""


def order_for_desk(*, number: str) -> Order:
    """The order with everything the order page shows, in a fixed number of queries.

    Raises Order.DoesNotExist.
    """
    allocated = (
        Allocation.objects.filter(order_line=OuterRef("pk"), status=Allocation.Status.ACTIVE)
        .values("order_line")
        .annotate(total=Sum("quantity"))
        .values("total")
    )
    lines = OrderLine.objects.annotate(
        quantity_allocated=Coalesce(Subquery(allocated, output_field=IntegerField()), 0)
    ).order_by("line_number")
    shipments = (
        Shipment.objects.select_related("provider", "service_level", "warehouse")
        .prefetch_related("parcels")
        .order_by("id")
    )
    holds = Hold.objects.select_related("placed_by", "owner", "released_by").order_by("-created_at")
    return (
        Order.objects.select_related("channel", "service_level__provider")
        .prefetch_related(
            Prefetch("lines", queryset=lines),
            Prefetch("shipments", queryset=shipments),
            Prefetch("holds", queryset=holds),
        )
        .get(number=number)
    )


def _hold_reason_label(p: dict[str, Any]) -> str:
    return Hold.Reason(p["reason"]).label if p.get("reason") in Hold.Reason.values else ""


def _joined(parts: list[str], separator: str = " — ") -> str:
    return separator.join(part for part in parts if part)


def _status_changed_detail(p: dict[str, Any]) -> str:
    text = f"{p.get('old_status', '?')} → {p.get('new_status', '?')}"
    return f"{text} ({p['reason']})" if p.get("reason") else text


def _hold_detail(p: dict[str, Any]) -> str:
    return _joined([_hold_reason_label(p), p.get("note", "")])


def _hold_assigned_detail(p: dict[str, Any]) -> str:
    owners = f"{p.get('previous_owner') or 'nobody'} → {p.get('owner') or 'nobody'}"
    return _joined([_hold_reason_label(p), owners])


def _address_changed_detail(p: dict[str, Any]) -> str:
    new = p.get("new", {})
    return ", ".join(
        str(new[key])
        for key in ("shipping_name", "shipping_line1", "shipping_city", "shipping_postcode")
        if new.get(key)
    )


def _parameters_detail(p: dict[str, Any]) -> str:
    return ", ".join(f"{key}: {value}" for key, value in p.items() if value not in ("", None, []))


# How the timeline words each event type's parameters; any other type lists them all.
_EVENT_DETAILS: dict[str, Callable[[dict[str, Any]], str]] = {
    OrderEvent.Type.STATUS_CHANGED: _status_changed_detail,
    OrderEvent.Type.HOLD_PLACED: _hold_detail,
    OrderEvent.Type.HOLD_RELEASED: _hold_detail,
    OrderEvent.Type.HOLD_ASSIGNED: _hold_assigned_detail,
    OrderEvent.Type.NOTE_ADDED: lambda p: p.get("text", ""),
    OrderEvent.Type.ADDRESS_CHANGED: _address_changed_detail,
    OrderEvent.Type.CANCELLED: lambda p: p.get("reason", ""),
}


def _event_detail(event: OrderEvent) -> str:
    return _EVENT_DETAILS.get(event.type, _parameters_detail)(event.parameters or {})


def order_timeline(*, order: Order, shipments: list[Shipment] | None = None) -> list[TimelineEntry]:
    """Order events and tracking events of the order's shipments, oldest first.

    Pass the order's already loaded shipments to save a join: the tracking
    events are then read by shipment id (one index lookup per shipment), and
    not at all when there is no shipment.
    """
    entries = [
        TimelineEntry(
            at=event.created_at,
            source="order",
            title=event.get_type_display(),
            detail=_event_detail(event),
            actor=event.actor,
            css=f"ev-{event.type}",
        )
        for event in OrderEvent.objects.filter(order=order).order_by("created_at", "id")
    ]
    if shipments is None:
        shipments = list(Shipment.objects.filter(order=order).select_related("provider"))
    by_id = {shipment.pk: shipment for shipment in shipments}
    tracking = (
        TrackingEvent.objects.filter(shipment_id__in=list(by_id)).order_by("occurred_at", "id")
        if by_id
        else []
    )
    entries.extend(
        TimelineEntry(
            at=event.occurred_at,
            source="tracking",
            title=f"Tracking: {event.get_status_display()}",
            detail=" — ".join(
                part
                for part in [
                    by_id[event.shipment_id].tracking_number,
                    event.description,
                    event.location,
                ]
                if part
            ),
            actor=by_id[event.shipment_id].provider.name,
            css=f"tr-{event.status}",
        )
        for event in tracking
    )
    entries.sort(key=lambda entry: entry.at)
    return entries
