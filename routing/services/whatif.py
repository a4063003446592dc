"""What-if: a rule set replayed over the orders of a past period (docs/routing.md, "What-if").

A worker routes every order of the period with the rule set (routing.router.decision_for,
the decision live allocation makes) and writes one WhatIfOrder per order, next to what
really happened to it; the run's `summary` holds both sides' totals.

The run is read in chunks of CHUNK orders, keyset-paged on (placed_at, id) along the
order_placed index; each chunk is routed in memory, written with one COPY and counted in
the run's progress in one transaction, so `processed` is always the number of rows
written. A worker that dies leaves the run "running" without progress; after STALE_AFTER
another execution takes it over and starts again from nothing.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from functools import partial
from typing import TYPE_CHECKING, Any, cast

from django.db import connection, transaction
from django.utils import timezone

from core.errors import Conflict, NotFound, ValidationFailed
from economics.models import ShipmentCost
from inventory.models import Product, StockLevel
from logistics.models import Shipment
from logistics.promise_tables import HOLIDAYS_BACK_DAYS, PromiseTables, promise_tables_load
from orders.models import Channel, ChannelWarehouse, Order, OrderLine
from orders.services.allocation_policy import AllocationLine
from routing.models import RuleSet, WhatIfOrder, WhatIfRun
from routing.router import decision_for
from routing.sql import WhatIfOrderRow, whatif_orders_copy
from routing.tables import RoutingTables, tables_load

if TYPE_CHECKING:
    from routing.engine import Decision

MAX_DAYS = 366
CHUNK = 5_000
# A run that has not moved for this long lost its worker (a chunk takes seconds).
STALE_AFTER = dt.timedelta(minutes=5)
# "Enough of it": more than any order asks for.
PLENTY = 10**9

STOCK_ASSUMPTION = (
    "Every site the order's channel may ship from is assumed to hold as much as the order "
    "needs of every SKU it keeps (it has a stock level for it), and none of a SKU it does "
    "not keep. The stock a site held on a past day is not known without replaying the "
    "stock ledger, and the orders of the period are not taken out of it one after "
    "another. So the simulation shows where the rules send orders when stock is not the "
    "constraint: simulated splits and backorders are fewer than real ones could be, and "
    "a site that was empty on the day can be chosen."
)


@dataclass(frozen=True)
class _ChannelView:
    code: str


@dataclass(frozen=True)
class _OrderView:
    """The attributes of an Order the router reads, without building model instances."""

    channel: _ChannelView
    shipping_country: str
    shipping_postcode: str
    service_level_id: int | None
    total_amount: Decimal
    placed_at: dt.datetime


@dataclass
class _Side:
    """Running totals of one side (simulated or actual) of the comparison."""

    shipments: int = 0
    split: int = 0
    met: int = 0
    judged: int = 0  # orders whose promise outcome is known
    shipped: int = 0  # orders with at least one shipment (a plan with a site)
    unpriced: int = 0  # orders with shipments but no complete price
    costs: dict[str, list[Any]] = field(default_factory=dict)  # currency -> [total, orders]
    sites: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def add(
        self,
        *,
        sites: list[str],
        cost: Decimal | None,
        currency: str,
        met: bool | None,
    ) -> None:
        self.shipments += len(sites)
        if len(set(sites)) > 1:
            self.split += 1
        if sites:
            self.shipped += 1
            if cost is None:
                self.unpriced += 1
            else:
                entry = self.costs.setdefault(currency, [Decimal(0), 0])
                entry[0] += cost
                entry[1] += 1
        for code in sites:
            self.sites[code] += 1
        if met is not None:
            self.judged += 1
            self.met += int(met)

    def as_json(self) -> dict[str, Any]:
        return {
            "shipments": self.shipments,
            "split": self.split,
            "met": self.met,
            "judged": self.judged,
            "shipped": self.shipped,
            "unpriced": self.unpriced,
            "costs": {c: {"total": f"{t:.4f}", "orders": n} for c, (t, n) in self.costs.items()},
            "sites": dict(sorted(self.sites.items())),
        }


@dataclass
class _Context:
    run: WhatIfRun
    claimed_at: dt.datetime
    tables: RoutingTables
    promises: PromiseTables
    channels: dict[int, _ChannelView]
    channel_sites: dict[int, list[tuple[int, str]]]
    products: dict[int, tuple[int, list[str]]]  # id -> weight in grams, tags
    available: dict[tuple[int, int], int]
    default_days: int
    today: dt.date
    simulated: _Side = field(default_factory=_Side)
    actual: _Side = field(default_factory=_Side)
    rules: dict[str, int] = field(default_factory=lambda: defaultdict(int))


class _Superseded(Exception):
    """Another execution took the run over (this one was thought dead)."""


@transaction.atomic
def whatif_create(
    *,
    rule_set_id: int,
    period_start: dt.date,
    period_end: dt.date,
    actor: str,
    enqueue: bool = True,
) -> WhatIfRun:
    """Queue a what-if of the rule set over the orders placed from `period_start` to
    `period_end` (both included); `enqueue=False`: the caller runs `whatif_execute`
    itself (a benchmark timing it), no worker is asked to. Raises NotFound,
    ValidationFailed (the period) and Conflict (a run of this rule set is already
    queued or running)."""
    from routing.tasks import whatif_run_task

    rule_set = RuleSet.objects.select_for_update().filter(pk=rule_set_id).first()
    if rule_set is None:
        raise NotFound(f"There is no rule set {rule_set_id}.")
    if period_start > period_end:
        raise ValidationFailed(
            "The period starts after it ends.",
            errors=[{"field": "period_start", "message": "after the end"}],
        )
    if (period_end - period_start).days + 1 > MAX_DAYS:
        raise ValidationFailed(
            f"The period is longer than {MAX_DAYS} days.",
            errors=[{"field": "period_end", "message": f"at most {MAX_DAYS} days"}],
        )
    busy = WhatIfRun.objects.filter(
        rule_set=rule_set,
        status__in=[WhatIfRun.Status.QUEUED, WhatIfRun.Status.RUNNING],
        updated_at__gte=timezone.now() - STALE_AFTER,
    ).first()
    if busy is not None:
        raise Conflict(f"What-if #{busy.pk} of this rule set is still {busy.status}.")
    run = WhatIfRun.objects.create(
        rule_set=rule_set,
        period_start=period_start,
        period_end=period_end,
        started_by=actor,
        stock_assumption=STOCK_ASSUMPTION,
    )
    if enqueue:
        transaction.on_commit(partial(whatif_run_task.delay, run_id=run.pk))
    return run


@transaction.atomic
def whatif_delete(*, run_id: int) -> None:
    """Delete a run and its rows (one DELETE each). Raises NotFound, and Conflict while
    it is queued or running with recent progress."""
    run = WhatIfRun.objects.select_for_update().filter(pk=run_id).first()
    if run is None:
        raise NotFound(f"There is no what-if run {run_id}.")
    if _busy(run):
        raise Conflict(f"{run} is still {run.status}; delete it once it has finished.")
    run.delete()


def _busy(run: WhatIfRun) -> bool:
    return (
        run.status in {WhatIfRun.Status.QUEUED, WhatIfRun.Status.RUNNING}
        and timezone.now() - run.updated_at < STALE_AFTER
    )


def whatif_progress(run: WhatIfRun) -> tuple[int, int]:
    """(orders routed, orders in the period) as last written."""
    return run.processed, run.total


def whatif_execute(*, run_id: int) -> WhatIfRun:
    """Route the run's orders and total them (the worker's body). A run that is done, or
    running with recent progress elsewhere, is returned as it is; otherwise this call
    claims it, deletes whatever an earlier attempt wrote and starts over. A bug marks the
    run failed and is raised again. Raises NotFound."""
    claimed = _claim(run_id)
    if claimed is None:
        run = WhatIfRun.objects.filter(pk=run_id).first()
        if run is None:
            raise NotFound(f"There is no what-if run {run_id}.")
        return run
    run, claimed_at = claimed
    try:
        summary = _simulate(run, claimed_at)
    except _Superseded:
        current = WhatIfRun.objects.filter(pk=run_id).first()
        if current is None:
            raise NotFound(f"What-if run {run_id} was deleted while it ran.") from None
        return current
    except Exception as exc:
        _finish(run, claimed_at, status=WhatIfRun.Status.FAILED, error=f"{type(exc).__name__}")
        raise
    _finish(run, claimed_at, status=WhatIfRun.Status.DONE, summary=summary)
    run.refresh_from_db()
    return run


def _claim(run_id: int) -> tuple[WhatIfRun, dt.datetime] | None:
    with transaction.atomic():
        run = (
            WhatIfRun.objects.select_for_update()
            .select_related("rule_set")
            .filter(pk=run_id)
            .first()
        )
        if run is None:
            raise NotFound(f"There is no what-if run {run_id}.")
        now = timezone.now()
        if run.status == WhatIfRun.Status.DONE:
            return None
        if run.status == WhatIfRun.Status.RUNNING and now - run.updated_at < STALE_AFTER:
            return None  # another worker has it
        run.status = WhatIfRun.Status.RUNNING
        run.started_at = now
        run.finished_at = None
        run.processed = run.total = 0
        run.error = ""
        run.summary = {}
        run.save()
        # Whatever an earlier attempt wrote goes: the run starts over.
        WhatIfOrder.objects.filter(run=run).delete()
        return run, now


def _finish(
    run: WhatIfRun,
    claimed_at: dt.datetime,
    *,
    status: str,
    summary: dict[str, Any] | None = None,
    error: str = "",
) -> None:
    now = timezone.now()
    changes: dict[str, Any] = {"status": status, "finished_at": now, "updated_at": now}
    if summary is not None:
        # What was written, even if orders of the period came or went since the count.
        changes.update(summary=summary, processed=summary["orders"], total=summary["orders"])
    if error:
        changes["error"] = f"The simulation failed unexpectedly ({error}); see the worker's log."
    WhatIfRun.objects.filter(pk=run.pk, started_at=claimed_at).update(**changes)


def _period(run: WhatIfRun) -> tuple[dt.datetime, dt.datetime]:
    zone = timezone.get_current_timezone()
    start = dt.datetime.combine(run.period_start, dt.time.min, tzinfo=zone)
    end = dt.datetime.combine(run.period_end + dt.timedelta(days=1), dt.time.min, tzinfo=zone)
    return start, end


def _channel_sites() -> dict[int, list[tuple[int, str]]]:
    """Each channel's active eligible sites in priority order (as allocation reads them)."""
    found: dict[int, list[tuple[int, str]]] = defaultdict(list)
    for channel_id, warehouse_id, code in (
        ChannelWarehouse.objects.filter(warehouse__is_active=True)
        .order_by("channel_id", "priority", "warehouse_id")
        .values_list("channel_id", "warehouse_id", "warehouse__code")
    ):
        found[channel_id].append((warehouse_id, code))
    return found


