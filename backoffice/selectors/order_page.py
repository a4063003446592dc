"""The desk's order page: the order with everything it shows, its timeline (in words:
timeline_words.py) with the filter, and what to tell the customer."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
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
    routing: dict[str, Any] | None = None  # an `allocated` event's routing explanation


@dataclass
class CustomerSummary:
    """What an agent tells the customer, and the delivery date to give."""

    state: str
    sentence: str
    expected_delivery: dt.date | None
    expected_text: str
    with_carrier_after_cancel: bool = False
    # The delivery promise in words ("Ships by ..., arrives by ..."); empty without one.
    promise_text: str = ""


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
                routing=(event.parameters or {}).get("routing")
                if event.type == T.ALLOCATED
                else None,
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


_OBJECTIVES = {
    "priority": "the channel's priority order",
    "cheapest": "the cheapest",
    "fastest": "the fastest",
    "cheapest_on_time": "the cheapest that keeps the delivery promise",
}
_SPLITS = {
    "complete": "ship complete from one site",
    "fewest": "as few shipments as possible",
    "available_now": "ship what is in stock now, the rest later",
    "max_shipments": "at most a set number of shipments",
}


@dataclass(frozen=True)
class RoutingWhy:
    """ "Why this warehouse": the latest routing decision of the order, in words."""

    rule: str
    rule_set: str
    objective: str
    split: str
    deadline: str | None
    chosen: list[dict[str, Any]]
    cost: str | None
    currency: str
    ship_by: dt.date | None
    promised_delivery_date: dt.date | None
    alternatives: list[dict[str, Any]]


def _iso_day(value: object) -> dt.date | None:
    try:
        return dt.date.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


def routing_why(*, entries: list[TimelineEntry]) -> RoutingWhy | None:
    """From the timeline already read (no query): the newest allocation's explanation."""
    found = next((e.routing for e in reversed(entries) if e.routing), None)
    if not isinstance(found, dict):
        return None
    rule = found.get("rule") or {}
    chosen = found.get("chosen") or {}
    version = found.get("rule_set")
    return RoutingWhy(
        rule=(
            f"rule #{rule.get('position')} “{rule.get('name')}”"
            if rule.get("id") is not None
            else "the default (no rule matched)"
        ),
        rule_set=f"rule set v{version}" if version else "the built-in default rule set",
        objective=_OBJECTIVES.get(str(found.get("objective")), str(found.get("objective"))),
        split=_SPLITS.get(str(found.get("split_policy")), str(found.get("split_policy"))),
        deadline=found.get("deadline"),
        chosen=list(chosen.get("sites") or []),
        cost=chosen.get("cost"),
        currency=str(chosen.get("currency") or ""),
        ship_by=_iso_day(chosen.get("ship_by")),
        promised_delivery_date=_iso_day(chosen.get("promised_delivery_date")),
        alternatives=[
            {**a, "promised_delivery_date": _iso_day(a.get("promised_delivery_date"))}
            for a in found.get("alternatives") or []
            if isinstance(a, dict)
        ],
    )


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


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'s' if count != 1 else ''}"


@dataclass
class _Facts:
    """What the customer line is made of, read from what the page already loaded."""

    order: Order
    outbound: list[Shipment]
    ordered: int
    shipped: int
    returned: int
    refused_cancel: bool
    cancelled: int = 0  # units of a partially shipped order cancelled before they shipped

    @property
    def with_tracking(self) -> str:
        tracking = ", ".join(s.tracking_number for s in self.outbound if s.tracking_number)
        return f" (tracking {tracking})" if tracking else ""

    @property
    def carriers(self) -> str:
        names = sorted({s.provider.name for s in self.outbound if s.shipped_at})
        return ", ".join(names) or "the carrier"

    def any_status(self, statuses: frozenset[str] | set[str]) -> bool:
        return any(s.status in statuses for s in self.outbound)


def _expected(facts: _Facts) -> tuple[dt.date | None, str]:
    order = facts.order
    delivered_at = [s.delivered_at for s in facts.outbound if s.delivered_at]
    if order.status in (S.DELIVERED, S.PARTIALLY_RETURNED, S.RETURNED) and delivered_at:
        day = timezone.localdate(max(delivered_at))
        return day, f"Delivered on {_day(day)}"
    moving = [
        s for s in facts.outbound if s.status not in ShipmentStatusGroups.FINAL and s.dispatched_at
    ]
    estimates = [d for d in (_expected_from(s, order) for s in moving) if d]
    if estimates:
        return max(estimates), _day(max(estimates))
    if order.status == S.CANCELLED:
        return None, "Not applicable: the order is cancelled"
    if order.promised_delivery_date is not None:
        return order.promised_delivery_date, f"{_day(order.promised_delivery_date)} (promised)"
    text = "Not yet known: nothing has left the warehouse yet"
    service = order.service_level
    if service is not None and service.max_transit_hours:
        days = round(service.max_transit_hours / 24)
        text += f" (then about {_plural(days, 'day')} with {service.name})"
    return None, text


# Statuses after which the promise is history: the order arrived, came back or was cancelled.
_PROMISE_KEPT_OR_MOOT = frozenset({S.CANCELLED, S.DELIVERED, S.PARTIALLY_RETURNED, S.RETURNED})
# Statuses in which nothing is left to leave a site.
_ALL_LEFT = frozenset({S.SHIPPED, S.PARTIALLY_DELIVERED})


