"""The desk's order page: the order with everything it shows, its timeline in plain
language, and what to tell the customer.

The order events keep machine-readable parameters (orders/events.py); this module
turns each event type and its parameters into a sentence for a person, so no raw
`lines: [{'sku': …}]` or `api:csk_…` reaches the page.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import IntegerField, OuterRef, Prefetch, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from backoffice.selectors.ops import DEFAULT_TRANSIT_HOURS
from inventory.models import Allocation
from logistics.models import Shipment, ShipmentStatusGroups, TrackingEvent
from orders.iso import country_name
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

_KIND_OF_TYPE = {
    T.RECEIVED: "status",
    T.STATUS_CHANGED: "status",
    T.ALLOCATED: "status",
    T.BACKORDERED: "status",
    T.DEALLOCATED: "status",
    T.CANCELLED: "status",
    T.ADDRESS_CHANGED: "status",
    T.HOLD_PLACED: "holds",
    T.HOLD_RELEASED: "holds",
    T.HOLD_ASSIGNED: "holds",
    T.NOTE_ADDED: "notes",
    T.SHIPMENT_CREATED: "shipments",
    T.SHIPMENT_DISPATCHED: "shipments",
    T.DISPATCH_FAILED: "shipments",
    T.SHIPPED: "shipments",
    T.DELIVERED: "shipments",
    T.TRACKING_EXCEPTION: "shipments",
    T.RETURN_REQUESTED: "returns",
    T.RETURN_RECEIVED: "returns",
}

# Notes the system writes about a shipment (logistics/order_events.py): their titles.
_SHIPMENT_NOTE_TITLES = {
    "dispatch_parked": "Dispatch paused",
    "dispatch_resumed": "Dispatch resumed",
    "dispatch_retry": "Dispatch retried",
    "dispatch_rerouted": "Shipment sent with another carrier",
    "shipment_cancelled": "Shipment cancelled",
    "provider_cancel_requested": "Carrier asked to cancel",
    "provider_cancel_refused": "Carrier refused to cancel",
}

_SYSTEM_ACTORS = {
    "system": "Automatic",
    "system:dispatch": "Automatic (dispatch)",
    "system:tracking": "Automatic (tracking)",
    "system:returns": "Automatic (returns)",
    "system:customs": "Automatic (customs check)",
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


# --- Plain language ---------------------------------------------------------------


def _status_label(value: Any) -> str:
    return S(value).label if value in S.values else str(value or "?")


def _hold_label(value: Any) -> str:
    return Hold.Reason(value).label if value in Hold.Reason.values else ""


def _quantities(items: Any, *, quantity_key: str = "quantity", where_key: str = "") -> str:
    # "2 × SKU-1 from AMS, 1 × SKU-2": what a list of {"sku", "quantity"} parameters says.
    parts = []
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        text = f"{item.get(quantity_key, '?')} × {item.get('sku', '?')}"
        if where_key and item.get(where_key):
            text += f" from {item[where_key]}"
        parts.append(text)
    return ", ".join(parts)


def _address_line(address: Any) -> str:
    if not isinstance(address, dict):
        return ""
    city = " ".join(
        str(address[key]) for key in ("shipping_postcode", "shipping_city") if address.get(key)
    )
    country = address.get("shipping_country")
    parts = [
        address.get("shipping_name"),
        address.get("shipping_line1"),
        address.get("shipping_line2"),
        city,
        address.get("shipping_region"),
        country_name(str(country)) if country else "",
    ]
    return ", ".join(str(part) for part in parts if part)


def _sentence(*parts: str) -> str:
    return " — ".join(part for part in parts if part)


class _Describer:
    """Title and detail of each event type, with the names the page already loaded."""

    def __init__(self, *, order: Order, shipments: list[Shipment]) -> None:
        self.order = order
        self.providers = {s.provider.code: s.provider.name for s in shipments}

    def provider(self, code: Any) -> str:
        return self.providers.get(str(code), str(code or "the carrier"))

    def actor(self, actor: str) -> str:
        if actor.startswith("user:"):
            return actor.removeprefix("user:")
        if actor.startswith("api:"):
            # Keys are scoped to one channel: the key that acted is one of this order's channel's.
            return f"Partner API ({self.order.channel.name})"
        if actor.startswith("lsp:"):
            return self.provider(actor.removeprefix("lsp:"))
        if actor in _SYSTEM_ACTORS:
            return _SYSTEM_ACTORS[actor]
        if actor.startswith("system:"):
            return f"Automatic ({actor.removeprefix('system:').replace('_', ' ')})"
        return actor

    def describe(self, event: OrderEvent) -> tuple[str, str, str]:
        """(title, detail, kind) of one order event."""
        p = event.parameters if isinstance(event.parameters, dict) else {}
        kind = _KIND_OF_TYPE.get(event.type, "status")
        if p.get("direction") == "return":
            kind = "returns"
        method = getattr(self, f"_{event.type}", None)
        title, detail = method(p) if method else (event.get_type_display(), "")
        if event.type == T.NOTE_ADDED and p.get("kind"):
            kind = "shipments"
        return title, detail, kind

    def _received(self, p: dict) -> tuple[str, str]:
        lines = p.get("lines")
        count = f"{lines} line{'s' if lines != 1 else ''}" if isinstance(lines, int) else ""
        reference = p.get("external_reference")
        return "Order received", _sentence(
            f"{count} from {self.order.channel.name}" if count else "",
            f"their reference {reference}" if reference else "",
        )

    def _status_changed(self, p: dict) -> tuple[str, str]:
        text = f"{_status_label(p.get('old_status'))} → {_status_label(p.get('new_status'))}"
        reason = str(p.get("reason") or "")
        if reason.startswith("hold:"):
            reason = f"{_hold_label(reason.removeprefix('hold:')) or 'hold'} hold"
        return "Status changed", f"{text} ({reason})" if reason else text

    def _allocated(self, p: dict) -> tuple[str, str]:
        what = _quantities(p.get("allocations"), where_key="warehouse")
        return "Stock reserved", _sentence(what, str(p.get("reason") or ""))

    def _backordered(self, p: dict) -> tuple[str, str]:
        missing = [
            f"{line.get('backordered', '?')} of {line.get('ordered', '?')} × {line.get('sku', '?')}"
            for line in p.get("lines") or []
            if isinstance(line, dict)
        ]
        what = f"waiting for {', '.join(missing)}" if missing else ""
        return "Waiting for stock", _sentence(what, str(p.get("reason") or ""))

    def _deallocated(self, p: dict) -> tuple[str, str]:
        what = _quantities(p.get("allocations"), where_key="warehouse")
        return "Stock released", _sentence(what, str(p.get("reason") or ""))

    def _hold_placed(self, p: dict) -> tuple[str, str]:
        title = "Hold placed automatically" if p.get("automatic") else "Hold placed"
        note = p.get("note") or p.get("detail") or ""
        return title, _sentence(_hold_label(p.get("reason")), str(note))

    def _hold_released(self, p: dict) -> tuple[str, str]:
        return "Hold released", _sentence(_hold_label(p.get("reason")), str(p.get("note") or ""))

    def _hold_assigned(self, p: dict) -> tuple[str, str]:
        owners = f"{p.get('previous_owner') or 'nobody'} → {p.get('owner') or 'nobody'}"
        return "Hold owner changed", _sentence(_hold_label(p.get("reason")), owners)

    def _cancelled(self, p: dict) -> tuple[str, str]:
        previous = p.get("previous_status")
        was = f"it was {_status_label(previous).lower()}" if previous else ""
        return "Cancelled", _sentence(str(p.get("reason") or ""), was)

    def _address_changed(self, p: dict) -> tuple[str, str]:
        old, new = _address_line(p.get("old")), _address_line(p.get("new"))
        if old and new:
            return "Shipping address changed", f"from “{old}” to “{new}”"
        return "Shipping address changed", f"to “{new}”" if new else ""

    def _note_added(self, p: dict) -> tuple[str, str]:
        kind = p.get("kind")
        if not kind:
            return "Note added", str(p.get("text") or "")
        shipment = f"SHP-{p['shipment_id']}" if p.get("shipment_id") else "The shipment"
        carrier = self.provider(p.get("provider"))
        details = {
            "dispatch_parked": f"{shipment} waits: the order is on hold.",
            "dispatch_resumed": f"{shipment} goes out again: the last hold was released.",
            "dispatch_retry": f"{shipment} sent to {carrier} again by staff.",
            "dispatch_rerouted": (
                f"{shipment} now goes with {carrier}; "
                f"{self.provider(p.get('previous_provider'))} refused it."
            ),
            "shipment_cancelled": (
                f"{shipment} cancelled by {carrier}."
                if p.get("at_provider")
                else f"{shipment} cancelled before it was sent to {carrier}."
            ),
            "provider_cancel_requested": (
                f"{carrier} already had {shipment}; we asked them to cancel it."
            ),
            "provider_cancel_refused": (
                f"{carrier} could not cancel {shipment}: the parcel had already left. "
                "It will be delivered; offer a return."
            ),
        }
        title = _SHIPMENT_NOTE_TITLES.get(kind, "Note added")
        return title, details.get(kind, str(p.get("text") or ""))

    def _shipment_created(self, p: dict) -> tuple[str, str]:
        carrier = self.provider(p.get("provider"))
        if p.get("direction") == "return":
            tracking = f", tracking {p['tracking_number']}" if p.get("tracking_number") else ""
            return (
                "Return label issued",
                f"{p.get('return_number', 'Return')} with {carrier}{tracking}",
            )
        shipment = f"SHP-{p['shipment_id']}" if p.get("shipment_id") else "A shipment"
        where = f" from {p['warehouse']}" if p.get("warehouse") else ""
        return "Shipment planned", _sentence(
            f"{shipment}{where} with {carrier}", _quantities(p.get("lines"))
        )

    def _shipment_dispatched(self, p: dict) -> tuple[str, str]:
        carrier = self.provider(p.get("provider"))
        tracking = f", tracking {p['tracking_number']}" if p.get("tracking_number") else ""
        return (
            "Sent to the carrier",
            f"{carrier} accepted SHP-{p.get('shipment_id', '?')}{tracking}",
        )

    def _dispatch_failed(self, p: dict) -> tuple[str, str]:
        if p.get("direction") == "return":
            return "Return label refused", _sentence(
                str(p.get("return_number") or ""), str(p.get("message") or "")
            )
        carrier = self.provider(p.get("provider"))
        return "Dispatch failed", _sentence(
            f"{carrier} did not accept SHP-{p.get('shipment_id', '?')}", str(p.get("message") or "")
        )

    def _shipped(self, p: dict) -> tuple[str, str]:
        tracking = f", tracking {p['tracking_number']}" if p.get("tracking_number") else ""
        return "Shipped", f"SHP-{p.get('shipment_id', '?')} is with the carrier{tracking}"

    def _delivered(self, p: dict) -> tuple[str, str]:
        if p.get("direction") == "return":
            return "Return arrived", _sentence(
                str(p.get("return_number") or ""),
                f"at {p['warehouse']}" if p.get("warehouse") else "",
            )
        return "Delivered", f"SHP-{p.get('shipment_id', '?')} was delivered"

    def _tracking_exception(self, p: dict) -> tuple[str, str]:
        status = str(p.get("status") or "")
        label = Shipment.Status(status).label if status in Shipment.Status.values else status
        return "Carrier reported a problem", _sentence(
            f"SHP-{p.get('shipment_id', '?')}: {label.lower()}" if label else "",
            str(p.get("description") or ""),
        )

    def _return_requested(self, p: dict) -> tuple[str, str]:
        from returns.models import ReturnLine

        lines = [
            f"{line.get('quantity', '?')} × {line.get('sku', '?')}"
            + (
                f" ({ReturnLine.Reason(line['reason']).label.lower()})"
                if line.get("reason") in ReturnLine.Reason.values
                else ""
            )
            for line in p.get("lines") or []
            if isinstance(line, dict)
        ]
        return "Return requested", _sentence(str(p.get("return_number") or ""), ", ".join(lines))

    def _return_received(self, p: dict) -> tuple[str, str]:
        what = _quantities(p.get("lines"), quantity_key="quantity_received")
        refund = (
            f"refund due {p['refund_amount_due']} {p.get('currency', '')}".strip()
            if p.get("refund_amount_due") not in (None, "")
            else ""
        )
        return "Return received", _sentence(str(p.get("return_number") or ""), what, refund)


def order_timeline(*, order: Order, shipments: list[Shipment] | None = None) -> list[TimelineEntry]:
    """Order events and tracking events of the order's shipments, oldest first, in words.

    Two queries at most whatever the number of events: the order events, and the
    tracking events of the order's shipments (read by shipment id, not at all when
    there is none). Pass the order's already loaded shipments to save a join.
    Each entry has a `kind` for the page's filter (`timeline_filter`).
    """
    if shipments is None:
        shipments = list(Shipment.objects.filter(order=order).select_related("provider"))
    describer = _Describer(order=order, shipments=shipments)
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