def _simulate(run: WhatIfRun, claimed_at: dt.datetime) -> dict[str, Any]:
    start, end = _period(run)
    orders = Order.objects.filter(placed_at__gte=start, placed_at__lt=end).exclude(
        status=Order.Status.CANCELLED
    )
    total = orders.count()
    _progress(run, claimed_at, processed=0, total=total)
    ctx = _Context(
        run=run,
        claimed_at=claimed_at,
        tables=tables_load(rule_set=run.rule_set),
        promises=promise_tables_load(
            since=run.period_start - dt.timedelta(days=HOLIDAYS_BACK_DAYS)
        ),
        channels={pk: _ChannelView(code) for pk, code in Channel.objects.values_list("pk", "code")},
        channel_sites=_channel_sites(),
        products={
            pk: (grams, tags)
            for pk, grams, tags in Product.objects.values_list("pk", "weight_grams", "tags")
        },
        available=dict.fromkeys(
            StockLevel.objects.values_list("product_id", "warehouse_id"), PLENTY
        ),
        default_days=run.rule_set.default_max_delivery_days,
        today=timezone.localdate(),
    )
    processed = 0
    for chunk in _chunks(orders):
        rows = _chunk_rows(ctx, chunk)
        processed += len(rows)
        with transaction.atomic():
            with connection.cursor() as cursor:
                whatif_orders_copy(cursor, rows=rows)
            _progress(run, claimed_at, processed=processed, total=max(total, processed))
    return {
        "orders": processed,
        "simulated": ctx.simulated.as_json(),
        "actual": ctx.actual.as_json(),
        "rules": dict(ctx.rules),
        "default_max_delivery_days": ctx.default_days,
        "rate_cards_on": ctx.tables.day,
    }


