"""Read-side queries of the back-office screens (desk search, order page, queues).

Each desk lookup is shaped so that Postgres can answer it from one of the
indexes declared on Order / Shipment / Parcel (see docs/backoffice.md for the
EXPLAIN of each); the search runs the applicable lookups as one UNION query.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import (
    CharField,
    Count,
    F,
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
    InboundLine,
    InboundShipment,
    StockLevel,
    StockMovement,
    StockSnapshot,
    StockSnapshotLine,
)
from logistics.models import Parcel, Shipment, TrackingEvent
from orders.models import Hold, Order, OrderEvent, OrderLine, phone_key, postcode_key
from orders.numbers import PREFIX as ORDER_NUMBER_PREFIX
from orders.numbers import format_order_number

logger = logging.getLogger(__name__)

SEARCH_LIMIT = 50
# A customer reads out the local part of a phone number ("07700 900123") while we
# stored "+44 7700 900123": the last nine digits are the same in both spellings.
PHONE_MATCH_DIGITS = 9
MIN_PHONE_DIGITS = 6
MIN_NAME_CHARS = 3
MIN_POSTCODE_CHARS = 3

_ORDER_NUMBER_RE = re.compile(rf"^(?:{re.escape(ORDER_NUMBER_PREFIX.rstrip('-'))}-?)?(\d+)$", re.I)
_POSTCODE_RE = re.compile(r"^[A-Z0-9][A-Z0-9 -]{1,9}$", re.I)


class MatchKind:
    NUMBER = "number"
    EXTERNAL_REFERENCE = "external_reference"
    EMAIL = "email"
    NAME = "name"
    PHONE = "phone"
    POSTCODE = "postcode"
    TRACKING = "tracking"

    LABELS = {
        NUMBER: "Order number",
        EXTERNAL_REFERENCE: "External reference",
        EMAIL: "E-mail",
        NAME: "Name",
        PHONE: "Phone",
        POSTCODE: "Postcode",
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


def desk_search_lookups(*, query: str) -> list[QuerySet]:
    """The indexed lookups a desk query can mean: each an (order id, kind) queryset."""
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
        lookups.append(
            _ids(
                orders.annotate(email_lower=Lower("customer_email")).filter(email_lower=q.lower()),
                MatchKind.EMAIL,
            )
        )
        return lookups

    digits = "".join(ch for ch in q if ch.isdigit())
    if len(digits) >= MIN_PHONE_DIGITS and re.fullmatch(r"[\d\s()+./-]+", q):
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

    if " " not in q and len(q) >= 6:
        lookups.append(
            Shipment.objects.filter(tracking_number=q)
            .annotate(kind=Value(MatchKind.TRACKING, output_field=CharField()))
            .values_list("order_id", "kind")[:SEARCH_LIMIT]
        )
        lookups.append(
            Parcel.objects.filter(tracking_number=q)
            .annotate(kind=Value(MatchKind.TRACKING, output_field=CharField()))
            .values_list("shipment__order_id", "kind")[:SEARCH_LIMIT]
        )
    return lookups


def desk_search(*, query: str, limit: int = SEARCH_LIMIT) -> list[SearchHit]:
    """Orders matching whatever a customer reads out, newest first, at most `limit`.

    Two queries whatever the input: one UNION of the indexed lookups, one fetch
    of the matched orders.
    """
    lookups = desk_search_lookups(query=query)
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


# --- Order page -----------------------------------------------------------------


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


def order_notes(*, order: Order) -> QuerySet[OrderEvent]:
    return OrderEvent.objects.filter(order=order, type=OrderEvent.Type.NOTE_ADDED).order_by(
        "-created_at"
    )


# --- Warehouse ------------------------------------------------------------------


def stock_levels_list(
    *, sku: str = "", warehouse_code: str = "", low_only: bool = False
) -> QuerySet[StockLevel]:
    qs = StockLevel.objects.select_related("product", "warehouse").order_by(
        "product__sku", "warehouse__code"
    )
    if sku:
        qs = qs.filter(product__sku__istartswith=sku.strip())
    if warehouse_code:
        qs = qs.filter(warehouse__code=warehouse_code)
    if low_only:
        qs = qs.filter(on_hand__lte=F("low_stock_threshold"))
    return qs


def stock_movements_for(*, level: StockLevel, limit: int = 200) -> QuerySet[StockMovement]:
    return (
        StockMovement.objects.filter(product_id=level.product_id, warehouse_id=level.warehouse_id)
        .select_related("order", "actor")
        .order_by("-created_at", "-id")[:limit]
    )


def inbounds_open(*, limit: int = 100) -> QuerySet[InboundShipment]:
    """Inbound shipments still expected or being received, oldest expected first."""
    return (
        InboundShipment.objects.exclude(status=InboundShipment.Status.CLOSED)
        .select_related("warehouse")
        .annotate(
            expected=Coalesce(Sum("lines__expected_quantity"), 0),
            received=Coalesce(Sum("lines__received_quantity"), 0),
        )
        .order_by(F("expected_at").asc(nulls_last=True), "created_at")[:limit]
    )


def inbound_lines_with_stock(*, inbound: InboundShipment) -> list[InboundLine]:
    """The ASN's lines with the product and its current on-hand at the receiving warehouse."""
    on_hand = StockLevel.objects.filter(
        product=OuterRef("product"), warehouse_id=inbound.warehouse_id
    ).values("on_hand")[:1]
    return list(
        InboundLine.objects.filter(inbound=inbound)
        .select_related("product")
        .annotate(on_hand=Coalesce(Subquery(on_hand, output_field=IntegerField()), 0))
        .order_by("id")
    )


