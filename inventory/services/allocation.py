"""Allocation of order lines to warehouse stock, per the channel's fulfilment policy.

Policy (orders.ChannelWarehouse, eligible warehouses in priority order):
1. ship complete from one warehouse if any can (the highest-priority one that can);
2. else split across the fewest warehouses (ties: the highest-priority combination);
3. else allocate what exists (priority order) and backorder the rest.

Lock order, everywhere: the order row first, then stock levels by primary key
(inventory.services.stock). A failure anywhere rolls back the whole order's
allocation: everything runs in one transaction.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import NamedTuple

from django.db import connection, transaction
from django.db.models import F

from core.errors import Conflict
from core.pipeline import pipelined, prepared_cursor
from inventory import error_codes
from inventory.models import Allocation, StockLevel, StockMovement
from inventory.services.allocation_policy import (  # noqa: F401  (NO_POSTCODE_COUNTRIES: orders.services.desk)
    NO_POSTCODE_COUNTRIES,
    hold_reasons,
    plan_allocation,
)
from inventory.services.stock import (
    Reservation,
    StockChange,
    stock_apply,
    stock_reserve,
)
from orders import events
from orders.models import Channel, Order
from orders.services.holds import order_holds_place_automatic
from orders.transitions import order_transition

logger = logging.getLogger(__name__)

S = Order.Status
ALLOCATABLE = frozenset({S.RECEIVED, S.ON_HOLD, S.BACKORDERED, S.ALLOCATED})
BACKORDER_BATCH = 500


class _Line(NamedTuple):
    id: int
    line_number: int
    product_id: int
    sku: str
    quantity: int
    taken: int  # already reserved or fulfilled

    @property
    def missing(self) -> int:
        return self.quantity - self.taken


class _Inputs(NamedTuple):
    has_active_hold: bool
    lines: list[_Line]
    rules: list[tuple[int, str]]  # eligible active warehouses in priority order: (id, code)
    levels: dict[tuple[int, int], StockLevel]  # locked, for the missing products at those


def _place_holds(*, order: Order, reasons: list[tuple[str, str]], user, actor) -> None:
    order_holds_place_automatic(
        order=order,
        reasons=reasons,
        status_reason="; ".join(detail for _, detail in reasons),
        user=user,
        actor=actor,
    )


_ORDER_FIELDS = [f.attname for f in Order._meta.concrete_fields]
_CHANNEL_FIELDS = [f.attname for f in Channel._meta.concrete_fields]
_LOCK_SQL = (
    "SELECT "  # noqa: S608 - column names from the model
    + ", ".join(f.column for f in Order._meta.concrete_fields)
    + " FROM orders_order WHERE id = %s FOR UPDATE"
)


def _lock_order(order: Order) -> Order:
    # Raw SQL: the order lock is on every allocation's hot path, where compiling
    # the ORM query cost more than running it. Nothing else is read in this
    # statement on purpose: a SELECT ... FOR UPDATE that waited for the lock
    # would evaluate joined or sub-selected rows in its old snapshot.
    with connection.cursor() as cursor:
        cursor.execute(_LOCK_SQL, [order.pk])
        return _locked_order(order, cursor.fetchone())


def _locked_order(order: Order, row) -> Order:
    if row is None:
        raise Order.DoesNotExist(f"Order {order.pk} does not exist.")
    locked = Order.from_db(connection.alias, _ORDER_FIELDS, row)
    if Order.channel.is_cached(order) and order.channel_id == locked.channel_id:
        locked.channel = order.channel
    return locked


# Read AFTER the order lock, as a new statement (so a new snapshot in READ
# COMMITTED: every allocation change of this order committed before we got the
# lock is seen): whether a hold is active, each line with what is already
# reserved for it, the channel's eligible warehouses in priority order, and the
# stock levels of the missing products at those warehouses, locked in primary-key
# order (the global lock order: order row, then levels by pk). One round trip
# instead of four ORM queries; see docs/decisions/0002-allocation-hot-path.md.
_INPUTS_SQL_TEMPLATE = """
WITH lines AS (
  SELECT l.id, l.line_number, l.product_id, l.sku, l.quantity,
    (SELECT coalesce(sum(a.quantity), 0) FROM inventory_allocation a
     WHERE a.order_line_id = l.id AND a.status IN (%(active)s, %(fulfilled)s)) AS taken
  FROM orders_orderline l WHERE l.order_id = %(order)s
), rules AS (
  SELECT cw.warehouse_id, w.code, cw.priority
  FROM orders_channelwarehouse cw JOIN inventory_warehouse w ON w.id = cw.warehouse_id
  WHERE cw.channel_id = (SELECT channel_id FROM orders_order WHERE id = %(order)s)
    AND w.is_active
), levels AS (
  SELECT sl.id, sl.product_id, sl.warehouse_id, sl.on_hand, sl.reserved, sl.low_stock_threshold
  FROM inventory_stocklevel sl
  WHERE sl.product_id IN (SELECT product_id FROM lines WHERE quantity > taken)
    AND sl.warehouse_id IN (SELECT warehouse_id FROM rules)
  ORDER BY sl.id FOR UPDATE OF sl
)
SELECT {channel_columns},
  EXISTS (SELECT 1 FROM orders_hold h WHERE h.order_id = %(order)s AND h.released_at IS NULL)
    AS has_active_hold,
  (SELECT coalesce(json_agg(json_build_array(id, line_number, product_id, sku, quantity, taken)
     ORDER BY line_number), '[]') FROM lines) AS lines_json,
  (SELECT coalesce(json_agg(json_build_array(warehouse_id, code) ORDER BY priority, warehouse_id),
     '[]') FROM rules) AS rules_json,
  (SELECT coalesce(json_agg(json_build_array(id, product_id, warehouse_id, on_hand, reserved,
     low_stock_threshold)), '[]') FROM levels) AS levels_json