def _progress(run: WhatIfRun, claimed_at: dt.datetime, *, processed: int, total: int) -> None:
    """Count the progress, unless another execution has claimed the run since."""
    moved = WhatIfRun.objects.filter(
        pk=run.pk, started_at=claimed_at, status=WhatIfRun.Status.RUNNING
    ).update(processed=processed, total=total, updated_at=timezone.now())
    if not moved:
        raise _Superseded


_ORDER_FIELDS = (
    "id",
    "number",
    "channel_id",
    "shipping_country",
    "shipping_postcode",
    "service_level_id",
    "total_amount",
    "placed_at",
    "promised_delivery_date",
)


def _chunks(orders: Any) -> Iterator[list[tuple[Any, ...]]]:
    """The orders in (placed_at, id) order, CHUNK at a time, each page starting after the
    last row of the one before (keyset paging: no OFFSET to skip over)."""
    page = orders.order_by("placed_at", "id").values_list(*_ORDER_FIELDS)
    last: tuple[dt.datetime, int] | None = None
    while True:
        query = page
        if last is not None:
            query = page.filter(placed_at__gte=last[0]).exclude(placed_at=last[0], id__lte=last[1])
        chunk = list(query[:CHUNK])
        if not chunk:
            return
        yield chunk
        last = (chunk[-1][7], chunk[-1][0])


