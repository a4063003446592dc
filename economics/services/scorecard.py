"""The provider scorecard's daily aggregates (economics.ProviderDay, docs/economics.md).

A day is recomputed whole from the source tables (logistics, returns, economics) with
one grouped query per figure, then its rows are replaced in one transaction: running
it twice, or for a day that already has rows, gives the same rows. Beat recomputes
the last `SCORECARD_RECOMPUTE_DAYS` days every `SCORECARD_SWEEP_SECONDS`;
`manage.py scorecard_backfill` fills any range once.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import (
    Case,
    Count,
    DateTimeField,
    DurationField,
    ExpressionWrapper,
    F,
    FloatField,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Cast, Extract, Floor, Least, Ln
from django.utils import timezone

from economics.histogram import BUCKETS, STEPS_PER_DOUBLING
from economics.models import ProviderDay, ShipmentCost, SweepCursor
from inventory.models import InboundReceipt, InboundShipment
from logistics.models import InboundWebhook, Shipment, TrackingEvent, TrackingStatus
from returns.models import ReturnRequest

LOCK = "scorecard"
EXCEPTION_STATUSES = (
    TrackingStatus.EXCEPTION,
    TrackingStatus.FAILED_ATTEMPT,
    TrackingStatus.RETURN_TO_SENDER,
)
# A label printed is not a scan: the first scan is the first event after dispatch
# that says the parcel is with the carrier.
NOT_A_SCAN = (TrackingStatus.PRE_TRANSIT, TrackingStatus.UNKNOWN, TrackingStatus.CANCELLED)


def day_bounds(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """The day's start and the next day's start in the configured time zone."""
    zone = timezone.get_default_timezone()
    start = dt.datetime.combine(day, dt.time.min, tzinfo=zone)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time.min, tzinfo=zone)
    return start, end


def _bucket(start: str, end: str) -> Case:
    """SQL for economics.histogram.bucket_of(end - start) (the same rule, in the database)."""
    seconds = Extract(ExpressionWrapper(F(end) - F(start), output_field=DurationField()), "epoch")
    ln_doubling = Value(math.log(2) / STEPS_PER_DOUBLING, output_field=FloatField())
    return Case(
        When(Q(**{f"{end}__lt": F(start) + dt.timedelta(seconds=1)}), then=Value(0)),
        default=Least(
            Value(BUCKETS - 1),
            Cast(Floor(Ln(Cast(seconds, FloatField())) / ln_doubling), IntegerField()) + 1,
        ),
        output_field=IntegerField(),
    )


def _histograms(
    rows: QuerySet[Any], *, provider: str, start: str, end: str
) -> dict[int, dict[str, int]]:
    """provider id → {bucket: count} of (end - start) over the rows, in one grouped query."""
    found: dict[int, dict[str, int]] = defaultdict(dict)
    grouped = (
        rows.filter(**{f"{start}__isnull": False, f"{end}__isnull": False})
        .annotate(bucket=_bucket(start, end))
        .values(provider, "bucket")
        .annotate(n=Count("pk"))
        .order_by()
    )
    for row in grouped:
        found[row[provider]][str(row["bucket"])] = row["n"]
    return found


def _first_scan() -> Subquery:
    return Subquery(
        TrackingEvent.objects.filter(
            shipment=OuterRef("pk"), occurred_at__gte=OuterRef("dispatched_at")
        )
        .exclude(status__in=NOT_A_SCAN)
        .order_by("occurred_at")
        .values("occurred_at")[:1],
        output_field=DateTimeField(),
    )


def _counts(rows: QuerySet[Any], provider: str, **counts: Any) -> dict[int, dict[str, int]]:
    return {
        row.pop(provider): row
        for row in rows.values(provider).annotate(**counts).order_by()
        if row[provider] is not None
    }


def provider_day_figures(*, day: dt.date) -> dict[int, dict[str, Any]]:
    """Provider id → the ProviderDay fields for that day, read from the source tables."""
    start, end = day_bounds(day)
    outbound = Shipment.objects.filter(direction=Shipment.Direction.OUTBOUND)
    figures: dict[int, dict[str, Any]] = defaultdict(dict)

    dispatched = outbound.filter(dispatched_at__gte=start, dispatched_at__lt=end)
    for pid, row in _counts(dispatched, "provider_id", shipments=Count("pk")).items():
        figures[pid].update(row)
    scanned = dispatched.annotate(first_scan=_first_scan())
    for pid, hist in _histograms(
        scanned, provider="provider_id", start="dispatched_at", end="first_scan"
    ).items():
        figures[pid]["to_first_scan"] = hist

    planned = outbound.filter(created_at__gte=start, created_at__lt=end)
    for pid, row in _counts(
        planned,
        "provider_id",
        planned=Count("pk"),
        dispatch_failed=Count("pk", filter=Q(status=Shipment.Status.DISPATCH_FAILED)),
    ).items():
        figures[pid].update(row)

    delivered = outbound.filter(delivered_at__gte=start, delivered_at__lt=end)
    judged = Q(dispatched_at__isnull=False, service_level__max_transit_hours__gt=0)
    promise = ExpressionWrapper(
        F("dispatched_at") + F("service_level__max_transit_hours") * dt.timedelta(hours=1),
        output_field=DateTimeField(),
    )
    for pid, row in _counts(
        delivered.annotate(promise=promise),
        "provider_id",
        delivered=Count("pk"),
        on_time_sample=Count("pk", filter=judged),
        on_time=Count("pk", filter=judged & Q(delivered_at__lte=F("promise"))),
    ).items():
        figures[pid].update(row)
    for pid, hist in _histograms(
        delivered.annotate(first_scan=_first_scan()),
        provider="provider_id",
        start="first_scan",
        end="delivered_at",
    ).items():
        figures[pid]["to_delivered"] = hist

    exceptions = (
        TrackingEvent.objects.filter(
            occurred_at__gte=start, occurred_at__lt=end, status__in=EXCEPTION_STATUSES
        )
        .values("shipment__provider_id", "status", "provider_status")
        .annotate(n=Count("shipment", distinct=True))
        .order_by()
    )
    for found in exceptions:
        status, detail = found["status"], found["provider_status"]
        reason = f"{status}: {detail}" if detail else status
        reasons = figures[found["shipment__provider_id"]].setdefault("exceptions", {})
        reasons[reason] = reasons.get(reason, 0) + found["n"]

    events = TrackingEvent.objects.filter(received_at__gte=start, received_at__lt=end)
    for pid, hist in _histograms(
        events, provider="shipment__provider_id", start="occurred_at", end="received_at"
    ).items():
        figures[pid]["event_latency"] = hist

    webhooks = InboundWebhook.objects.filter(received_at__gte=start, received_at__lt=end)
    for pid, row in _counts(
        webhooks,
        "provider_id",
        webhooks=Count("pk"),
        webhooks_refused=Count("pk", filter=Q(status=InboundWebhook.Status.FAILED)),
    ).items():
        figures[pid].update(row)

    returns = ReturnRequest.objects.filter(
        received_at__gte=start, received_at__lt=end, warehouse__provider__isnull=False
    )
    for pid, row in _counts(
        returns, "warehouse__provider_id", returns_received=Count("pk")
    ).items():
        figures[pid].update(row)
    for pid, hist in _histograms(
        returns, provider="warehouse__provider_id", start="created_at", end="received_at"
    ).items():
        figures[pid]["return_processing"] = hist

    # Dock to stock: the ASN has no arrival time of its own; its first receipt is when the
    # goods were on the dock, and it is closed (`received`) when the last is put away.
    closed = InboundShipment.objects.filter(
        closed_at__gte=start,
        closed_at__lt=end,
        status=InboundShipment.Status.RECEIVED,
        warehouse__provider__isnull=False,
    ).annotate(
        arrived=Subquery(
            InboundReceipt.objects.filter(line__inbound=OuterRef("pk"))
            .order_by("created_at")
            .values("created_at")[:1],
            output_field=DateTimeField(),
        )
    )
    for pid, hist in _histograms(
        closed, provider="warehouse__provider_id", start="arrived", end="closed_at"
    ).items():
        figures[pid]["dock_to_stock"] = hist

    costs = (
        ShipmentCost.objects.filter(
            shipment__direction=Shipment.Direction.OUTBOUND,
            shipment__dispatched_at__gte=start,
            shipment__dispatched_at__lt=end,
            total__isnull=False,
        )
        .values("shipment__provider_id", "currency")
        .annotate(total=Sum("total"), n=Count("pk"), orders=Count("shipment__order", distinct=True))
        .order_by()
    )
    for cost in costs:
        figure = figures[cost["shipment__provider_id"]]
        totals = figure.setdefault("cost_totals", {})
        totals[cost["currency"]] = str(Decimal(cost["total"]).quantize(Decimal("0.0001")))
        figure["cost_shipments"] = figure.get("cost_shipments", 0) + cost["n"]
        figure["cost_orders"] = figure.get("cost_orders", 0) + cost["orders"]
    return dict(figures)


def provider_day_compute(*, day: dt.date) -> int | None:
    """Replace the day's ProviderDay rows with freshly computed ones; returns how many.

    None when another run holds the scorecard lock (it is doing the same work).
    """
    with transaction.atomic():
        SweepCursor.objects.get_or_create(name=LOCK)
        if (
            SweepCursor.objects.select_for_update(skip_locked=True).filter(name=LOCK).first()
            is None
        ):
            return None
        figures = provider_day_figures(day=day)
        now = timezone.now()
        ProviderDay.objects.filter(day=day).delete()
        ProviderDay.objects.bulk_create(
            ProviderDay(provider_id=pid, day=day, computed_at=now, **fields)
            for pid, fields in sorted(figures.items())
        )
        return len(figures)


def _days(first: dt.date, last: dt.date) -> Iterable[dt.date]:
    day = first
    while day <= last:
        yield day
        day += dt.timedelta(days=1)


def provider_days_backfill(*, first: dt.date, last: dt.date) -> int:
    """Compute every day from first to last (inclusive); returns the rows written."""
    return sum(provider_day_compute(day=day) or 0 for day in _days(first, last))


def provider_days_refresh(*, days: int | None = None) -> int:
    """Recompute today and the days before it (SCORECARD_RECOMPUTE_DAYS in all)."""
    days = days if days is not None else settings.SCORECARD_RECOMPUTE_DAYS
    today = timezone.localdate()
    return provider_days_backfill(first=today - dt.timedelta(days=max(1, days) - 1), last=today)