FROM orders_channel c WHERE c.id = (SELECT channel_id FROM orders_order WHERE id = %(order)s)
"""
_INPUTS_SQL = _INPUTS_SQL_TEMPLATE.format(
    channel_columns=", ".join(f"c.{f.column}" for f in Channel._meta.concrete_fields)
)
_INPUTS_PARAMS = {"active": Allocation.Status.ACTIVE, "fulfilled": Allocation.Status.FULFILLED}


def _lock_for_allocation(order: Order) -> tuple[Order, _Inputs]:
    """Lock the order, then read its allocation inputs, in one round trip."""
    with pipelined(), prepared_cursor() as lock, prepared_cursor() as read:
        lock.execute(_LOCK_SQL, [order.pk], prepare=True)
        read.execute(_INPUTS_SQL, {**_INPUTS_PARAMS, "order": order.pk}, prepare=True)
        locked = _locked_order(order, lock.fetchone())
        return locked, _inputs_from_row(locked, read.fetchone())


def _allocation_inputs(order: Order) -> _Inputs:
    with prepared_cursor() as cursor:
        cursor.execute(_INPUTS_SQL, {**_INPUTS_PARAMS, "order": order.pk}, prepare=True)
        return _inputs_from_row(order, cursor.fetchone())


def _inputs_from_row(order: Order, row) -> _Inputs:
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


def _allocate_locked(
    *, order: Order, inputs: _Inputs, user, actor, reserved_into: list | None = None
) -> None:
    """Allocation body; the order row is locked and its status is allocatable."""
    needs = [line for line in inputs.lines if line.missing > 0]
    if not needs:
        if order.status != S.ALLOCATED:
            order_transition(
                order=order,
                to=S.ALLOCATED,
                reason="Every line is allocated.",
                user=user,
                actor=actor,
            )
        return

    warehouses = [w for w, _ in inputs.rules]
    codes = dict(inputs.rules)
    per_product: dict[int, int] = defaultdict(int)
    for line in needs:
        per_product[line.product_id] += line.missing

    levels = inputs.levels
    available = {key: level.available for key, level in levels.items()}
    plan = plan_allocation(
        needs=dict(per_product), warehouses=warehouses, available=available, codes=codes
    )

    # Hand each product's picks to its lines in line order.
    reservations: list[tuple[_Line, int, int]] = []  # (line, warehouse_id, quantity)
    remaining: dict[int, int] = {}
    pools = {p: [list(pick) for pick in picks] for p, picks in plan.picks.items()}
    for line in needs:
        left = line.missing
        for pick in pools.get(line.product_id, []):
            if not left:
                break
            take = min(pick[1], left)
            if take:
                reservations.append((line, pick[0], take))
                pick[1] -= take
                left -= take
        remaining[line.id] = left

    short = [line for line in needs if remaining[line.id]]
    if short and not reservations and order.status == S.BACKORDERED:
        return  # still waiting, nothing changed: no new event on every retry
    explained = []  # written with the status change, in one INSERT
    if reservations:
        events.stock_allocated_event(
            order=order,
            strategy=plan.strategy,
            reason=plan.reason,
            allocations=[
                {
                    "line": line.line_number,
                    "sku": line.sku,
                    "warehouse": codes[w],
                    "quantity": q,
                }
                for line, w, q in reservations
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
    written = [
        Reservation(order_line_id=line.id, product_id=line.product_id, warehouse_id=w, quantity=q)
        for line, w, q in reservations
    ]
    with pipelined():  # the stock write and the status write in one round trip
        stock_reserve(
            reservations=written,
            locked=levels,
            order_id=order.pk,
            reference=f"order:{order.number}",
            user=user,
        )
        order_transition(
            order=order,
            to=S.BACKORDERED if short else S.ALLOCATED,
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
    user=None,
    actor: str | None = None,
    reserved_into: list | None = None,
    savepoint: bool = True,
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
    """
    with transaction.atomic(savepoint=savepoint):
        return _allocate(order=order, user=user, actor=actor, reserved_into=reserved_into)


