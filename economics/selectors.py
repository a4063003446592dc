"""Reads of LSP economics: which card prices a provider's work on a day."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db.models import Count, Sum

from economics import histogram, pricing
from economics.models import (
    Dispute,
    Invoice,
    ProviderDay,
    RateCard,
    ShipmentCharge,
    ShipmentCost,
)
from logistics.models import Provider
from orders.iso import currency_places


def rate_card_in_force(*, provider_id: int, on: dt.date) -> RateCard | None:
    """The active card of the provider on that day, if any (at most one: the database says so)."""
    return (
        RateCard.objects.filter(provider_id=provider_id, status=RateCard.Status.ACTIVE)
        .filter(valid_from__lte=on)
        .exclude(valid_to__lte=on)
        .first()
    )


@dataclass(frozen=True)
class ExpectedCost:
    """A shipment's expected cost and its charge lines, for the desk and the ops screens."""

    cost: ShipmentCost
    lines: tuple[ShipmentCharge, ...]


def expected_costs_for(*, shipment_ids: Sequence[int]) -> dict[int, ExpectedCost]:
    """Shipment id → its expected cost (two queries; shipments not priced yet are absent)."""
    if not shipment_ids:
        return {}
    costs = ShipmentCost.objects.filter(shipment_id__in=shipment_ids)
    lines: dict[int, list[ShipmentCharge]] = defaultdict(list)
    for line in ShipmentCharge.objects.filter(shipment_id__in=shipment_ids).order_by("id"):
        lines[line.shipment_id].append(line)
    return {
        cost.shipment_id: ExpectedCost(cost=cost, lines=tuple(lines[cost.shipment_id]))
        for cost in costs
    }


def invoices_recent(*, limit: int = 50) -> list[Invoice]:
    return list(Invoice.objects.select_related("provider").order_by("-created_at", "-id")[:limit])


DISPUTES_PAGE = 50


def invoice_disputes_page(
    *, invoice: Invoice, kind: str = "", status: str = "", after_id: int = 0
) -> tuple[list[Dispute], int | None]:
    """One page of the invoice's disputes by id (keyset), and the id to continue after."""
    rows = Dispute.objects.filter(invoice=invoice, pk__gt=after_id).select_related("line")
    if kind:
        rows = rows.filter(kind=kind)
    if status:
        rows = rows.filter(status=status)
    found = list(rows.order_by("pk")[: DISPUTES_PAGE + 1])
    more = len(found) > DISPUTES_PAGE
    found = found[:DISPUTES_PAGE]
    return found, (found[-1].pk if more else None)


def card_terms(card: RateCard) -> pricing.CardTerms:
    """The card as plain data for economics.pricing (two queries: zones, rules)."""
    zones = list(card.zones.all())
    zone_code = {zone.pk: zone.code for zone in zones}
    rules = tuple(
        pricing.rule_terms(
            id=rule.pk,
            charge_type=rule.charge_type,
            name=rule.name,
            amount=rule.amount,
            percent=rule.percent,
            applies_to=rule.applies_to,
            zone=zone_code.get(rule.zone_id) if rule.zone_id else None,
            weight_from_grams=rule.weight_from_grams,
            weight_to_grams=rule.weight_to_grams,
            included_units=rule.included_units,
            postcode_prefixes=rule.postcode_prefixes,
        )
        for rule in card.rules.all()
    )
    return pricing.CardTerms(
        id=card.pk,
        currency=card.currency,
        places=currency_places(card.currency) or 0,
        zone_of_country={country: zone.code for zone in zones for country in zone.countries},
        rules=rules,
    )


# --- Provider scorecard (docs/economics.md) --------------------------------------------

OPEN_DISPUTES = (Dispute.Status.OPEN, Dispute.Status.DISPUTED)


@dataclass(frozen=True)
class Money:
    currency: str
    amount: Decimal


@dataclass(frozen=True)
class ScorecardRow:
    """One provider's figures over a period, summed from its ProviderDay rows."""

    provider_id: int
    provider: str
    shipments: int
    on_time: int
    on_time_sample: int
    to_first_scan: dict[int, int]
    to_delivered: dict[int, int]
    exceptions: dict[str, int]
    planned: int
    dispatch_failed: int
    event_latency: dict[int, int]
    webhooks: int
    webhooks_refused: int
    dock_to_stock: dict[int, int]
    returns_received: int
    return_processing: dict[int, int]
    cost_totals: tuple[Money, ...]
    cost_shipments: int
    cost_orders: int
    invoiced: tuple[Money, ...]
    invoiced_expected: tuple[Money, ...]
    invoices: int
    open_disputes: int

    @property
    def on_time_percent(self) -> float | None:
        return _percent(self.on_time, self.on_time_sample)

    @property
    def dispatch_failure_percent(self) -> float | None:
        return _percent(self.dispatch_failed, self.planned)

    @property
    def exception_percent(self) -> float | None:
        return _percent(sum(self.exceptions.values()), self.shipments)

    def exception_rates(self) -> list[tuple[str, int, float | None]]:
        """(reason, shipments, % of shipments dispatched), most frequent first."""
        return [
            (reason, n, _percent(n, self.shipments))
            for reason, n in sorted(self.exceptions.items(), key=lambda item: (-item[1], item[0]))
        ]

    def cost_per_shipment(self) -> tuple[Money, ...]:
        return _per(self.cost_totals, self.cost_shipments)

    def cost_per_order(self) -> tuple[Money, ...]:
        return _per(self.cost_totals, self.cost_orders)