def _lines_of(
    ids: list[int], products: dict[int, tuple[int, list[str]]]
) -> dict[int, list[AllocationLine]]:
    found: dict[int, list[AllocationLine]] = defaultdict(list)
    for order_id, pk, number, product_id, sku, quantity, cancelled in (
        OrderLine.objects.filter(order_id__in=ids)
        .order_by("order_id", "line_number")
        .values_list(
            "order_id", "id", "line_number", "product_id", "sku", "quantity", "quantity_cancelled"
        )
    ):
        if quantity > cancelled:
            grams, tags = products[product_id]
            found[order_id].append(
                AllocationLine(pk, number, product_id, sku, quantity - cancelled, 0, grams, tags)
            )
    return found


@dataclass
class _Actual:
    sites: list[str] = field(default_factory=list)
    cost: Decimal | None = Decimal(0)
    currency: str = ""
    delivered_on: dt.date | None = None
    undelivered: bool = False


def _actuals_of(ids: list[int], tables: RoutingTables) -> dict[int, _Actual]:
    """What really shipped: each order's outbound shipments (not cancelled), their
    expected cost (economics, where priced) and the day the last one was delivered."""
    shipments = list(
        Shipment.objects.filter(order_id__in=ids, direction=Shipment.Direction.OUTBOUND)
        .exclude(status=Shipment.Status.CANCELLED)
        .order_by("order_id", "id")
        .values_list("order_id", "id", "warehouse_id", "delivered_at")
    )
    costs = {
        shipment_id: (total, currency)
        for shipment_id, total, currency in ShipmentCost.objects.filter(
            shipment_id__in=[row[1] for row in shipments]
        ).values_list("shipment_id", "total", "currency")
    }
    found: dict[int, _Actual] = {}
    for order_id, shipment_id, warehouse_id, delivered_at in shipments:
        actual = found.setdefault(order_id, _Actual())
        site = tables.sites.get(warehouse_id)
        actual.sites.append(site.code if site else str(warehouse_id))
        total, currency = costs.get(shipment_id, (None, ""))
        if total is None or actual.cost is None or (actual.currency not in ("", currency)):
            actual.cost = None
        else:
            actual.cost += total
            actual.currency = currency
        if delivered_at is None:
            actual.undelivered = True
        else:
            day = delivered_at.date()
            actual.delivered_on = max(day, actual.delivered_on or day)
    for actual in found.values():
        if actual.undelivered:
            actual.delivered_on = None
        if actual.cost is None:
            actual.currency = ""
    return found


