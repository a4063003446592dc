"""Allocation of order lines to warehouse stock, per the channel's fulfilment policy.

Policy (orders.ChannelWarehouse, eligible warehouses in priority order;
`allocation_policy.py`, pure functions):
1. ship complete from one warehouse if any can (the highest-priority one that can);
2. else split across the fewest warehouses (ties: the highest-priority combination);
3. else allocate what exists (priority order) and backorder the rest.

This module makes the order workflow's decisions (which warehouse, holds, backorders,
the order's status and events); the stock engine (`inventory.services.stock.stock_reserve`,
`inventory.services.reservations`) reserves and releases with its row locks, F()
updates and ledger rows, and writes the Allocation rows.

Lock order, everywhere: the order row first, then stock levels by primary key
(inventory.services.stock). A failure anywhere rolls back the whole order's
allocation: everything runs in one transaction.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from django.db import connection, transaction
from django.db.models import Exists, F, OuterRef, Q, Subquery, Sum
from django.db.models.functions import Coalesce

from core.errors import Conflict
from core.pipeline import pipelined, prepared_cursor
from inventory.models import Allocation, StockLevel
from inventory.selectors import allocations_count_for_order, stock_levels_with_available
from inventory.services.reservations import (
    allocations_release_for_order,
    allocations_release_quantity,
)
from inventory.services.stock import Reservation, stock_reserve
from orders import error_codes, events, hooks
from orders.models import Channel, Order, OrderEvent, OrderLine
from orders.services.allocation_policy import AVAILABLE_NOW, AllocationLine, Plan, hold_reasons
from orders.services.holds import order_holds_place_automatic
from orders.sql import ALLOCATION_INPUTS_PARAMS, ALLOCATION_INPUTS_SQL, ORDER_LOCK_SQL
from orders.transitions import order_transition

if TYPE_CHECKING:
    from core.users import ActingUser

logger = logging.getLogger(__name__)

S = Order.Status
ALLOCATABLE = frozenset({S.RECEIVED, S.ON_HOLD, S.BACKORDERED, S.ALLOCATED})
# An order that ships partially (Order.ships_partial) keeps allocating its backordered
# rest while its first shipments are under way; allocation then keeps its status.
PARTIAL_REST_STATUSES = frozenset({S.IN_FULFILMENT, S.PARTIALLY_SHIPPED, S.PARTIALLY_DELIVERED})
BACKORDER_BATCH = 500


_Line = AllocationLine


class _Inputs(NamedTuple):
    has_active_hold: bool
    lines: list[_Line]
    rules: list[tuple[int, str]]  # eligible active warehouses in priority order: (id, code)
    levels: dict[tuple[int, int], StockLevel]  # locked, for the missing products at those


class _Pick(NamedTuple):
    line: _Line
    warehouse_id: int
    quantity: int


_ORDER_FIELDS = [f.attname for f in Order._meta.concrete_fields]
_CHANNEL_FIELDS = [f.attname for f in Channel._meta.concrete_fields]


def _lock_order(order: Order) -> Order:
    # Raw SQL: the order lock is on every allocation's hot path, where compiling
    # the ORM query cost more than running it (orders.sql.ORDER_LOCK_SQL).
    with connection.cursor() as cursor:
        cursor.execute(ORDER_LOCK_SQL, [order.pk])
        return _locked_order(order, cursor.fetchone())


def _locked_order(order: Order, row: Sequence[Any] | None) -> Order:
    if row is None:
        raise Order.DoesNotExist(f"Order {order.pk} does not exist.")
    locked = Order.from_db(connection.alias, _ORDER_FIELDS, row)
    if Order.channel.is_cached(order) and order.channel_id == locked.channel_id:
        locked.channel = order.channel
    return locked


def _lock_for_allocation(order: Order) -> tuple[Order, _Inputs]:
    """Lock the order, then read its allocation inputs, in one round trip.

    See docs/decisions/0002-allocation-hot-path.md and orders.sql.ALLOCATION_INPUTS_SQL.
    """
    with pipelined(), prepared_cursor() as lock, prepared_cursor() as read:
        lock.execute(ORDER_LOCK_SQL, [order.pk], prepare=True)
        read.execute(
            ALLOCATION_INPUTS_SQL, {**ALLOCATION_INPUTS_PARAMS, "order": order.pk}, prepare=True
        )
        locked = _locked_order(order, lock.fetchone())
        return locked, _inputs_from_row(locked, read.fetchone())


def _inputs_from_row(order: Order, row: Sequence[Any] | None) -> _Inputs:
    if row is None:  # the order's channel row is gone: as if the order were
        raise Order.DoesNotExist(f"Order {order.pk} has no channel.")
    count = len(_CHANNEL_FIELDS)
    channel = Channel.from_db(connection.alias, _CHANNEL_FIELDS, row[:count])
    has_active_hold, lines, rules, levels_json = row[count:]
    if not Order.channel.is_cached(order):
        order.channel = channel
    levels = {
        (product_id, warehouse_id): StockLevel(
            id=pk,
            product_id=product_id,
            warehouse_id=warehouse_id,
            on_hand=on_hand,
            reserved=reserved,
            low_stock_threshold=threshold,
        )
        for pk, product_id, warehouse_id, on_hand, reserved, threshold in levels_json
    }
    return _Inputs(
        has_active_hold=has_active_hold,
        lines=[_Line(*line) for line in lines],
        rules=[(w, code) for w, code in rules],
        levels=levels,
    )


def _sync(target: Order, source: Order) -> None:
    # Callers hold their own instance; keep it truthful after we changed the locked copy.
    target.status = source.status
    target.updated_at = source.updated_at
    target.cancelled_at = source.cancelled_at
    target.ships_partial = source.ships_partial


def _plan(
    *, order: Order, needs: list[_Line], inputs: _Inputs, exclude_sites: Collection[str] = ()
) -> Plan:
    """The router's decision for what the lines still miss, within the locked levels.

    `exclude_sites`: warehouse codes the router must not use (a re-route avoiding them).
    """
    per_product: dict[int, int] = defaultdict(int)
    for line in needs:
        per_product[line.product_id] += line.missing
    sites = inputs.rules
    if exclude_sites:
        sites = [(pk, code) for pk, code in sites if code not in exclude_sites]
    return hooks.router.impl.route(
        order=order,
        lines=inputs.lines,
        needs=dict(per_product),
        sites=sites,
        available={key: level.available for key, level in inputs.levels.items()},
    )


def order_ships_partial_mark(*, order: Order, plan: Plan) -> None:
    """Mark the (locked) order as shipping partially when the router chose AVAILABLE_NOW.

    Once marked it stays so: part of it may already be on its way.
    """
    if plan.split_policy == AVAILABLE_NOW and not order.ships_partial:
        order.ships_partial = True
        Order.objects.filter(pk=order.pk).update(ships_partial=True)


def _picks_per_line(*, needs: list[_Line], plan: Plan) -> tuple[list[_Pick], dict[int, int]]:
    """Hand each product's picks to its lines in line order.

    Returns the picks and, per line id, what is still missing after them.
    """
    picks: list[_Pick] = []
    remaining: dict[int, int] = {}
    pools = {p: [list(pick) for pick in chosen] for p, chosen in plan.picks.items()}
    for line in needs:
        left = line.missing
        for pick in pools.get(line.product_id, []):
            if not left:
                break
            take = min(pick[1], left)
            if take:
                picks.append(_Pick(line, pick[0], take))
                pick[1] -= take
                left -= take
        remaining[line.id] = left
    return picks, remaining


def _allocation_events(
    *,
    order: Order,
    plan: Plan,
    picks: list[_Pick],
    short: list[_Line],
    remaining: dict[int, int],
    codes: dict[int, str],
    user: ActingUser | None,
    actor: str | None,
) -> list[OrderEvent]:
    """The `allocated` and `backordered` events explaining the decision (built, not saved)."""
    explained: list[OrderEvent] = []  # written with the status change, in one INSERT
    if picks:
        events.stock_allocated_event(
            order=order,
            strategy=plan.strategy,
            reason=plan.reason,
            routing=plan.routing,
            allocations=[
                {
                    "line": p.line.line_number,
                    "sku": p.line.sku,
                    "warehouse": codes[p.warehouse_id],
                    "quantity": p.quantity,
                }
                for p in picks
            ],
            user=user,
            actor=actor,
            into=explained,
        )
    if short:
        events.stock_backordered_event(
            order=order,
            reason=plan.reason,
            lines=[
                {
                    "line": line.line_number,
                    "sku": line.sku,
                    "ordered": line.quantity,
                    "allocated": line.quantity - remaining[line.id],
                    "backordered": remaining[line.id],
                }
                for line in short
            ],
            user=user,
            actor=actor,
            into=explained,
        )
    return explained


def _mark_fully_allocated(*, order: Order, user: ActingUser | None, actor: str | None) -> None:
    if order.status != S.ALLOCATED:
        order_transition(
            order=order, to=S.ALLOCATED, reason="Every line is allocated.", user=user, actor=actor
        )


def _allocate_locked(
    *,
    order: Order,
    inputs: _Inputs,
    user: ActingUser | None,
    actor: str | None,
    reserved_into: list[Reservation] | None = None,
    exclude_sites: Collection[str] = (),
    keep_status: bool = False,
) -> None:
    """Allocation body; the order row is locked and its status is allocatable.

    `keep_status`: reserve and record the events but leave the status as it is (an
    order on hold being re-routed; the backordered rest of an order shipping partially).
    """
    needs = [line for line in inputs.lines if line.missing > 0]
    if not needs:
        if not keep_status:
            _mark_fully_allocated(order=order, user=user, actor=actor)
        return
    plan = _plan(order=order, needs=needs, inputs=inputs, exclude_sites=exclude_sites)
    picks, remaining = _picks_per_line(needs=needs, plan=plan)
    short = [line for line in needs if remaining[line.id]]
    if short:
        order_ships_partial_mark(order=order, plan=plan)
    if short and not picks and (order.status == S.BACKORDERED or keep_status):
        return  # still waiting, nothing changed: no new event on every retry
    explained = _allocation_events(
        order=order,
        plan=plan,
        picks=picks,
        short=short,
        remaining=remaining,
        codes=dict(inputs.rules),
        user=user,
        actor=actor,
    )
    written = [
        Reservation(
            order_line_id=p.line.id,
            product_id=p.line.product_id,
            warehouse_id=p.warehouse_id,
            quantity=p.quantity,
        )
        for p in picks
    ]
    with pipelined():  # the stock write and the status write in one round trip
        stock_reserve(
            reservations=written,
            locked=inputs.levels,
            order_id=order.pk,
            reference=f"order:{order.number}",
            user=user,
        )
        order_transition(
            order=order,
            to=order.status if keep_status else (S.BACKORDERED if short else S.ALLOCATED),
            reason=plan.reason,
            user=user,
            actor=actor,
            with_events=explained,
        )
    if reserved_into is not None:
        reserved_into.extend(written)


def order_allocate(
    *,
    order: Order,
    user: ActingUser | None = None,
    actor: str | None = None,
    reserved_into: list[Reservation] | None = None,
    savepoint: bool = True,
    exclude_sites: Collection[str] = (),
    reserve_while_held: bool = False,
) -> Order:
    """Reserve stock for every unallocated quantity of the order, per the channel policy.

    Promises: the order ends `allocated` (all reserved), `backordered` (some or
    all missing, what exists reserved) or `on_hold` (value over the channel
    limit, address failing validation, or an active hold); every decision is an
    OrderEvent with its reason; stock, ledger and allocations change in this
    one transaction. Raises Conflict (order_not_allocatable) for an order past
    allocation (in fulfilment, shipped, cancelled...).
    `reserved_into`: a list that receives the Reservations this call made (order
    intake hands them to shipment planning, which then need not read them back).
    `savepoint=False`: inside a caller's transaction that fails as a whole when
    this fails (order intake), skip the savepoint a nested call would take.
    `exclude_sites`: warehouse codes the router must leave out (a re-route).
    `reserve_while_held`: an order on hold is allocated all the same and stays on
    hold (a re-route: its shipments are planned when the hold is released).
    An order that ships partially (`Order.ships_partial`) is also allocatable while in
    fulfilment, partially shipped or partially delivered: its backordered rest is
    reserved and the status stays.
    """
    with transaction.atomic(savepoint=savepoint):
        return _allocate(
            order=order,
            user=user,
            actor=actor,
            reserved_into=reserved_into,
            exclude_sites=exclude_sites,
            reserve_while_held=reserve_while_held,
        )


def _allocate(
    *,
    order: Order,
    user: ActingUser | None,
    actor: str | None,
    reserved_into: list[Reservation] | None,
    exclude_sites: Collection[str] = (),
    reserve_while_held: bool = False,
) -> Order:
    locked, inputs = _lock_for_allocation(order)
    rest = locked.ships_partial and locked.status in PARTIAL_REST_STATUSES
    if locked.status not in ALLOCATABLE and not rest:
        raise Conflict(
            f"Order {locked.number} is {locked.status}; only received, on-hold, backordered "
            "or allocated orders can be allocated.",
            code=error_codes.ORDER_NOT_ALLOCATABLE,
            status=locked.status,
        )
    if inputs.has_active_hold and reserve_while_held and locked.status == S.ON_HOLD:
        _allocate_locked(
            order=locked,
            inputs=inputs,
            user=user,
            actor=actor,
            exclude_sites=exclude_sites,
            keep_status=True,
        )
    elif inputs.has_active_hold and rest:
        pass  # held in place (partially shipped) or about to be held: the rest waits
    elif inputs.has_active_hold:
        if locked.status != S.ON_HOLD:
            order_transition(
                order=locked,
                to=S.ON_HOLD,
                reason="Order has an active hold.",
                user=user,
                actor=actor,
            )
    elif locked.status == S.RECEIVED and (reasons := hold_reasons(locked)):
        order_holds_place_automatic(
            order=locked,
            reasons=reasons,
            status_reason="; ".join(detail for _, detail in reasons),
            user=user,
            actor=actor,
        )
    else:
        _allocate_locked(
            order=locked,
            inputs=inputs,
            user=user,
            actor=actor,
            reserved_into=reserved_into,
            exclude_sites=exclude_sites,
            keep_status=rest,
        )
    _sync(order, locked)
    return order


@transaction.atomic
def order_deallocate(
    *,
    order: Order,
    user: ActingUser | None = None,
    actor: str | None = None,
    reason: str = "Order cancelled",
) -> list[Allocation]:
    """Release every active allocation of the order (stock back to available).

    Does not change the order's status (the caller, e.g. cancellation, does).
    Records a `deallocated` OrderEvent when something was released; waiting
    backorders for the freed products are retried by a worker after commit.
    Returns the released allocations (empty when there were none).
    """
    locked = _lock_order(order)
    allocations = allocations_release_for_order(
        order_id=locked.pk, reason=reason, reference=f"order:{locked.number}", user=user
    )
    if allocations:
        events.stock_deallocated_event(
            order=locked,
            reason=reason,
            allocations=[
                {
                    "line": a.order_line.line_number,
                    "sku": a.order_line.sku,
                    "warehouse": a.warehouse.code,
                    "quantity": a.quantity,
                }
                for a in allocations
            ],
            user=user,
            actor=actor,
        )
    return allocations


def backorders_allocate(
    *, product_ids: list[int] | None = None, limit: int = BACKORDER_BATCH
) -> int:
    """Give newly available stock to backordered orders, highest priority then oldest first.

    Each order is allocated (and its shipments planned) in its own transaction,
    so one failing order does not hold back the others. Stops early once none
    of the products has available stock left. Returns the number of orders
    whose status or allocations changed.
    """
    from orders.services.fulfilment import order_fulfil

    in_stock = stock_levels_with_available(product_ids=product_ids)
    waiting = Order.objects.filter(
        Q(status=S.BACKORDERED) | _partial_rest_waiting(),
        lines__product_id__in=in_stock.values("product_id"),
    )
    order_ids = list(
        waiting.order_by("-priority", "placed_at", "id")
        .values_list("id", flat=True)
        .distinct()[:limit]
    )
    touched = 0
    for order_id in order_ids:
        if not in_stock.exists():
            break
        try:
            with transaction.atomic():
                order = Order.objects.select_for_update(of=("self",)).get(pk=order_id)
                if order.status != S.BACKORDERED and not (
                    order.ships_partial and order.status in PARTIAL_REST_STATUSES
                ):
                    continue
                before = allocations_count_for_order(order_id=order.pk)
                status = order.status
                order_fulfil(order=order, actor="system:backorders")
                after = allocations_count_for_order(order_id=order.pk)
                touched += int(order.status != status or after != before)
        except Exception:
            # One bad order must not starve the queue behind it; it is retried next time.
            logger.exception("Backorder allocation failed for order %s", order_id)
    return touched


def _partial_rest_waiting() -> Q:
    """Orders shipping partially whose backordered rest still waits for stock: a line
    with fewer units reserved or shipped than it expects (cancelled units are not)."""
    taken = (
        Allocation.objects.filter(
            order_line=OuterRef("pk"),
            status__in=[Allocation.Status.ACTIVE, Allocation.Status.FULFILLED],
        )
        .values("order_line")
        .annotate(total=Sum("quantity"))
        .values("total")
    )
    short_lines = (
        OrderLine.objects.filter(order=OuterRef("pk"))
        .annotate(taken=Coalesce(Subquery(taken), 0))
        .filter(taken__lt=F("quantity") - F("quantity_cancelled"))
    )
    return Q(ships_partial=True, status__in=PARTIAL_REST_STATUSES) & Q(Exists(short_lines))


def backorders_enqueue(*, product_ids: list[int]) -> None:
    """Ask a worker to allocate waiting orders for these products (inventory.hooks.restock).

    Raises what the broker raises; the stock engine logs it and the periodic sweep
    (`backorders_sweep_task`) picks the orders up.
    """
    from orders.tasks import backorders_allocate_task

    backorders_allocate_task.apply_async(kwargs={"product_ids": product_ids}, retry=False)


_SHORTFALL_WAITING = (S.ALLOCATED, S.BACKORDERED, S.ON_HOLD)


def _shortfall_candidates(
    *, product_id: int, warehouse_id: int, quantity: int
) -> list[tuple[int, int]]:
    """Active allocations at the level to take `quantity` from, least important orders first.

    Only orders not yet in fulfilment; lowest priority, newest first. Returns
    (allocation id, order id) in that order, just enough to cover `quantity` (as read,
    unlocked).
    """
    candidates = (
        Allocation.objects.filter(
            order_line__product_id=product_id,
            warehouse_id=warehouse_id,
            status=Allocation.Status.ACTIVE,
            order_line__order__status__in=_SHORTFALL_WAITING,
        )
        .order_by("order_line__order__priority", "-order_line__order__placed_at", "-pk")
        .values_list("pk", "order_line__order_id", "quantity")
    )
    chosen: list[tuple[int, int]] = []
    total = 0
    for pk, order_id, q in candidates:
        if total >= quantity:
            break
        chosen.append((pk, order_id))
        total += q
    return chosen


def allocations_release_for_shortfall(
    *,
    product_id: int,
    warehouse_id: int,
    quantity: int,
    reason: str,
    user: ActingUser | None = None,
    actor: str | None = None,
) -> int:
    """Un-reserve `quantity` units at one level because the stock is not physically there.

    Takes them from the least important orders first (lowest priority, newest),
    only from orders not yet in fulfilment; each loses that reservation
    (`release` movement, `deallocated` event) and goes back to `backordered`.
    Locks the orders (pk order) before the level, like every allocation.
    Returns how many units were released (less than asked when the rest is
    reserved by orders already in fulfilment). The implementation of
    inventory.hooks.shortfall (a count found fewer units than were reserved).
    """
    chosen = _shortfall_candidates(
        product_id=product_id, warehouse_id=warehouse_id, quantity=quantity
    )
    if not chosen:
        return 0
    orders = {
        o.pk: o
        for o in Order.objects.select_for_update(of=("self",))
        .filter(pk__in={oid for _, oid in chosen}, status__in=_SHORTFALL_WAITING)
        .order_by("pk")
    }
    released = allocations_release_quantity(
        allocation_ids=[pk for pk, _ in chosen],
        order_ids=list(orders),
        product_id=product_id,
        warehouse_id=warehouse_id,
        quantity=quantity,
        references={pk: f"order:{o.number}" for pk, o in orders.items()},
        user=user,
    )
    per_order: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for allocation, taken in released:
        per_order[allocation.order_line.order_id].append(
            {
                "line": allocation.order_line.line_number,
                "sku": allocation.order_line.sku,
                "warehouse": allocation.warehouse.code,
                "quantity": taken,
            }
        )
    for order_id, lines in per_order.items():
        order = orders[order_id]
        events.stock_deallocated_event(
            order=order, reason=reason, allocations=lines, user=user, actor=actor
        )
        if order.status == S.ALLOCATED:
            order_transition(order=order, to=S.BACKORDERED, reason=reason, user=user, actor=actor)
    return sum(taken for _, taken in released)


class _ShortfallHook:
    """inventory.hooks.shortfall, filled in OrdersConfig.ready()."""

    def reservations_release_for_shortfall(
        self,
        *,
        product_id: int,
        warehouse_id: int,
        quantity: int,
        reason: str,
        user: ActingUser | None = None,
    ) -> int:
        return allocations_release_for_shortfall(
            product_id=product_id,
            warehouse_id=warehouse_id,
            quantity=quantity,
            reason=reason,
            user=user,
        )


class _RestockHook:
    """inventory.hooks.restock, filled in OrdersConfig.ready()."""

    def backorders_enqueue(self, *, product_ids: list[int]) -> None:
        backorders_enqueue(product_ids=product_ids)


shortfall_hook = _ShortfallHook()
restock_hook = _RestockHook()