def _promise_text(order: Order) -> str:
    """The delivery promise as an agent reads it out (docs/routing.md)."""
    ship_by, arrives = order.ship_by, order.promised_delivery_date
    if arrives is None or order.status in _PROMISE_KEPT_OR_MOOT:
        return ""
    if ship_by is None or order.status in _ALL_LEFT:
        return f"Arrives by {_day(arrives)}."
    return f"Ships by {_day(ship_by)}, arrives by {_day(arrives)}."


def _cancelled(facts: _Facts) -> tuple[str, str]:
    with_provider = [
        s for s in facts.outbound if s.status not in ShipmentStatusGroups.NOT_WITH_PROVIDER
    ]
    # `dispatched` without a carrier scan: the provider may still stop it (a cancel is asked).
    left = [s for s in with_provider if s.status != Shipment.Status.DISPATCHED or s.shipped_at]
    if facts.refused_cancel or left:
        return (
            "cancelled_with_carrier",
            "Cancelled, but the parcel had already left: it will arrive; offer a return.",
        )
    if with_provider:
        return (
            "cancelled_pending_carrier",
            "Cancelled. The carrier already had the parcel; we have asked them to stop it "
            "and will confirm.",
        )
    return "cancelled", "Your order was cancelled and nothing was sent."


def _shipped(facts: _Facts) -> tuple[str, str]:
    if facts.any_status({Shipment.Status.OUT_FOR_DELIVERY}):
        return "out_for_delivery", f"Your parcel is out for delivery today{facts.with_tracking}."
    if facts.any_status(ShipmentStatusGroups.WITH_CARRIER):
        return (
            "in_transit",
            f"Your parcel is on its way with {facts.carriers}{facts.with_tracking}.",
        )
    return "dispatched", f"Your order has left our warehouse{facts.with_tracking}."


# The customer line per order status (what comes before a carrier's problem report).
_BEFORE_EXCEPTION: dict[str, Callable[[_Facts], tuple[str, str]]] = {
    S.CANCELLED: _cancelled,
    S.RETURNED: lambda f: (
        "returned",
        "We have received your return of everything you sent back.",
    ),
    S.PARTIALLY_RETURNED: lambda f: (
        "partially_returned",
        f"We have received {_plural(f.returned, 'returned item')}; "
        "the rest of your order is yours to keep.",
    ),
    S.DELIVERED: lambda f: ("delivered", "Your order has been delivered."),
}
_AFTER_EXCEPTION: dict[str, Callable[[_Facts], tuple[str, str]]] = {
    S.PARTIALLY_DELIVERED: lambda f: (
        "partially_delivered",
        "Part of your order has been delivered; the rest is on its way.",
    ),
    S.PARTIALLY_SHIPPED: lambda f: (
        "partially_shipped",
        f"{f.shipped} of your {f.ordered} items are on their way{f.with_tracking}; "
        "the rest will follow in a separate parcel.",
    ),
    S.SHIPPED: _shipped,
    S.ON_HOLD: lambda f: (
        "on_hold",
        "We are checking a detail of your order before we send it; "
        "we will contact you if we need anything.",
    ),
    S.BACKORDERED: lambda f: (
        "backordered",
        "Part of your order is waiting for stock; we will send it as soon as it arrives.",
    ),
    S.ALLOCATED: lambda f: (
        "allocated",
        "Your order is being prepared and will leave our warehouse soon.",
    ),
    S.RECEIVED: lambda f: ("received", "We have your order and are preparing it."),
}
_AFTER_EXCEPTION[S.IN_FULFILMENT] = _AFTER_EXCEPTION[S.ALLOCATED]


def _state_sentence(facts: _Facts) -> tuple[str, str]:
    state, sentence = _status_sentence(facts)
    if facts.cancelled and facts.order.status != S.CANCELLED:
        # The unshipped rest was cancelled (order_cancel_rest): say so whatever the parcels do.
        sentence += (
            f" {_plural(facts.cancelled, 'item')} of your order "
            f"{'was' if facts.cancelled == 1 else 'were'} cancelled and will not be sent."
        )
    return state, sentence


def _status_sentence(facts: _Facts) -> tuple[str, str]:
    status = facts.order.status
    if status in _BEFORE_EXCEPTION:
        return _BEFORE_EXCEPTION[status](facts)
    if facts.any_status(ShipmentStatusGroups.TRACKING_EXCEPTION):
        return (
            "exception",
            f"The carrier reported a problem with your parcel{facts.with_tracking}; "
            "we are looking into it and will get back to you.",
        )
    return _AFTER_EXCEPTION.get(status, _AFTER_EXCEPTION[S.RECEIVED])(facts)


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
    anything has left. A cancelled order whose parcel left anyway (the provider
    refused the cancel, or the carrier scanned it) is `cancelled_with_carrier`.
    """
    facts = _Facts(
        order=order,
        outbound=[
            s
            for s in shipments
            if s.direction == Shipment.Direction.OUTBOUND and s.status != Shipment.Status.CANCELLED
        ],
        ordered=sum(line.quantity for line in lines),
        shipped=sum(line.quantity_shipped for line in lines),
        returned=sum(line.quantity_returned for line in lines),
        cancelled=sum(line.quantity_cancelled for line in lines),
        refused_cancel=any(e.code == "provider_cancel_refused" for e in timeline),
    )
    expected, expected_text = _expected(facts)
    state, sentence = _state_sentence(facts)
    return CustomerSummary(
        state=state,
        sentence=sentence,
        expected_delivery=expected,
        expected_text=expected_text,
        with_carrier_after_cancel=state == "cancelled_with_carrier",
        promise_text=_promise_text(order),
    )