def _percent(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


def _per(totals: tuple[Money, ...], n: int) -> tuple[Money, ...]:
    if not n:
        return ()
    return tuple(Money(m.currency, (m.amount / n).quantize(Decimal("0.01"))) for m in totals)


@dataclass(frozen=True)
class Scorecard:
    first: dt.date
    last: dt.date
    rows: list[ScorecardRow]
    # Shipments dispatched per day and provider code (the chart), days in order.
    days: list[dt.date]
    daily_shipments: dict[str, list[int]]
    computed_at: dt.datetime | None


@dataclass
class _Sums:
    """One provider's ProviderDay rows added up (and its invoices), before the row is built."""

    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    histograms: dict[str, list[dict[str, int]]] = field(default_factory=lambda: defaultdict(list))
    exceptions: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    cost: dict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    invoiced: dict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    expected: dict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    invoices: int = 0
    has_days: bool = False

    def add_day(self, day_row: dict[str, Any]) -> None:
        self.has_days = True
        for name in _COUNTS:
            self.counts[name] += day_row[name]
        for name in _HISTOGRAMS:
            self.histograms[name].append(day_row[name])
        for reason, n in day_row["exceptions"].items():
            self.exceptions[reason] += n
        for currency, amount in day_row["cost_totals"].items():
            self.cost[currency] += Decimal(amount)

    def row(self, *, provider_id: int, provider: str, open_disputes: int) -> ScorecardRow:
        merged = {name: histogram.merge(self.histograms[name]) for name in _HISTOGRAMS}
        c = self.counts
        return ScorecardRow(
            provider_id=provider_id,
            provider=provider,
            shipments=c["shipments"],
            on_time=c["on_time"],
            on_time_sample=c["on_time_sample"],
            to_first_scan=merged["to_first_scan"],
            to_delivered=merged["to_delivered"],
            exceptions=dict(self.exceptions),
            planned=c["planned"],
            dispatch_failed=c["dispatch_failed"],
            event_latency=merged["event_latency"],
            webhooks=c["webhooks"],
            webhooks_refused=c["webhooks_refused"],
            dock_to_stock=merged["dock_to_stock"],
            returns_received=c["returns_received"],
            return_processing=merged["return_processing"],
            cost_totals=_money(self.cost),
            cost_shipments=c["cost_shipments"],
            cost_orders=c["cost_orders"],
            invoiced=_money(self.invoiced),
            invoiced_expected=_money(self.expected),
            invoices=self.invoices,
            open_disputes=open_disputes,
        )


def scorecard(*, first: dt.date, last: dt.date, provider_id: int | None = None) -> Scorecard:
    """Every provider's figures from `first` to `last` (inclusive) in four queries,
    whatever the length of the period (ProviderDay rows, providers, invoices, disputes)."""
    days_rows = ProviderDay.objects.filter(day__gte=first, day__lte=last).order_by()
    providers = Provider.objects.order_by("code")
    invoices = Invoice.objects.filter(period_start__lte=last, period_end__gte=first)
    if provider_id is not None:
        days_rows = days_rows.filter(provider_id=provider_id)
        providers = providers.filter(pk=provider_id)
        invoices = invoices.filter(provider_id=provider_id)
    codes: dict[int, str] = dict(providers.values_list("pk", "code"))
    days = [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]
    day_index = {day: i for i, day in enumerate(days)}
    sums: dict[int, _Sums] = defaultdict(_Sums)
    daily: dict[str, list[int]] = {}
    computed_at: dt.datetime | None = None
    for day_row in days_rows.values(*_DAY_FIELDS):
        pid = day_row["provider_id"]
        sums[pid].add_day(day_row)
        series = daily.setdefault(codes.get(pid, str(pid)), [0] * len(days))
        series[day_index[day_row["day"]]] += day_row["shipments"]
        if computed_at is None or day_row["computed_at"] > computed_at:
            computed_at = day_row["computed_at"]
    for bill in (
        invoices.values("provider_id", "currency")
        .annotate(invoiced=Sum("invoiced_total"), expected=Sum("expected_total"), n=Count("pk"))
        .order_by()
    ):
        entry = sums[bill["provider_id"]]
        entry.invoiced[bill["currency"]] += bill["invoiced"]
        entry.expected[bill["currency"]] += bill["expected"]
        entry.invoices += bill["n"]
    disputes: dict[int, int] = dict(
        Dispute.objects.filter(invoice__in=invoices, status__in=OPEN_DISPUTES)
        .values_list("invoice__provider_id")
        .annotate(n=Count("pk"))
        .order_by()
        .values_list("invoice__provider_id", "n")
    )
    rows = [
        sums[pid].row(provider_id=pid, provider=code, open_disputes=disputes.get(pid, 0))
        for pid, code in codes.items()
        if pid in sums and (sums[pid].has_days or sums[pid].invoices)
    ]
    return Scorecard(
        first=first,
        last=last,
        rows=rows,
        days=days,
        daily_shipments=daily,
        computed_at=computed_at,
    )


_COUNTS = (
    "shipments",
    "on_time",
    "on_time_sample",
    "planned",
    "dispatch_failed",
    "webhooks",
    "webhooks_refused",
    "returns_received",
    "cost_shipments",
    "cost_orders",
)
_HISTOGRAMS = (
    "to_first_scan",
    "to_delivered",
    "event_latency",
    "dock_to_stock",
    "return_processing",
)
_DAY_FIELDS = (
    "provider_id",
    "day",
    "computed_at",
    "exceptions",
    "cost_totals",
    *_COUNTS,
    *_HISTOGRAMS,
)


def _money(amounts: dict[str, Decimal]) -> tuple[Money, ...]:
    return tuple(Money(currency, amounts[currency]) for currency in sorted(amounts))
