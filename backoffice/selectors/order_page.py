"""The desk's order page: the order with everything it shows, its timeline (in words:
timeline_words.py) with the filter, and what to tell the customer."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import IntegerField, OuterRef, Prefetch, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from backoffice.selectors.ops import DEFAULT_TRANSIT_HOURS
from backoffice.selectors.timeline_words import EventDescriber
from inventory.models import Allocation
from logistics.models import Shipment, ShipmentStatusGroups, TrackingEvent
from orders.models import Hold, Order, OrderEvent, OrderLine

S = Order.Status
T = OrderEvent.Type

# The timeline filter (?timeline=<kind>): value → label, in the order the page shows them.
TIMELINE_KINDS = {
    "all": "All",
    "status": "Status",
    "shipments": "Shipments",
    "holds": "Holds",
    "notes": "Notes",
    "returns": "Returns",
}


@dataclass
class TimelineEntry:
    at: datetime
    source: str  # "order" or "tracking"
    title: str
    detail: str
    actor: str
    css: str = ""
    kind: str = "status"  # one of TIMELINE_KINDS but "all"
    code: str = ""  # the event type, a system note's kind, or the tracking status


@dataclass
class CustomerSummary:
    """What an agent tells the customer, and the delivery date to give."""

    state: str
    sentence: str
    expected_delivery: dt.date | None
    expected_text: str
    with_carrier_after_cancel: bool = False


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


def order_timeline(*, order: Order, shipments: list[Shipment] | None = None) -> list[TimelineEntry]:
    """Order events and tracking events of the order's shipments, oldest first, in words.

    Two queries at most whatever the number of events: the order events, and the
    tracking events of the order's shipments (read by shipment id, not at all when
    there is none). Pass the order's already loaded shipments to save a join.
    Each entry has a `kind` for the page's filter (`timeline_filter`).
    """
    if shipments is None:
        shipments = list(Shipment.objects.filter(order=order).select_related("provider"))
    describer = EventDescriber(order=order, shipments=shipments)
    entries = []
    for event in OrderEvent.objects.filter(order=order).order_by("created_at", "id"):
        title, detail, kind = describer.describe(event)
        entries.append(
            TimelineEntry(
                at=event.created_at,
                source="order",
                title=title,
                detail=detail,
                actor=describer.actor(event.actor),
                css=f"ev-{event.type}",
                kind=kind,
                code=str((event.parameters or {}).get("kind") or event.type)
                if event.type == T.NOTE_ADDED
                else event.type,
            )
        )
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
            code=event.status,
            kind=(
                "returns"
                if by_id[event.shipment_id].direction == Shipment.Direction.RETURN
                else "shipments"
            ),
        )
        for event in tracking
    )
    entries.sort(key=lambda entry: entry.at)
    return entries


def timeline_filter(*, entries: list[TimelineEntry], kind: str) -> list[TimelineEntry]:
    """The entries of one kind ("all": every entry), newest first."""
    return [e for e in reversed(entries) if kind == "all" or e.kind == kind]


# --- What to tell the customer ------------------------------------------------------


def _expected_from(shipment: Shipment, order: Order) -> dt.date | None:
    promised = getattr(shipment, "promised_delivery_date", None)
    if promised:
        return promised
    left = shipment.shipped_at or shipment.dispatched_at
    if left is None:
        return None
    service = shipment.service_level or order.service_level
    hours = service.max_transit_hours if service is not None else DEFAULT_TRANSIT_HOURS
    return timezone.localdate(left + dt.timedelta(hours=hours))


def _day(value: dt.date) -> str:
    return f"{value:%A} {value.day} {value:%B %Y}"


def order_customer_summary(
    *,
    order: Order,
    lines: list[OrderLine],
    shipments: list[Shipment],
    timeline: list[TimelineEntry],
) -> CustomerSummary:
    """One sentence an agent can read to the customer, and the expected delivery date.

    Uses only what the page already loaded (no query). The expected date is the
    shipment's promised date when it has one, else its departure plus the service
    level's transit time (DEFAULT_TRANSIT_HOURS without one); "not yet known" before
    anything has left.
    """
    outbound = [
        s
        for s in shipments
        if s.direction == Shipment.Direction.OUTBOUND and s.status != Shipment.Status.CANCELLED
    ]
    ordered = sum(line.quantity for line in lines)
    shipped = sum(line.quantity_shipped for line in lines)
    returned = sum(line.quantity_returned for line in lines)
    carriers = ", ".join(sorted({s.provider.name for s in outbound if s.shipped_at}))
    tracking = ", ".join(s.tracking_number for s in outbound if s.tracking_number)
    with_tracking = f" (tracking {tracking})" if tracking else ""

    delivered_at = [s.delivered_at for s in outbound if s.delivered_at]
    moving = [s for s in outbound if s.status not in ShipmentStatusGroups.FINAL and s.dispatched_at]
    estimates = [d for d in (_expected_from(s, order) for s in moving) if d]
    expected = max(estimates) if estimates else None
    if order.status in (S.DELIVERED, S.PARTIALLY_RETURNED, S.RETURNED) and delivered_at:
        delivered_day = timezone.localdate(max(delivered_at))
        expected_text = f"Delivered on {_day(delivered_day)}"
        expected = delivered_day
    elif expected is not None:
        expected_text = _day(expected)
    elif order.status == S.CANCELLED:
        expected_text = "Not applicable: the order is cancelled"
    else:
        service = order.service_level
        hours = service.max_transit_hours if service is not None else None
        expected_text = "Not yet known: nothing has left the warehouse yet" + (
            f" (then about {round(hours / 24)} day{'s' if round(hours / 24) != 1 else ''}"
            f" with {service.name})"
            if hours
            else ""
        )
    refused = any(e.code == "provider_cancel_refused" for e in timeline)
    with_provider = [s for s in outbound if s.status not in ShipmentStatusGroups.NOT_WITH_PROVIDER]

    def summary(state: str, sentence: str, **extra: Any) -> CustomerSummary:
        return CustomerSummary(
            state=state,
            sentence=sentence,
            expected_delivery=expected,
            expected_text=expected_text,
            **extra,
        )

    status = order.status
    if status == S.CANCELLED:
        left = [s for s in with_provider if s.status != Shipment.Status.DISPATCHED or s.shipped_at]
        if refused or left:
            return summary(
                "cancelled_with_carrier",
                "Cancelled, but the parcel had already left: it will arrive; offer a return.",
                with_carrier_after_cancel=True,
            )
        if with_provider:
            return summary(
                "cancelled_pending_carrier",
                "Cancelled. The carrier already had the parcel; we have asked them to stop it "
                "and will confirm.",
            )
        return summary("cancelled", "Your order was cancelled and nothing was sent.")
    if status == S.RETURNED:
        return summary("returned", "We have received your return of everything you sent back.")
    if status == S.PARTIALLY_RETURNED:
        return summary(
            "partially_returned",
            f"We have received {returned} returned item{'s' if returned != 1 else ''}; "
            "the rest of your order is yours to keep.",
        )
    if status == S.DELIVERED:
        return summary("delivered", "Your order has been delivered.")
    if any(s.status in ShipmentStatusGroups.TRACKING_EXCEPTION for s in outbound):
        return summary(
            "exception",
            f"The carrier reported a problem with your parcel{with_tracking}; "
            "we are looking into it and will get back to you.",
        )
    if status == S.PARTIALLY_DELIVERED:
        return summary(
            "partially_delivered", "Part of your order has been delivered; the rest is on its way."
        )
    if status == S.PARTIALLY_SHIPPED:
        return summary(
            "partially_shipped",
            f"{shipped} of your {ordered} items are on their way{with_tracking}; "
            "the rest will follow in a separate parcel.",
        )
    if status == S.SHIPPED:
        if any(s.status == Shipment.Status.OUT_FOR_DELIVERY for s in outbound):
            return summary(
                "out_for_delivery", f"Your parcel is out for delivery today{with_tracking}."
            )
        if any(s.status in ShipmentStatusGroups.WITH_CARRIER for s in outbound):
            return summary(
                "in_transit",
                f"Your parcel is on its way with {carriers or 'the carrier'}{with_tracking}.",
            )
        return summary(
            "dispatched",
            f"Your order has left our warehouse{with_tracking}.",
        )
    if status == S.ON_HOLD:
        return summary(
            "on_hold",
            "We are checking a detail of your order before we send it; "
            "we will contact you if we need anything.",
        )
    if status == S.BACKORDERED:
        return summary(
            "backordered",
            "Part of your order is waiting for stock; we will send it as soon as it arrives.",
        )
    if status in (S.ALLOCATED, S.IN_FULFILMENT):
        return summary(
            "allocated", "Your order is being prepared and will leave our warehouse soon."
        )
    return summary("received", "We have your order and are preparing it.")