DISPATCH_BOARD_COLUMNS = {
    "waiting": [Shipment.Status.PENDING],
    "in_flight": [
        Shipment.Status.DISPATCHED,
        Shipment.Status.IN_TRANSIT,
        Shipment.Status.OUT_FOR_DELIVERY,
        Shipment.Status.AVAILABLE_FOR_PICKUP,
        Shipment.Status.FAILED_ATTEMPT,
    ],
    "failed": [Shipment.Status.DISPATCH_FAILED, Shipment.Status.EXCEPTION],
}


COUNT_CAP = 1000


def capped_count(queryset: QuerySet, *, cap: int = COUNT_CAP) -> int:
    """Count at most cap + 1 rows: "1000+" is all a queue needs, and it stays cheap at scale."""
    return queryset.order_by()[: cap + 1].count()


def count_label(count: int, *, cap: int = COUNT_CAP) -> str:
    return f"{cap:,}+" if count > cap else f"{count:,}"


def _ordered_by_status(queryset: QuerySet, *, statuses: list[str], order: str, limit: int) -> list:
    # One index range scan per status on (status, updated_at) instead of one
    # sort over every row whose status is in the list.
    rows = []
    for status in statuses:
        rows.extend(queryset.filter(status=status).order_by(order)[:limit])
    field = order.lstrip("-")
    rows.sort(key=lambda row: getattr(row, field), reverse=order.startswith("-"))
    return rows[:limit]


def dispatch_board(*, limit: int = 50) -> dict[str, dict]:
    """Shipments waiting, in flight and failed: the most recently changed `limit` of each."""
    board = {}
    for column, statuses in DISPATCH_BOARD_COLUMNS.items():
        count = capped_count(Shipment.objects.filter(status__in=statuses))
        board[column] = {
            "count": count,
            "count_label": count_label(count),
            "shipments": _ordered_by_status(
                Shipment.objects.select_related("order", "provider", "warehouse"),
                statuses=statuses,
                order="-updated_at",
                limit=limit,
            ),
        }
    return board


def hold_counts_by_reason() -> dict[str, int]:
    rows = (
        Hold.objects.filter(released_at__isnull=True)
        .values("reason")
        .annotate(n=Count("id"))
        .order_by()
    )
    return {row["reason"]: row["n"] for row in rows}


# --- Operations: exception queue and dashboard -------------------------------------


@dataclass
class ExceptionItem:
    kind: str
    order: Order | None
    since: datetime
    subject: str
    detail: str = ""
    owner: str = ""
    due_at: datetime | None = None
    provider: str = ""

    @property
    def overdue(self) -> bool:
        from django.utils import timezone

        return self.due_at is not None and self.due_at < timezone.now()


EXCEPTION_KINDS = {
    "hold": "Holds",
    "backorder": "Old backorders",
    "dispatch_failed": "Dispatch failures",
    "tracking_exception": "Tracking exceptions",
    "late": "Late shipments",
    "stock": "Stock alerts",
    "stock_discrepancy": "Stock discrepancies (LSP snapshots)",
}
TRACKING_EXCEPTION_STATUSES = [
    Shipment.Status.EXCEPTION,
    Shipment.Status.FAILED_ATTEMPT,
    Shipment.Status.RETURN_TO_SENDER,
]
IN_TRANSIT_STATUSES = [
    Shipment.Status.DISPATCHED,
    Shipment.Status.IN_TRANSIT,
    Shipment.Status.OUT_FOR_DELIVERY,
    Shipment.Status.AVAILABLE_FOR_PICKUP,
]
DEFAULT_TRANSIT_HOURS = 72


