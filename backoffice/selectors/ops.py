"""Operations: exception queue and dashboard figures."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db.models import (
    Count,
    DateTimeField,
    DurationField,
    Exists,
    F,
    Func,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from backoffice.selectors._common import _ordered_by_status, capped_count, count_label
from inventory.models import (
    Allocation,
    StockLevel,
    StockSnapshot,
    StockSnapshotLine,
)
from logistics.models import (
    AsnOutbox,
    DispatchOutbox,
    InboundWebhook,
    Shipment,
    ShipmentStatusGroups,
    WebhookEndpoint,
)
from logistics.picking_selectors import short_picks_open
from logistics.promise import at_risk_from
from logistics.promise_tables import DEFAULT_CALENDAR, promise_tables
from logistics.selectors import label_purchases_unsettled
from orders.models import PROMISE_OPEN_STATUSES, Hold, Order
from orders.numbers import PREFIX as ORDER_NUMBER_PREFIX

logger = logging.getLogger(__name__)


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
    # Stock alerts: the level the row is about (the row links to its stock page).
    stock_level_id: int | None = None
    # ASNs refused by the LSP: the ASN the row is about (links to its receiving page).
    inbound_id: int | None = None
    # Disabled partner webhook endpoints: the endpoint the row offers to enable again.
    webhook_endpoint_id: int | None = None

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
    "webhook_failed": "Unprocessable LSP webhooks",
    "asn_refused": "ASNs refused by the LSP",
    "webhook_endpoint_disabled": "Disabled partner webhook endpoints",
    "promise_at_risk": "Delivery promise at risk",
    "label_unknown": "Label purchases with an unknown outcome",
    "short_pick": "Short picks (own sites)",
}
# Sorted: the queue reads one index range per status, in a stable order.
TRACKING_EXCEPTION_STATUSES = sorted(ShipmentStatusGroups.TRACKING_EXCEPTION)
IN_TRANSIT_STATUSES = sorted(ShipmentStatusGroups.IN_TRANSIT)
DEFAULT_TRANSIT_HOURS = 72


@dataclass(frozen=True)
class _QueueFilter:
    """What every kind of the exception queue is asked for."""

    now: datetime
    channel_code: str
    order_filter: Q
    backorder_days: int
    owner: User | None
    limit: int


_KindRows = tuple[int, list[ExceptionItem]]


def _hold_rows(kind: str, f: _QueueFilter) -> _KindRows:
    qs = Hold.objects.filter(released_at__isnull=True).filter(f.order_filter)
    if f.owner is not None:
        qs = qs.filter(owner=f.owner)
    items = [
        ExceptionItem(
            kind=kind,
            order=hold.order,
            since=hold.created_at,
            subject=hold.get_reason_display(),
            detail=hold.note,
            owner=hold.owner.get_username() if hold.owner else "",
            due_at=hold.due_at,
        )
        for hold in qs.select_related("order", "owner").order_by("created_at")[: f.limit]
    ]
    return capped_count(qs), items


def _backorder_rows(kind: str, f: _QueueFilter) -> _KindRows:
    qs = Order.objects.filter(
        status=Order.Status.BACKORDERED,
        created_at__lt=f.now - timedelta(days=f.backorder_days),
    )
    if f.channel_code:
        qs = qs.filter(channel__code=f.channel_code)
    items = [
        ExceptionItem(kind=kind, order=order, since=order.created_at, subject="Backordered")
        for order in qs.order_by("created_at")[: f.limit]
    ]
    return capped_count(qs), items


def _shipment_items(kind: str, shipments: list[Shipment]) -> list[ExceptionItem]:
    return [
        ExceptionItem(
            kind=kind,
            order=shipment.order,
            since=shipment.dispatched_at
            if kind == "late" and shipment.dispatched_at is not None
            else shipment.updated_at,
            subject=f"SHP-{shipment.pk} {shipment.get_status_display()}",
            detail=shipment.last_error,
            provider=shipment.provider.code,
        )
        for shipment in shipments
    ]


def _shipments_by_status(
    qs: QuerySet[Shipment], statuses: Sequence[str], f: _QueueFilter
) -> tuple[int, list[Shipment]]:
    qs = qs.filter(f.order_filter)
    count = capped_count(qs.filter(status__in=statuses))
    shipments = _ordered_by_status(
        qs.select_related("order", "provider"),
        statuses=list(statuses),
        order="updated_at",
        limit=f.limit,
    )
    return count, shipments


def _dispatch_failed_rows(kind: str, f: _QueueFilter) -> _KindRows:
    count, shipments = _shipments_by_status(
        Shipment.objects.all(), [Shipment.Status.DISPATCH_FAILED], f
    )
    # Parked dispatches whose parcel moved anyway: the provider had the shipment (e.g.
    # it answered with a reference another shipment holds) and its tracking moved the
    # status on. They still need a person.
    moved_on = dispatch_parked_but_moving().filter(f.order_filter)
    count += capped_count(moved_on)
    shipments += list(
        moved_on.select_related("order", "provider").order_by("updated_at")[: f.limit]
    )
    return count, _shipment_items(kind, shipments)


def _tracking_exception_rows(kind: str, f: _QueueFilter) -> _KindRows:
    count, shipments = _shipments_by_status(Shipment.objects.all(), TRACKING_EXCEPTION_STATUSES, f)
    return count, _shipment_items(kind, shipments)


def _late_rows(kind: str, f: _QueueFilter) -> _KindRows:
    count, shipments = _shipments_by_status(late_shipments(now=f.now), IN_TRANSIT_STATUSES, f)
    return count, _shipment_items(kind, shipments)


def _stock_discrepancy_rows(kind: str, f: _QueueFilter) -> _KindRows:
    qs = StockSnapshotLine.objects.filter(snapshot__status=StockSnapshot.Status.OPEN).exclude(
        lsp_on_hand=F("consign_on_hand")
    )
    items = [
        ExceptionItem(
            kind=kind,
            order=None,
            since=line.snapshot.taken_at,
            subject=f"{line.product.sku} at {line.snapshot.warehouse.code}",
            detail=(
                f"LSP {line.lsp_on_hand}, ours {line.consign_on_hand} "
                f"({line.difference:+d}); snapshot {line.snapshot_id}"
            ),
        )
        for line in qs.select_related("product", "snapshot__warehouse").order_by(
            "snapshot__taken_at", "id"
        )[: f.limit]
    ]
    return capped_count(qs), items


def _webhook_failed_rows(kind: str, f: _QueueFilter) -> _KindRows:
    # Parked after TRACKING_WEBHOOK_MAX_ATTEMPTS failed processing attempts; they belong
    # to no channel, so the channel filter does not apply.
    qs = InboundWebhook.objects.filter(status=InboundWebhook.Status.FAILED)
    items = [
        ExceptionItem(
            kind=kind,
            order=None,
            since=webhook.received_at,
            subject=f"Webhook {webhook.webhook_id} ({webhook.attempts} attempts)",
            detail=webhook.error,
            provider=webhook.provider.code,
        )
        for webhook in qs.select_related("provider").order_by("received_at")[: f.limit]
    ]
    return capped_count(qs), items


def _asn_refused_rows(kind: str, f: _QueueFilter) -> _KindRows:
    # ASNs the LSP refused or that could not be sent after every retry (the ASN outbox
    # parked them); a person fixes the cause and retries from the ASN's page.
    qs = AsnOutbox.objects.filter(status__in=[AsnOutbox.Status.REJECTED, AsnOutbox.Status.FAILED])
    if f.channel_code:
        qs = qs.filter(inbound__channel__code=f.channel_code)
    items = [
        ExceptionItem(
            kind=kind,
            order=None,
            since=row.updated_at,
            subject=f"{row.inbound.number} {row.inbound.reference} → {row.inbound.warehouse.code}",
            detail=row.last_error,
            provider=row.inbound.warehouse.provider.code if row.inbound.warehouse.provider else "",
            inbound_id=row.inbound_id,
        )
        for row in qs.select_related("inbound__warehouse__provider").order_by("updated_at")[
            : f.limit
        ]
    ]
    return capped_count(qs), items


def _webhook_endpoint_disabled_rows(kind: str, f: _QueueFilter) -> _KindRows:
    # Disabled by the auto-disable sweep (every delivery failed for
    # PARTNER_WEBHOOK_DISABLE_AFTER_HOURS); ones the partner switched off are theirs.
    qs = WebhookEndpoint.objects.filter(active=False, failing_since__isnull=False)
    if f.channel_code:
        qs = qs.filter(channel__code=f.channel_code)
    items = [
        ExceptionItem(
            kind=kind,
            order=None,
            since=endpoint.disabled_at or endpoint.updated_at,
            subject=f"{endpoint.channel.code}: {endpoint.url}",
            detail=endpoint.disabled_reason,
            webhook_endpoint_id=endpoint.pk,
        )
        for endpoint in qs.select_related("channel").order_by("disabled_at", "id")[: f.limit]
    ]
    return capped_count(qs), items


def _stock_rows(kind: str, f: _QueueFilter) -> _KindRows:
    qs = StockLevel.objects.low()
    items = [
        ExceptionItem(
            kind=kind,
            order=None,
            since=level.updated_at,
            subject=f"{level.product.sku} at {level.warehouse.code}",
            detail=low_stock_detail(level),
            stock_level_id=level.pk,
        )
        for level in qs.select_related("product", "warehouse").order_by("updated_at")[: f.limit]
    ]
    return capped_count(qs), items


class _SiteInstant(Func):
    """`(day + clock - margin) AT TIME ZONE zone`: a site's wall-clock time on a day as an
    instant (the margin taken off the wall clock, as logistics.promise.at_risk_from does)."""

    output_field = DateTimeField()

    def as_sql(self, compiler, connection, **extra_context):
        parts = [compiler.compile(e) for e in self.get_source_expressions()]
        (day, p1), (clock, p2), (margin, p3), (zone, p4) = parts
        return (
            f"((({day}) + ({clock}) - ({margin})) AT TIME ZONE ({zone}))",
            [*p1, *p2, *p3, *p4],
        )


def promise_at_risk_orders(*, now: datetime, channel_code: str = "") -> QuerySet[Order]:
    """Orders not yet handed to their provider whose ship-by is at risk (docs/routing.md).

    Open (allocated, backordered, on hold, or in fulfilment with a shipment still pending
    or failed at dispatch) with a ship-by day on which a site of theirs (a waiting
    shipment's, else an active allocation's) is past its cut-off minus
    PROMISE_AT_RISK_MINUTES, or any earlier day. An order with no site yet is measured
    by the default calendar. Read through the partial index order_promise_open: only
    orders whose ship-by is at most a day and the margin ahead of `now` are looked at.
    """
    minutes = settings.PROMISE_AT_RISK_MINUTES
    margin = Value(timedelta(minutes=minutes), output_field=DurationField())
    # No zone is more than 14 hours ahead of UTC: a later ship-by cannot be at risk yet.
    latest = (now.astimezone(UTC) + timedelta(hours=14, minutes=minutes)).date()
    waiting = Shipment.objects.filter(
        order_id=OuterRef("pk"),
        direction=Shipment.Direction.OUTBOUND,
        status__in=sorted(ShipmentStatusGroups.AWAITING_PROVIDER),
    )
    allocated = Allocation.objects.filter(
        order_line__order_id=OuterRef("pk"), status=Allocation.Status.ACTIVE
    )

    def late(qs: QuerySet[Any]) -> Exists:
        at = _SiteInstant(
            OuterRef("ship_by"), F("warehouse__cutoff_time"), margin, F("warehouse__timezone")
        )
        return Exists(qs.alias(risk_at=at).filter(risk_at__lte=now))

    default_day = _default_last_day_at_risk(now=now, minutes=minutes)
    qs = Order.objects.filter(
        status__in=PROMISE_OPEN_STATUSES, ship_by__isnull=False, ship_by__lte=latest
    )
    if channel_code:
        qs = qs.filter(channel__code=channel_code)
    return qs.filter(
        late(waiting)
        | (
            ~Q(status=Order.Status.IN_FULFILMENT)
            & (
                late(allocated)
                | (~Exists(waiting) & ~Exists(allocated) & Q(ship_by__lte=default_day))
            )
        )
    ).annotate(
        site_id=Coalesce(
            Subquery(waiting.order_by("ship_by", "pk").values("warehouse_id")[:1]),
            Subquery(allocated.order_by("pk").values("warehouse_id")[:1]),
        ),
        site_code=Coalesce(
            Subquery(waiting.order_by("ship_by", "pk").values("warehouse__code")[:1]),
            Subquery(allocated.order_by("pk").values("warehouse__code")[:1]),
        ),
    )


def _default_last_day_at_risk(*, now: datetime, minutes: int) -> date:
    """The latest ship-by day at risk at `now` for a site with the default calendar."""
    # At risk from (cut-off - margin) on the day: the day whose risk instant is <= now.
    local = DEFAULT_CALENDAR.local(now)
    day = local.date()
    if at_risk_from(DEFAULT_CALENDAR, day, minutes) <= now:
        return day
    return day - timedelta(days=1)


def _short_day(day: date) -> str:
    return f"{day:%a} {day.day} {day:%b}"  # "Mon 7 Dec"


def _promise_at_risk_rows(kind: str, f: _QueueFilter) -> _KindRows:
    qs = promise_at_risk_orders(now=f.now, channel_code=f.channel_code)
    rows = list(qs.order_by("ship_by", "id")[: f.limit])
    tables = promise_tables() if rows else None
    minutes = settings.PROMISE_AT_RISK_MINUTES
    items = []
    for order in rows:
        row: Any = order  # with the site_id and site_code annotations
        ship_by = order.ship_by
        if ship_by is None:  # excluded by the query; narrows the type
            continue
        calendar = tables.calendar(row.site_id) if tables and row.site_id else DEFAULT_CALENDAR
        site = row.site_code or "no site yet"
        items.append(
            ExceptionItem(
                kind=kind,
                order=order,
                since=at_risk_from(calendar, ship_by, minutes),
                subject=f"Ship by {_short_day(ship_by)} from {site}",
                detail=(
                    f"{order.get_status_display()}; promised for "
                    f"{_short_day(order.promised_delivery_date)}"
                    if order.promised_delivery_date
                    else order.get_status_display()
                ),
                due_at=calendar.cutoff_at(ship_by),
            )
        )
    return capped_count(qs), items


def _label_unknown_rows(kind: str, f: _QueueFilter) -> _KindRows:
    # A label purchase whose answer was lost (or whose worker died): it may have bought a
    # label. Never retried by itself; a person checks with the carrier and settles it.
    qs = label_purchases_unsettled()
    if f.channel_code:
        qs = qs.filter(shipment__order__channel__code=f.channel_code)
    items = [
        ExceptionItem(
            kind=kind,
            order=row.shipment.order,
            since=row.started_at,
            subject=f"SHP-{row.shipment_id}: {row.carrier_account.code} {row.service}",
            detail=row.error or "The purchase never came back (its worker stopped).",
            provider=row.carrier_account.code,
        )
        for row in qs[: f.limit]
    ]
    return capped_count(qs), items


def _short_pick_rows(kind: str, f: _QueueFilter) -> _KindRows:
    # A picker found fewer units in a bin than it should hold: the missing units were
    # re-allocated automatically, but the bin wants counting and a ship-complete order's
    # shipment waits. Listed until the shipment is packed.
    qs = short_picks_open()
    if f.channel_code:
        qs = qs.filter(shipment__order__channel__code=f.channel_code)
    items = [
        ExceptionItem(
            kind=kind,
            order=task.shipment.order,
            since=task.picked_at or task.wave.created_at,
            subject=(
                f"{task.product.sku} short at {task.bin.code} ({task.wave.warehouse.code} "
                f"{task.wave.code})"
            ),
            detail=(
                f"found {task.picked_quantity} of {task.quantity}; SHP-{task.shipment_id} "
                + ("waits (ship complete)" if task.holds_shipment else "goes on")
            ),
            owner=task.picked_by.get_username() if task.picked_by else "",
        )
        for task in qs.select_related(
            "shipment__order", "product", "bin", "wave__warehouse", "picked_by"
        ).order_by("picked_at", "pk")[: f.limit]
    ]
    return capped_count(qs), items


# One query builder per kind of EXCEPTION_KINDS: its total count and its oldest items.
_KIND_ROWS: dict[str, Callable[[str, _QueueFilter], _KindRows]] = {
    "hold": _hold_rows,
    "backorder": _backorder_rows,
    "dispatch_failed": _dispatch_failed_rows,
    "tracking_exception": _tracking_exception_rows,
    "late": _late_rows,
    "stock": _stock_rows,
    "stock_discrepancy": _stock_discrepancy_rows,
    "webhook_failed": _webhook_failed_rows,
    "asn_refused": _asn_refused_rows,
    "webhook_endpoint_disabled": _webhook_endpoint_disabled_rows,
    "promise_at_risk": _promise_at_risk_rows,
    "label_unknown": _label_unknown_rows,
    "short_pick": _short_pick_rows,
}


def exception_queue(
    *,
    kind: str = "",
    channel_code: str = "",
    backorder_days: int = 3,
    owner: User | None = None,
    limit: int = 200,
    now: datetime | None = None,
) -> dict[str, dict[str, Any]]:
    """The operations exception queue, per kind: the oldest `limit` items and the total count.

    `now` (default: the current time) is the moment the time-dependent kinds (late
    shipments, old backorders, promises at risk) are judged at."""
    queue_filter = _QueueFilter(
        now=now or timezone.now(),
        channel_code=channel_code,
        order_filter=Q(order__channel__code=channel_code) if channel_code else Q(),
        backorder_days=backorder_days,
        owner=owner,
        limit=limit,
    )
    kinds = [kind] if kind in EXCEPTION_KINDS else list(EXCEPTION_KINDS)
    out: dict[str, dict[str, Any]] = {}
    for k in kinds:
        count, items = _KIND_ROWS[k](k, queue_filter)
        out[k] = {
            "label": EXCEPTION_KINDS[k],
            "count": count,
            "count_label": count_label(count),
            "items": items,
        }
    return out


def low_stock_detail(level: StockLevel) -> str:
    """What a stock alert row says: the figures the low-stock rule compares."""
    return (
        f"{level.available} available ({level.on_hand} on hand, {level.reserved} reserved), "
        f"alert at {level.low_stock_threshold}"
    )


def dispatch_parked_but_moving() -> QuerySet[Shipment]:
    """Shipments whose dispatch was parked for a person but whose status moved on anyway."""
    return Shipment.objects.filter(
        outbox__status__in=[DispatchOutbox.Status.REJECTED, DispatchOutbox.Status.FAILED],
        provider_reference="",
    ).exclude(status=Shipment.Status.DISPATCH_FAILED)


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
DASHBOARD_STOCK_ALERTS = 10
DASHBOARD_EXCEPTION_STATUSES = [*TRACKING_EXCEPTION_STATUSES, Shipment.Status.DISPATCH_FAILED]


def dashboard_figures_cached(
    *, days: int = 14, start: date | None = None, end: date | None = None
) -> dict:
    """dashboard_figures, shared by every manager for a minute (aggregates over all orders)."""
    from django.core.cache import cache
    from django.utils import timezone

    window = f"{start}:{end}" if start and end else str(days)
    key = f"backoffice:dashboard:v2:{window}:{timezone.get_current_timezone_name()}"
    try:
        figures = cache.get(key)
    except Exception:  # a cache outage must not take the dashboard down
        logger.warning("dashboard cache unavailable", exc_info=True)
        figures = None
    if figures is None:
        figures = dashboard_figures(days=days, start=start, end=end)
        figures["stock_alerts"] = [
            {
                "id": level.pk,
                "sku": level.product.sku,
                "warehouse": level.warehouse.code,
                "available": level.available,
                "on_hand": level.on_hand,
                "reserved": level.reserved,
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


DASHBOARD_DELIVERY_DAYS = 30


def dashboard_figures(
    *, days: int = 14, start: date | None = None, end: date | None = None
) -> dict:
    """Everything the operations dashboard draws, in a handful of aggregate queries.

    With `start` and `end` (dates in the current time zone, both included) orders per
    day and on-time delivery cover that range; without, orders cover the last `days`
    days and on-time delivery the last DASHBOARD_DELIVERY_DAYS. Backlog, exceptions and
    stock alerts are always as of now.
    """
    from datetime import time, timedelta

    from django.db.models.functions import TruncDate
    from django.utils import timezone

    now = timezone.now()
    tz = timezone.get_current_timezone()
    ranged = start is not None and end is not None
    if start is None or end is None:  # not ranged
        end = timezone.localdate(now)
        start = end - timedelta(days=days - 1)
    days = (end - start).days + 1
    since = datetime.combine(start, time.min, tzinfo=tz)
    until = datetime.combine(end + timedelta(days=1), time.min, tzinfo=tz)
    per_day = (
        Order.objects.filter(created_at__gte=since, created_at__lt=until)
        .annotate(day=TruncDate("created_at", tzinfo=tz))
        .values("day", "channel__code")
        .annotate(n=Count("id"))
        .order_by()
    )
    day_list = [start + timedelta(days=i) for i in range(days)]
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

    if ranged:
        delivered_since, delivered_until = since, until
    else:
        delivered_since, delivered_until = now - timedelta(days=DASHBOARD_DELIVERY_DAYS), now
    on_time = Q(
        delivered_at__lte=F("dispatched_at")
        + Coalesce(F("service_level__max_transit_hours"), Value(DEFAULT_TRANSIT_HOURS))
        * Value(timedelta(hours=1))
    )
    delivery_rows = (
        Shipment.objects.filter(
            status=Shipment.Status.DELIVERED,
            delivered_at__gte=delivered_since,
            delivered_at__lt=delivered_until,
            dispatched_at__isnull=False,
        )
        .values("provider__code", "provider_id")
        .annotate(total=Count("id"), on_time=Count("id", filter=on_time))
        .order_by("provider__code")
    )
    on_time_rows = [
        (row["provider__code"], row["on_time"], row["total"], row["provider_id"])
        for row in delivery_rows
        if row["total"]
    ]
    on_time_pct = [(code, round(100 * n / total, 1)) for code, n, total, _ in on_time_rows]
    exception_rows = (
        Shipment.objects.filter(status__in=DASHBOARD_EXCEPTION_STATUSES)
        .values("provider__code", "provider_id")
        .annotate(n=Count("id"))
        .order_by("-n", "provider__code")
    )
    exceptions = [(row["provider__code"], row["n"]) for row in exception_rows]
    exception_provider_ids = [row["provider_id"] for row in exception_rows]
    low_stock = StockLevel.objects.low()
    stock_alerts_count = capped_count(low_stock)
    # The ten furthest below their threshold first.
    stock_alerts = list(
        low_stock.select_related("product", "warehouse").order_by(
            F("on_hand") - F("reserved") - F("low_stock_threshold"), "pk"
        )[:DASHBOARD_STOCK_ALERTS]
    )
    return {
        "days": [d.strftime("%d %b") for d in day_list],
        "orders_per_day": channels,
        "orders_total": sum(sum(v) for v in channels.values()),
        "backlog": backlog,
        "backlog_total": sum(n for _, n in backlog),
        "on_time": on_time_pct,
        # (provider, on time, delivered, provider id): the sample behind each percentage.
        "on_time_samples": on_time_rows,
        "on_time_since": delivered_since,
        "on_time_until": delivered_until,
        "orders_since": since,
        "orders_until": until,
        "range_start": start,
        "range_end": end,
        "ranged": ranged,
        "backlog_statuses": [str(s) for s in open_statuses],
        "exceptions": exceptions,
        "exception_provider_ids": exception_provider_ids,
        "stock_alerts": stock_alerts,
        "stock_alerts_count": stock_alerts_count,
        "stock_alerts_count_label": count_label(stock_alerts_count),
    }


def hold_owner_candidates():
    """Active staff who may place holds (and so follow them up), by username."""
    from django.contrib.auth import get_user_model

    may_hold = (
        Q(is_superuser=True)
        | Q(
            groups__permissions__codename="place_hold",
            groups__permissions__content_type__app_label="orders",
        )
        | Q(
            user_permissions__codename="place_hold",
            user_permissions__content_type__app_label="orders",
        )
    )
    return (
        get_user_model()
        .objects.filter(is_active=True, is_staff=True)
        .filter(pk__in=get_user_model().objects.filter(may_hold).values("pk"))
        .order_by("username")
    )


# --- Bulk actions: what a typed list of order numbers means -------------------------

_BULK_ENTRY_SPLIT = re.compile(r"[\s,;]+")
_FULL_ORDER_NUMBER = re.compile(rf"^{re.escape(ORDER_NUMBER_PREFIX)}\d{{6,18}}$")
NOT_AN_ORDER_NUMBER = f"not an order number (they look like {ORDER_NUMBER_PREFIX}000123)"
NO_SUCH_ORDER = "no order has this number"


@dataclass
class BulkSelection:
    """A typed list of order numbers, entry by entry, before anything is done to it."""

    # Every entry as typed, in input order (what the result CSV reports on, line by line).
    entries: list[str]
    # Distinct orders found, in input order.
    order_ids: list[int]
    # Entries that name no order, with why, in input order.
    unrecognised: list[tuple[str, str]]

    @property
    def duplicates(self) -> int:
        return len(self.entries) - len(self.order_ids) - len(self.unrecognised)


def bulk_entries_split(*, text: str) -> list[str]:
    return [entry for entry in _BULK_ENTRY_SPLIT.split(text) if entry]


def bulk_numbers_resolve(*, text: str) -> BulkSelection:
    """Resolve typed order numbers (any case) in one query.

    Only full numbers count: a bare "55" could be meant as CS-000055 or be a typo, and a
    bulk hold on a guessed order is worse than asking again.
    """
    entries = bulk_entries_split(text=text)
    wanted = {e.upper() for e in entries if _FULL_ORDER_NUMBER.match(e.upper())}
    found = dict(Order.objects.filter(number__in=wanted).values_list("number", "id"))
    order_ids: list[int] = []
    unrecognised: list[tuple[str, str]] = []
    seen: set[int] = set()
    for entry in entries:
        order_id = found.get(entry.upper())
        if order_id is None:
            why = NO_SUCH_ORDER if entry.upper() in wanted else NOT_AN_ORDER_NUMBER
            unrecognised.append((entry, why))
        elif order_id not in seen:
            seen.add(order_id)
            order_ids.append(order_id)
    return BulkSelection(entries=entries, order_ids=order_ids, unrecognised=unrecognised)


def bulk_status_resolve(*, status: str, channel_code: str = "", limit: int) -> list[int]:
    """Ids of the orders in `status` (and channel), oldest first, at most `limit`."""
    qs = Order.objects.filter(status=status)
    if channel_code:
        qs = qs.filter(channel__code=channel_code)
    return list(qs.order_by("created_at", "id").values_list("id", flat=True)[:limit])
