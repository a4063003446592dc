"""Customer-service desk reads: the search and the order page.

Each desk lookup is shaped so that Postgres can answer it from one of the
indexes declared on Order / Shipment / Parcel (see docs/backoffice.md for the
EXPLAIN of each); the search runs the applicable lookups as one UNION query.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import (
    CharField,
    IntegerField,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce, Lower, Upper

from inventory.models import (
    Allocation,
)
from logistics.models import Parcel, Shipment, TrackingEvent
from orders.models import Hold, Order, OrderEvent, OrderLine, phone_key, postcode_key
from orders.numbers import PREFIX as ORDER_NUMBER_PREFIX
from orders.numbers import format_order_number

SEARCH_LIMIT = 50
# A customer reads out the local part of a phone number ("07700 900123") while we
# stored "+44 7700 900123": the last nine digits are the same in both spellings.
PHONE_MATCH_DIGITS = 9
MIN_PHONE_DIGITS = 6
MIN_NAME_CHARS = 3
MIN_POSTCODE_CHARS = 3
MIN_CITY_CHARS = 2
MIN_TRACKING_CHARS = 6
RECENT_LIMIT = 20
MY_HOLDS_LIMIT = 50

# At most 18 digits: an order number is far shorter, and int() refuses 4,300 digits or more
# (the admin's search hands over the term unbounded).
_ORDER_NUMBER_RE = re.compile(
    rf"^(?:{re.escape(ORDER_NUMBER_PREFIX.rstrip('-'))}-?)?(\d{{1,18}})$", re.I
)
_POSTCODE_RE = re.compile(r"^[A-Z0-9][A-Z0-9 -]{1,9}$", re.I)


class MatchKind:
    NUMBER = "number"
    EXTERNAL_REFERENCE = "external_reference"
    EMAIL = "email"
    NAME = "name"
    PHONE = "phone"
    POSTCODE = "postcode"
    CITY = "city"
    TRACKING = "tracking"

    LABELS = {
        NUMBER: "Order number",
        EXTERNAL_REFERENCE: "External reference",
        EMAIL: "E-mail",
        NAME: "Name",
        PHONE: "Phone",
        POSTCODE: "Postcode",
        CITY: "City",
        TRACKING: "Tracking number",
    }


@dataclass
class SearchHit:
    order: Order
    matched_by: list[str] = field(default_factory=list)

    @property
    def matched_labels(self) -> list[str]:
        return [MatchKind.LABELS[kind] for kind in self.matched_by]


def _ids(queryset: QuerySet, kind: str) -> QuerySet:
    return queryset.annotate(kind=Value(kind, output_field=CharField())).values_list("id", "kind")[
        :SEARCH_LIMIT
    ]


def _prefix_range(field_name: str, prefix: str) -> Q:
    # A range rather than LIKE 'x%': the unique index on `number` uses the
    # database collation, which LIKE cannot use for a prefix scan, a range can.
    upper = prefix[:-1] + chr(ord(prefix[-1]) + 1)
    return Q(**{f"{field_name}__gte": prefix, f"{field_name}__lt": upper})


def desk_search_lookups(*, query: str, include_contact: bool = True) -> list[QuerySet]:
    """The indexed lookups a desk query can mean: each an (order id, kind) queryset.

    Without `include_contact` (a role that may not see the customer's e-mail and phone)
    those two are not searched either: a hit would confirm them.
    """
    q = " ".join(query.split())
    if not q:
        return []
    lookups: list[QuerySet] = []
    orders = Order.objects.all()
    upper = q.upper()

    number = _ORDER_NUMBER_RE.match(q.replace(" ", ""))
    if number:
        digits = number.group(1)
        if upper.startswith(ORDER_NUMBER_PREFIX.rstrip("-")):
            # "CS-0001" is a prefix of the number; "CS-123" is the short form of CS-000123.
            condition = _prefix_range("number", ORDER_NUMBER_PREFIX + digits) | Q(
                number=format_order_number(int(digits))
            )
        else:
            condition = Q(number=format_order_number(int(digits)))
        lookups.append(_ids(orders.filter(condition), MatchKind.NUMBER))

    lookups.append(
        _ids(
            orders.annotate(ext_upper=Upper("external_reference")).filter(ext_upper=upper),
            MatchKind.EXTERNAL_REFERENCE,
        )
    )

    if "@" in q:
        if not include_contact:
            return lookups
        lookups.append(
            _ids(
                orders.annotate(email_lower=Lower("customer_email")).filter(email_lower=q.lower()),
                MatchKind.EMAIL,
            )
        )
        return lookups

    digits = "".join(ch for ch in q if ch.isdigit())
    if include_contact and len(digits) >= MIN_PHONE_DIGITS and re.fullmatch(r"[\d\s()+./-]+", q):
        key = phone_key(digits)[:PHONE_MATCH_DIGITS]
        lookups.append(_ids(orders.filter(customer_phone_key__startswith=key), MatchKind.PHONE))

    if len(q) >= MIN_POSTCODE_CHARS and _POSTCODE_RE.match(q) and any(c.isdigit() for c in q):
        lookups.append(
            _ids(
                orders.filter(shipping_postcode_key__startswith=postcode_key(q)),
                MatchKind.POSTCODE,
            )
        )

    if len(q) >= MIN_NAME_CHARS and any(ch.isalpha() for ch in q):
        lookups.append(
            _ids(
                orders.annotate(name_upper=Upper("customer_name")).filter(
                    name_upper__contains=upper
                ),
                MatchKind.NAME,
            )
        )

    if (
        len(q) >= MIN_CITY_CHARS
        and any(ch.isalpha() for ch in q)
        and not any(ch.isdigit() for ch in q)
    ):
        # Newest first inside the branch: the 50 of a large city are its latest 50
        # (order_city_ci ends in placed_at, id, so no sort).
        lookups.append(
            _ids(
                orders.annotate(city_upper=Upper("shipping_city"))
                .filter(city_upper=upper)
                .order_by("-placed_at", "-id"),
                MatchKind.CITY,
            )
        )

    if " " not in q and len(q) >= MIN_TRACKING_CHARS:
        # Compared upper-cased on both sides (shipment_tracking_ci, parcel_tracking_ci):
        # the stored number stays exactly as the carrier wrote it, for links and partners.
        lookups.append(
            Shipment.objects.annotate(tracking_upper=Upper("tracking_number"))
            .filter(tracking_upper=upper)
            .annotate(kind=Value(MatchKind.TRACKING, output_field=CharField()))
            .values_list("order_id", "kind")[:SEARCH_LIMIT]
        )
        lookups.append(
            Parcel.objects.annotate(tracking_upper=Upper("tracking_number"))
            .filter(tracking_upper=upper)
            .annotate(kind=Value(MatchKind.TRACKING, output_field=CharField()))
            .values_list("shipment__order_id", "kind")[:SEARCH_LIMIT]
        )
    return lookups


def desk_search(
    *, query: str, limit: int = SEARCH_LIMIT, include_contact: bool = True
) -> list[SearchHit]:
    """Orders matching whatever a customer reads out, newest first, at most `limit`.

    Two queries whatever the input: one UNION of the indexed lookups, one fetch
    of the matched orders.
    """
    lookups = desk_search_lookups(query=query, include_contact=include_contact)
    if not lookups:
        return []
    union = lookups[0].union(*lookups[1:], all=True) if len(lookups) > 1 else lookups[0]
    matched: dict[int, list[str]] = {}
    for order_id, kind in union:
        kinds = matched.setdefault(order_id, [])
        if kind not in kinds:
            kinds.append(kind)
    if not matched:
        return []
    orders = (
        Order.objects.filter(id__in=list(matched))
        .select_related("channel")
        .order_by("-placed_at", "-id")[:limit]
    )
    return [SearchHit(order=order, matched_by=matched[order.id]) for order in orders]


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


def _event_detail(event: OrderEvent) -> str:
    p = event.parameters or {}
    t = OrderEvent.Type
    if event.type == t.STATUS_CHANGED:
        text = f"{p.get('old_status', '?')} → {p.get('new_status', '?')}"
        return f"{text} ({p['reason']})" if p.get("reason") else text
    if event.type in {t.HOLD_PLACED, t.HOLD_RELEASED}:
        reason = Hold.Reason(p["reason"]).label if p.get("reason") in Hold.Reason.values else ""
        return " — ".join(part for part in [reason, p.get("note", "")] if part)
    if event.type == t.HOLD_ASSIGNED:
        reason = Hold.Reason(p["reason"]).label if p.get("reason") in Hold.Reason.values else ""
        owners = f"{p.get('previous_owner') or 'nobody'} → {p.get('owner') or 'nobody'}"
        return " — ".join(part for part in [reason, owners] if part)
    if event.type == t.NOTE_ADDED:
        return p.get("text", "")
    if event.type == t.ADDRESS_CHANGED:
        new = p.get("new", {})
        return ", ".join(
            str(new[key])
            for key in ("shipping_name", "shipping_line1", "shipping_city", "shipping_postcode")
            if new.get(key)
        )
    if event.type == t.CANCELLED:
        return p.get("reason", "")
    return ", ".join(f"{key}: {value}" for key, value in p.items() if value not in ("", None, []))


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