def exception_queue(
    *,
    kind: str = "",
    channel_code: str = "",
    backorder_days: int = 3,
    owner=None,
    limit: int = 200,
) -> dict[str, dict]:
    """The operations exception queue, per kind: the oldest `limit` items and the total count."""
    from datetime import timedelta

    from django.utils import timezone

    now = timezone.now()
    kinds = [kind] if kind in EXCEPTION_KINDS else list(EXCEPTION_KINDS)
    out: dict[str, dict] = {}
    order_filter = Q(order__channel__code=channel_code) if channel_code else Q()

    for k in kinds:
        items: list[ExceptionItem] = []
        if k == "hold":
            qs = Hold.objects.filter(released_at__isnull=True).filter(order_filter)
            if owner is not None:
                qs = qs.filter(owner=owner)
            count = capped_count(qs)
            for hold in qs.select_related("order", "owner").order_by("created_at")[:limit]:
                items.append(
                    ExceptionItem(
                        kind=k,
                        order=hold.order,
                        since=hold.created_at,
                        subject=hold.get_reason_display(),
                        detail=hold.note,
                        owner=hold.owner.get_username() if hold.owner else "",
                        due_at=hold.due_at,
                    )
                )
        elif k == "backorder":
            qs = Order.objects.filter(
                status=Order.Status.BACKORDERED,
                created_at__lt=now - timedelta(days=backorder_days),
            )
            if channel_code:
                qs = qs.filter(channel__code=channel_code)
            count = capped_count(qs)
            for order in qs.order_by("created_at")[:limit]:
                items.append(
                    ExceptionItem(
                        kind=k, order=order, since=order.created_at, subject="Backordered"
                    )
                )
        elif k in {"dispatch_failed", "tracking_exception", "late"}:
            if k == "dispatch_failed":
                statuses = [Shipment.Status.DISPATCH_FAILED]
                qs = Shipment.objects.all()
            elif k == "tracking_exception":
                statuses = TRACKING_EXCEPTION_STATUSES
                qs = Shipment.objects.all()
            else:
                statuses = IN_TRANSIT_STATUSES
                qs = late_shipments(now=now)
            qs = qs.filter(order_filter)
            count = capped_count(qs.filter(status__in=statuses))
            shipments = _ordered_by_status(
                qs.select_related("order", "provider"),
                statuses=statuses,
                order="updated_at",
                limit=limit,
            )
            for shipment in shipments:
                items.append(
                    ExceptionItem(
                        kind=k,
                        order=shipment.order,
                        since=shipment.dispatched_at if k == "late" else shipment.updated_at,
                        subject=f"SHP-{shipment.pk} {shipment.get_status_display()}",
                        detail=shipment.last_error,
                        provider=shipment.provider.code,
                    )
                )
        elif k == "stock_discrepancy":
            qs = StockSnapshotLine.objects.filter(
                snapshot__status=StockSnapshot.Status.OPEN
            ).exclude(lsp_on_hand=F("consign_on_hand"))
            count = capped_count(qs)
            for line in qs.select_related("product", "snapshot__warehouse").order_by(
                "snapshot__taken_at", "id"
            )[:limit]:
                items.append(
                    ExceptionItem(
                        kind=k,
                        order=None,
                        since=line.snapshot.taken_at,
                        subject=f"{line.product.sku} at {line.snapshot.warehouse.code}",
                        detail=(
                            f"LSP {line.lsp_on_hand}, ours {line.consign_on_hand} "
                            f"({line.difference:+d}); snapshot {line.snapshot_id}"
                        ),
                    )
                )
        else:  # stock
            qs = StockLevel.objects.filter(
                low_stock_threshold__gt=0, on_hand__lte=F("low_stock_threshold")
            )
            count = capped_count(qs)
            for level in qs.select_related("product", "warehouse").order_by("updated_at")[:limit]:
                items.append(
                    ExceptionItem(
                        kind=k,
                        order=None,
                        since=level.updated_at,
                        subject=f"{level.product.sku} at {level.warehouse.code}",
                        detail=f"{level.on_hand} on hand, alert at {level.low_stock_threshold}",
                    )
                )
        out[k] = {
            "label": EXCEPTION_KINDS[k],
            "count": count,
            "count_label": count_label(count),
            "items": items,
        }
    return out


def late_shipments(*, now: datetime) -> QuerySet[Shipment]:
    """Shipments in transit for longer than their service level promises (72 h without one)."""
    from datetime import timedelta

    from django.db.models import DateTimeField, DurationField, ExpressionWrapper

    deadline = ExpressionWrapper(
        F("dispatched_at")
        + Coalesce(F("service_level__max_transit_hours"), Value(DEFAULT_TRANSIT_HOURS))
        * Value(timedelta(hours=1), output_field=DurationField()),
        output_field=DateTimeField(),
    )
    return (
        Shipment.objects.filter(status__in=IN_TRANSIT_STATUSES, dispatched_at__isnull=False)
        .alias(deadline=deadline)
        .filter(deadline__lt=now)
    )