def _allocate(*, order: Order, user, actor, reserved_into: list | None) -> Order:
    locked, inputs = _lock_for_allocation(order)
    if locked.status not in ALLOCATABLE:
        raise Conflict(
            f"Order {locked.number} is {locked.status}; only received, on-hold, backordered "
            "or allocated orders can be allocated.",
            code=error_codes.ORDER_NOT_ALLOCATABLE,
            status=locked.status,
        )
    if inputs.has_active_hold:
        if locked.status != S.ON_HOLD:
            order_transition(
                order=locked,
                to=S.ON_HOLD,
                reason="Order has an active hold.",
                user=user,
                actor=actor,
            )
        _sync(order, locked)
        return order
    if locked.status == S.RECEIVED:
        reasons = hold_reasons(locked)
        if reasons:
            _place_holds(order=locked, reasons=reasons, user=user, actor=actor)
            _sync(order, locked)
            return order
    _allocate_locked(
        order=locked, inputs=inputs, user=user, actor=actor, reserved_into=reserved_into
    )
    _sync(order, locked)
    return order


def _release_locked(*, order: Order, reason: str, user, actor) -> list[Allocation]:
    allocations = list(
        Allocation.objects.select_for_update(of=("self",))
        .filter(order_line__order=order, status=Allocation.Status.ACTIVE)
        .select_related("order_line", "warehouse")
        .order_by("pk")
    )
    if not allocations:
        return []
    reference = f"order:{order.number}"
    stock_apply(
        changes=[
            StockChange(
                product_id=a.order_line.product_id,
                warehouse_id=a.warehouse_id,
                reserved_delta=-a.quantity,
                type=StockMovement.Type.RELEASE,
                reason=reason[:64],
                reference=reference,
                order_id=order.pk,
            )
            for a in allocations
        ],
        user=user,
    )
    Allocation.objects.filter(pk__in=[a.pk for a in allocations]).update(
        status=Allocation.Status.RELEASED
    )
    events.stock_deallocated_event(
        order=order,
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


@transaction.atomic
def order_deallocate(
    *, order: Order, user=None, actor: str | None = None, reason: str = "Order cancelled"
) -> list[Allocation]:
    """Release every active allocation of the order (stock back to available).

    Does not change the order's status (the caller, e.g. cancellation, does).
    Records a `deallocated` OrderEvent when something was released; waiting
    backorders for the freed products are retried by a worker after commit.
    Returns the released allocations (empty when there were none).
    """
    locked = _lock_order(order)
    return _release_locked(order=locked, reason=reason, user=user, actor=actor)


@transaction.atomic
def order_reallocate(
    *, order: Order, user=None, actor: str | None = None, reason: str = "Order edited"
) -> Order:
    """Re-run allocation after an edit before dispatch: release everything, allocate afresh.

    Both happen in one transaction under the same locks, so the order never
    loses stock to another order in between. Raises Conflict
    (order_not_allocatable) once the order is in fulfilment or later.
    """
    locked = _lock_order(order)
    if locked.status not in ALLOCATABLE:
        raise Conflict(
            f"Order {locked.number} is {locked.status}; it can no longer be reallocated.",
            code=error_codes.ORDER_NOT_ALLOCATABLE,
            status=locked.status,
        )
    _release_locked(order=locked, reason=reason, user=user, actor=actor)
    inputs = _allocation_inputs(locked)
    if inputs.has_active_hold:
        if locked.status != S.ON_HOLD:
            order_transition(
                order=locked,
                to=S.ON_HOLD,
                reason="Order has an active hold.",
                user=user,
                actor=actor,
            )
    else:
        _allocate_locked(order=locked, inputs=inputs, user=user, actor=actor)
    _sync(order, locked)
    return order


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

    in_stock = StockLevel.objects.filter(on_hand__gt=F("reserved"))
    if product_ids:
        in_stock = in_stock.filter(product_id__in=product_ids)
    waiting = Order.objects.filter(
        status=S.BACKORDERED, lines__product_id__in=in_stock.values("product_id")
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
                if order.status != S.BACKORDERED:
                    continue
                before = Allocation.objects.filter(order_line__order=order).count()
                order_fulfil(order=order, actor="system:backorders")
                after = Allocation.objects.filter(order_line__order=order).count()
                touched += int(order.status != S.BACKORDERED or after != before)
        except Exception:
            # One bad order must not starve the queue behind it; it is retried next time.
            logger.exception("Backorder allocation failed for order %s", order_id)
    return touched


def allocations_release_for_shortfall(
    *,
    product_id: int,
    warehouse_id: int,
    quantity: int,
    reason: str,
    user=None,
    actor: str | None = None,
) -> int:
    """Un-reserve `quantity` units at one level because the stock is not physically there.

    Takes them from the least important orders first (lowest priority, newest),
    only from orders not yet in fulfilment; each loses that reservation
    (`release` movement, `deallocated` event) and goes back to `backordered`.
    Locks the orders (pk order) before the level, like every allocation.
    Returns how many units were released (less than asked when the rest is
    reserved by orders already in fulfilment).
    """
    waiting = [S.ALLOCATED, S.BACKORDERED, S.ON_HOLD]
    candidates = list(
        Allocation.objects.filter(
            order_line__product_id=product_id,
            warehouse_id=warehouse_id,
            status=Allocation.Status.ACTIVE,
            order_line__order__status__in=waiting,
        )
        .order_by("order_line__order__priority", "-order_line__order__placed_at", "-pk")
        .values_list("pk", "order_line__order_id", "quantity")
    )
    chosen, total = [], 0
    for pk, order_id, q in candidates:
        if total >= quantity:
            break
        chosen.append((pk, order_id))
        total += q
    if not chosen:
        return 0
    orders = {
        o.pk: o
        for o in Order.objects.select_for_update(of=("self",))
        .filter(pk__in={oid for _, oid in chosen}, status__in=waiting)
        .order_by("pk")
    }
    rank = {pk: i for i, (pk, _) in enumerate(chosen)}
    allocations = sorted(
        Allocation.objects.select_for_update(of=("self",))
        .filter(pk__in=rank, status=Allocation.Status.ACTIVE, order_line__order_id__in=orders)
        .select_related("order_line", "warehouse"),
        key=lambda a: rank[a.pk],
    )
    remaining, changes, released = quantity, [], defaultdict(list)
    for a in allocations:
        if not remaining:
            break
        take = min(a.quantity, remaining)
        remaining -= take
        order = orders[a.order_line.order_id]
        changes.append(
            StockChange(
                product_id=product_id,
                warehouse_id=warehouse_id,
                reserved_delta=-take,
                type=StockMovement.Type.RELEASE,
                reason="count_shortfall",
                reference=f"order:{order.number}",
                order_id=order.pk,
            )
        )
        if take == a.quantity:
            Allocation.objects.filter(pk=a.pk).update(status=Allocation.Status.RELEASED)
        else:
            Allocation.objects.filter(pk=a.pk).update(quantity=F("quantity") - take)
        released[order.pk].append(
            {
                "line": a.order_line.line_number,
                "sku": a.order_line.sku,
                "warehouse": a.warehouse.code,
                "quantity": take,
            }
        )
    stock_apply(changes=changes, user=user)
    for order_id, lines in released.items():
        order = orders[order_id]
        events.stock_deallocated_event(
            order=order, reason=reason, allocations=lines, user=user, actor=actor
        )
        if order.status == S.ALLOCATED:
            order_transition(order=order, to=S.BACKORDERED, reason=reason, user=user, actor=actor)
    return quantity - remaining