def _chunk_rows(ctx: _Context, chunk: list[tuple[Any, ...]]) -> list[WhatIfOrderRow]:
    ids = [row[0] for row in chunk]
    lines = _lines_of(ids, ctx.products)
    actuals = _actuals_of(ids, ctx.tables)
    rows = []
    nothing = _Actual(cost=None)
    for pk, number, channel_id, country, postcode, level_id, amount, placed_at, promised in chunk:
        order = _OrderView(ctx.channels[channel_id], country, postcode, level_id, amount, placed_at)
        row = _route(
            ctx, pk, number, order, ctx.channel_sites.get(channel_id, []), lines.get(pk, [])
        )
        actual = actuals.get(pk, nothing)
        deadline = promised or placed_at.date() + dt.timedelta(days=ctx.default_days)
        met: bool | None = None
        if actual.delivered_on is not None:
            met = actual.delivered_on <= deadline
        elif deadline < ctx.today:
            met = False  # not delivered, and the promise has passed
        ctx.actual.add(sites=actual.sites, cost=actual.cost, currency=actual.currency, met=met)
        rows.append(
            row._replace(
                actual_sites=actual.sites,
                actual_shipments=len(actual.sites),
                actual_cost=actual.cost,
                actual_currency=actual.currency,
                actual_delivered_on=actual.delivered_on,
            )
        )
    return rows


def _route(
    ctx: _Context,
    pk: int,
    number: str,
    order: _OrderView,
    sites: list[tuple[int, str]],
    lines: list[AllocationLine],
) -> WhatIfOrderRow:
    needs: dict[int, int] = defaultdict(int)
    for line in lines:
        needs[line.product_id] += line.quantity
    decision: Decision | None = None
    if needs:
        decision = decision_for(
            order=cast(Order, order),
            lines=lines,
            needs=dict(needs),
            sites=sites,
            available=ctx.available,
            tables=ctx.tables,
            promises=ctx.promises,
            at=order.placed_at,
        )
    return _row(ctx, pk, number, order, decision)


def _row(
    ctx: _Context, pk: int, number: str, order: _OrderView, decision: Decision | None
) -> WhatIfOrderRow:
    chosen = decision.chosen if decision is not None else None
    picked = decision.explanation["chosen"]["sites"] if decision is not None else []
    sites = [s["site"] for s in picked]
    cost = chosen.cost if chosen is not None and sites else None
    currency = chosen.currency if cost is not None and chosen is not None else ""
    promised = chosen.promised if chosen is not None and sites else None
    deadline = decision.deadline if decision is not None else None
    met = promised is not None and deadline is not None and promised <= deadline
    ctx.simulated.add(sites=sites, cost=cost, currency=currency, met=met)
    rule = decision.rule if decision is not None else None
    ctx.rules[_rule_label(rule.position if rule and rule.id is not None else None)] += 1
    return WhatIfOrderRow(
        run_id=ctx.run.pk,
        order_id=pk,
        order_number=number,
        placed_at=order.placed_at,
        strategy=decision.plan.strategy if decision is not None else "none",
        rule_position=rule.position if rule is not None and rule.id is not None else None,
        sites=sites,
        providers=[s["provider"] for s in picked],
        shipments=len(sites),
        cost=cost,
        currency=currency,
        ship_by=chosen.ship_by if chosen is not None and sites else None,
        promised_delivery_date=promised,
        deadline=deadline,
        actual_sites=[],
        actual_shipments=0,
        actual_cost=None,
        actual_currency="",
        actual_delivered_on=None,
    )


def _rule_label(position: int | None) -> str:
    return f"#{position}" if position is not None else "default"