DASHBOARD_CACHE_SECONDS = 60


def dashboard_figures_cached(*, days: int = 14) -> dict:
    """dashboard_figures, shared by every manager for a minute (aggregates over all orders)."""
    from django.core.cache import cache
    from django.utils import timezone

    key = f"backoffice:dashboard:{days}:{timezone.get_current_timezone_name()}"
    try:
        figures = cache.get(key)
    except Exception:  # a cache outage must not take the dashboard down
        logger.warning("dashboard cache unavailable", exc_info=True)
        figures = None
    if figures is None:
        figures = dashboard_figures(days=days)
        figures["stock_alerts"] = [
            {
                "sku": level.product.sku,
                "warehouse": level.warehouse.code,
                "on_hand": level.on_hand,
                "threshold": level.low_stock_threshold,
            }
            for level in figures["stock_alerts"]
        ]
        figures["computed_at"] = timezone.now()
        try:
            cache.set(key, figures, DASHBOARD_CACHE_SECONDS)
        except Exception:
            logger.warning("dashboard cache unavailable", exc_info=True)
    return figures


def dashboard_figures(*, days: int = 14) -> dict:
    """Everything the operations dashboard draws, in a handful of aggregate queries."""
    from datetime import timedelta

    from django.db.models.functions import TruncDate
    from django.utils import timezone

    now = timezone.now()
    since = (now - timedelta(days=days - 1)).replace(hour=0, minute=0, second=0, microsecond=0)
    tz = timezone.get_current_timezone()
    per_day = (
        Order.objects.filter(created_at__gte=since)
        .annotate(day=TruncDate("created_at", tzinfo=tz))
        .values("day", "channel__code")
        .annotate(n=Count("id"))
        .order_by()
    )
    day_list = [(since + timedelta(days=i)).date() for i in range(days)]
    channels: dict[str, list[int]] = {}
    for row in per_day:
        values = channels.setdefault(row["channel__code"], [0] * days)
        index = (row["day"] - day_list[0]).days
        if 0 <= index < days:
            values[index] += row["n"]

    open_statuses = [
        Order.Status.RECEIVED,
        Order.Status.ON_HOLD,
        Order.Status.BACKORDERED,
        Order.Status.ALLOCATED,
        Order.Status.IN_FULFILMENT,
        Order.Status.PARTIALLY_SHIPPED,
    ]
    backlog_rows = {
        row["status"]: row["n"]
        for row in Order.objects.filter(status__in=open_statuses)
        .values("status")
        .annotate(n=Count("id"))
        .order_by()
    }
    backlog = [(Order.Status(s).label, backlog_rows.get(s, 0)) for s in open_statuses]

    delivered_since = now - timedelta(days=30)
    on_time = Q(
        delivered_at__lte=F("dispatched_at")
        + Coalesce(F("service_level__max_transit_hours"), Value(DEFAULT_TRANSIT_HOURS))
        * Value(timedelta(hours=1))
    )
    delivery_rows = (
        Shipment.objects.filter(
            status=Shipment.Status.DELIVERED,
            delivered_at__gte=delivered_since,
            dispatched_at__isnull=False,
        )
        .values("provider__code")
        .annotate(total=Count("id"), on_time=Count("id", filter=on_time))
        .order_by("provider__code")
    )
    on_time_pct = [
        (row["provider__code"], round(100 * row["on_time"] / row["total"], 1))
        for row in delivery_rows
        if row["total"]
    ]
    exception_rows = (
        Shipment.objects.filter(
            status__in=[*TRACKING_EXCEPTION_STATUSES, Shipment.Status.DISPATCH_FAILED]
        )
        .values("provider__code")
        .annotate(n=Count("id"))
        .order_by("-n")
    )
    exceptions = [(row["provider__code"], row["n"]) for row in exception_rows]
    stock_alerts = list(
        StockLevel.objects.filter(low_stock_threshold__gt=0, on_hand__lte=F("low_stock_threshold"))
        .select_related("product", "warehouse")
        .order_by("on_hand")[:10]
    )
    return {
        "days": [d.strftime("%d %b") for d in day_list],
        "orders_per_day": channels,
        "orders_total": sum(sum(v) for v in channels.values()),
        "backlog": backlog,
        "backlog_total": sum(n for _, n in backlog),
        "on_time": on_time_pct,
        "exceptions": exceptions,
        "stock_alerts": stock_alerts,
    }
