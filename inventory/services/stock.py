"""THE one module that changes StockLevel rows.

Every change:
- locks the affected StockLevel rows with SELECT ... FOR UPDATE ordered by
  primary key, so any two transactions acquire their stock locks in the same
  order and cannot deadlock on each other;
- updates them with F() expressions (the database CHECK
  0 <= reserved <= on_hand is the last line of defence against oversell);
- writes one StockMovement ledger row per change in the same transaction, so
  sum(movements) == level at every commit (`manage.py verify_stock_ledger`);
- where on_hand drops, takes what the unbinned units cannot cover out of the
  site's bins under the same locks, so sum(BinStock) <= on_hand at every commit
  (inventory.services.bin_stock; the bin operations are in inventory.services.bins).

Callers that lock other rows (orders) must do so before calling in here:
the global lock order is order rows, then stock levels by pk.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, NoReturn, Protocol

from django.db import connection, transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone

from core.errors import ValidationFailed
from core.models import column_range
from core.pipeline import prepared_cursor
from core.users import recorded_user
from inventory import error_codes
from inventory.errors import InsufficientStock, StockLevelLocked
from inventory.hooks import restock, stock_low
from inventory.models import (
    AdjustmentReason,
    Allocation,
    LowStockAlert,
    Product,
    StockCount,
    StockLevel,
    StockMovement,
    Warehouse,
)
from inventory.services.bin_stock import bins_follow_on_hand
from inventory.sql import stock_levels_add_sql, stock_reserve_many_sql, stock_reserve_sql

if TYPE_CHECKING:
    from core.users import ActingUser

logger = logging.getLogger(__name__)

Key = tuple[int, int]  # (product_id, warehouse_id)
STOCK_LEVEL_MAX = column_range(StockLevel, "on_hand")[1]
# Above this many levels in one change, one UPDATE ... FROM (VALUES ...) replaces per-row UPDATEs.
BULK_UPDATE_FROM = 8
T = StockMovement.Type


@dataclass(frozen=True)
class StockChange:
    product_id: int
    warehouse_id: int
    on_hand_delta: int = 0
    reserved_delta: int = 0
    type: str = T.ADJUSTMENT
    reason: str = ""
    reference: str = ""
    order_id: int | None = None
    note: str = ""

    @property
    def key(self) -> Key:
        return (self.product_id, self.warehouse_id)


def require_positive(quantity: int, *, field: str = "quantity") -> None:
    if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity <= 0:
        raise ValidationFailed(
            f"{field} must be a whole number greater than zero (got {quantity!r}).",
            code=error_codes.INVALID_QUANTITY,
            errors=[{"field": field, "message": "Must be a whole number greater than zero."}],
        )


def stock_levels_lock(*, keys: Iterable[Key]) -> dict[Key, StockLevel]:
    """Lock the existing StockLevel rows for `keys` in primary-key order and return them.

    Keys without a row are absent from the result (nothing is held there).
    """
    keys = set(keys)
    if not keys:
        return {}
    warehouses = {w for _, w in keys}
    products = {p for p, _ in keys}
    if len(products) * len(warehouses) == len(keys):
        # The keys are a product × warehouse rectangle: exact and cheap.
        where = Q(product_id__in=products, warehouse_id__in=warehouses)
    else:
        # Find the ids without locking, then lock exactly those rows (levels are never deleted).
        ids = [
            pk
            for pk, p, w in StockLevel.objects.filter(
                product_id__in=products, warehouse_id__in=warehouses
            ).values_list("pk", "product_id", "warehouse_id")
            if (p, w) in keys
        ]
        where = Q(pk__in=ids)
    levels = StockLevel.objects.select_for_update().filter(where).order_by("pk")
    return {
        (lv.product_id, lv.warehouse_id): lv
        for lv in levels
        if (lv.product_id, lv.warehouse_id) in keys
    }


def stock_levels_ensure(*, keys: Iterable[Key]) -> None:
    """Create empty StockLevel rows for keys that have none (no lock taken)."""
    # Inserted before any stock row is locked, in a fixed order, so that two
    # receipts creating the same new level wait on each other instead of deadlocking.
    missing = sorted(set(keys))
    if missing:
        StockLevel.objects.bulk_create(
            [StockLevel(product_id=p, warehouse_id=w) for p, w in missing], ignore_conflicts=True
        )


def _refuse_if_counting(keys: Iterable[Key]) -> None:
    keys = set(keys)
    open_counts = StockCount.objects.filter(
        status=StockCount.Status.OPEN,
        product_id__in={p for p, _ in keys},
        warehouse_id__in={w for _, w in keys},
    ).values_list("product_id", "warehouse_id", "pk")
    locked = [(p, w, pk) for p, w, pk in open_counts if (p, w) in keys]
    if locked:
        p, w, pk = locked[0]
        product = Product.objects.get(pk=p)
        warehouse = Warehouse.objects.get(pk=w)
        raise StockLevelLocked(
            f"{product.sku} at {warehouse.code} is locked by count {pk} in progress; "
            "complete or cancel the count first.",
            code=error_codes.STOCK_LEVEL_LOCKED,
            count=pk,
        )


# No savepoint: a refusal here must abort the caller's whole transaction anyway
# (one order's allocation is all or nothing), and it saves two round trips.
@transaction.atomic(savepoint=False)
def stock_apply(
    *,
    changes: list[StockChange],
    user: ActingUser | None = None,
    locked: dict[Key, StockLevel] | None = None,
    create_missing: bool = False,
    respect_count_locks: bool = False,
) -> dict[Key, StockLevel]:
    """Apply `changes` atomically and write one ledger row per change.

    `locked` passes levels the caller already locked (allocation reads them
    under lock before deciding). Raises InsufficientStock, and nothing is
    applied, when any resulting level would break 0 <= reserved <= on_hand.
    Returns the levels with their new values.
    """
    changes = [c for c in changes if c.on_hand_delta or c.reserved_delta]
    if not changes:
        return {}
    keys = {c.key for c in changes}
    if create_missing:
        stock_levels_ensure(keys=[c.key for c in changes if c.on_hand_delta > 0])
    if respect_count_locks:
        _refuse_if_counting(keys)
    levels = dict(locked or {})
    if not keys <= levels.keys():
        levels.update(stock_levels_lock(keys=keys - levels.keys()))
    totals = _totals(changes)
    _check_totals(totals=totals, levels=levels)
    _levels_write(totals=totals, levels=levels)
    _movements_write(changes=changes, user=user)
    _bins_follow(changes=changes, totals=totals, levels=levels, user=user)
    _low_stock_alerts_update(
        [levels[k] for k in totals],
        was_low=_low_before(
            levels=levels, available_deltas={k: t[0] - t[1] for k, t in totals.items()}
        ),
    )
    freed = sorted({k[0] for k, (d_oh, d_res) in totals.items() if d_oh - d_res > 0})
    if freed:
        _backorders_enqueue(product_ids=freed)
    return {k: levels[k] for k in totals}


def _totals(changes: list[StockChange]) -> dict[Key, list[int]]:
    # Per level: [on_hand delta, reserved delta], summed over the changes.
    totals: dict[Key, list[int]] = defaultdict(lambda: [0, 0])
    for change in changes:
        totals[change.key][0] += change.on_hand_delta
        totals[change.key][1] += change.reserved_delta
    return totals


def _check_totals(*, totals: dict[Key, list[int]], levels: dict[Key, StockLevel]) -> None:
    # Refuse before writing anything: 0 <= reserved <= on_hand <= STOCK_LEVEL_MAX.
    for key, (d_on_hand, d_reserved) in totals.items():
        level = levels.get(key)
        on_hand = (level.on_hand if level else 0) + d_on_hand
        reserved = (level.reserved if level else 0) + d_reserved
        if level is None or on_hand < 0 or reserved < 0 or reserved > on_hand:
            _raise_insufficient(key, level, d_on_hand, d_reserved)
        if on_hand > STOCK_LEVEL_MAX:
            # Refused here rather than by Postgres ("integer out of range", a 500).
            raise ValidationFailed(
                f"On hand would be {on_hand}, more than a stock level can hold "
                f"({STOCK_LEVEL_MAX}).",
                code=error_codes.INVALID_QUANTITY,
                errors=[{"field": "quantity", "message": f"At most {STOCK_LEVEL_MAX} on hand."}],
            )


def _levels_write(*, totals: dict[Key, list[int]], levels: dict[Key, StockLevel]) -> None:
    # F() updates in primary-key order; the locked instances follow.
    now = timezone.now()
    ordered = sorted(totals, key=lambda k: levels[k].pk)
    if len(ordered) <= BULK_UPDATE_FROM:
        for key in ordered:
            d_on_hand, d_reserved = totals[key]
            StockLevel.objects.filter(pk=levels[key].pk).update(
                on_hand=F("on_hand") + d_on_hand,
                reserved=F("reserved") + d_reserved,
                updated_at=now,
            )
    else:
        _levels_add_bulk([(levels[k].pk, totals[k][0], totals[k][1]) for k in ordered], now=now)
    for key in ordered:
        level = levels[key]
        level.on_hand += totals[key][0]
        level.reserved += totals[key][1]
        level.updated_at = now


def _bins_follow(
    *,
    changes: list[StockChange],
    totals: dict[Key, list[int]],
    levels: dict[Key, StockLevel],
    user: ActingUser | None,
) -> None:
    # Where on_hand dropped, the bins of an own site may now hold more than the level:
    # under the same level locks, the excess leaves the bins (inventory.services.bin_stock).
    dropped = {k for k, (d_on_hand, _) in totals.items() if d_on_hand < 0}
    if not dropped:
        return
    references = {c.key: c.reference or c.type for c in changes if c.key in dropped}
    bins_follow_on_hand(
        on_hand={k: levels[k].on_hand for k in dropped}, references=references, user=user
    )


def _movements_write(*, changes: list[StockChange], user: ActingUser | None) -> None:
    # One ledger row per change, in the same transaction as the levels.
    StockMovement.objects.bulk_create(
        [
            StockMovement(
                product_id=c.product_id,
                warehouse_id=c.warehouse_id,
                type=c.type,
                on_hand_delta=c.on_hand_delta,
                reserved_delta=c.reserved_delta,
                reason=c.reason,
                reference=c.reference,
                order_id=c.order_id,
                actor=recorded_user(user),
                note=c.note,
            )
            for c in changes
        ]
    )


@dataclass(frozen=True)
class Reservation:
    order_line_id: int
    product_id: int
    warehouse_id: int
    quantity: int


def stock_reserve(
    *,
    reservations: list[Reservation],
    locked: dict[Key, StockLevel],
    order_id: int,
    reference: str,
    user: ActingUser | None = None,
) -> None:
    """Reserve stock for order lines: levels, ledger rows and active allocations at once.

    The allocation hot path's version of `stock_apply` + creating Allocation rows:
    the caller has locked the levels (in primary-key order, after the order row) and
    planned within what they hold; this checks again (raising InsufficientStock, nothing applied) and
    then writes everything in ONE statement, so the hot row's lock is held for
    one round trip and a commit instead of five (docs/decisions/0002).
    An existing active allocation of the same line and warehouse is topped up.
    """
    if not reservations:
        return
    totals: dict[Key, int] = defaultdict(int)
    for r in reservations:
        require_positive(r.quantity)
        totals[(r.product_id, r.warehouse_id)] += r.quantity
    for key, quantity in totals.items():
        level = locked.get(key)
        if level is None or level.reserved + quantity > level.on_hand:
            _raise_insufficient(key, level, 0, quantity)

    now = timezone.now()
    person = recorded_user(user)
    actor_id = person.pk if person is not None else None
    params: list[int] = []
    for r in reservations:
        level = locked[(r.product_id, r.warehouse_id)]
        params += [level.pk, r.order_line_id, r.product_id, r.warehouse_id, r.quantity]
    with prepared_cursor() as cursor:
        cursor.execute(
            stock_reserve_sql(rows=len(reservations)),
            [
                *params,
                now,
                T.RESERVATION,
                reference,
                order_id,
                actor_id,
                now,
                now,
                now,
                Allocation.Status.ACTIVE,
            ],
            prepare=True,
        )
    for key, quantity in totals.items():
        level = locked[key]
        level.reserved += quantity
        level.updated_at = now
    _low_stock_alerts_update(
        [locked[k] for k in totals],
        was_low=_low_before(levels=locked, available_deltas={k: -q for k, q in totals.items()}),
    )


@dataclass(frozen=True)
class OrderReservations:
    """What one order reserves in a batch (`stock_reserve_many`)."""

    order_id: int
    reference: str
    reservations: list[Reservation]


# Rows per statement in stock_reserve_many: 7 parameters each, under Postgres' 65,535.
RESERVE_MANY_CHUNK = 5000


def stock_reserve_many(
    *,
    orders: list[OrderReservations],
    locked: dict[Key, StockLevel],
    user: ActingUser | None = None,
) -> None:
    """`stock_reserve` for many orders at once (batch intake): levels, ledger rows and
    active allocations, in one statement per RESERVE_MANY_CHUNK reservations.

    The caller has locked every level in `locked` (`stock_levels_lock`: primary-key
    order, after its order rows) and planned the orders one after another within
    what those levels hold. This checks the totals of the whole batch again (raising
    InsufficientStock, nothing applied) and then writes: each level is updated once
    with the batch's sum, each reservation gets its ledger row (referencing its own
    order) and its active allocation, as `stock_reserve` would have written them for
    each order in turn.
    """
    rows = [(o, r) for o in orders for r in o.reservations]
    if not rows:
        return
    totals: dict[Key, int] = defaultdict(int)
    for _, r in rows:
        require_positive(r.quantity)
        totals[(r.product_id, r.warehouse_id)] += r.quantity
    for key, quantity in totals.items():
        level = locked.get(key)
        if level is None or level.reserved + quantity > level.on_hand:
            _raise_insufficient(key, level, 0, quantity)

    now = timezone.now()
    person = recorded_user(user)
    actor_id = person.pk if person is not None else None
    tail = [now, T.RESERVATION, actor_id, now, now, now, Allocation.Status.ACTIVE]
    with prepared_cursor() as cursor:
        for start in range(0, len(rows), RESERVE_MANY_CHUNK):
            chunk = rows[start : start + RESERVE_MANY_CHUNK]
            params: list[object] = []
            for o, r in chunk:
                level = locked[(r.product_id, r.warehouse_id)]
                params += [
                    level.pk,
                    r.order_line_id,
                    r.product_id,
                    r.warehouse_id,
                    r.quantity,
                    o.order_id,
                    o.reference,
                ]
            # Not prepared: the row count varies from batch to batch, and every distinct
            # count would stay prepared on the connection.
            cursor.execute(stock_reserve_many_sql(rows=len(chunk)), [*params, *tail])
    for key, quantity in totals.items():
        level = locked[key]
        level.reserved += quantity
        level.updated_at = now
    _low_stock_alerts_update(
        [locked[k] for k in totals],
        was_low=_low_before(levels=locked, available_deltas={k: -q for k, q in totals.items()}),
    )


def _levels_add_bulk(rows: list[tuple[int, int, int]], *, now: datetime) -> None:
    # The F() update of many rows in one statement (imports, reconciliation):
    # relative increments, so the result is the same as one UPDATE per row.
    with connection.cursor() as cursor:
        for start in range(0, len(rows), 1000):
            chunk = rows[start : start + 1000]
            cursor.execute(
                stock_levels_add_sql(rows=len(chunk)),
                [now, *[x for row in chunk for x in row]],
            )


def _raise_insufficient(
    key: Key, level: StockLevel | None, d_on_hand: int, d_reserved: int
) -> NoReturn:
    product = Product.objects.get(pk=key[0])
    warehouse = Warehouse.objects.get(pk=key[1])
    on_hand = level.on_hand if level else 0
    reserved = level.reserved if level else 0
    if d_on_hand < 0 and on_hand + d_on_hand < reserved + d_reserved and on_hand + d_on_hand >= 0:
        raise InsufficientStock(
            f"{product.sku} at {warehouse.code}: removing {-d_on_hand} would leave on hand "
            f"{on_hand + d_on_hand} below the {reserved + d_reserved} reserved for orders; "
            "release those allocations first.",
            code=error_codes.BELOW_RESERVED,
            sku=product.sku,
            warehouse=warehouse.code,
            on_hand=on_hand,
            reserved=reserved,
        )
    raise InsufficientStock(
        f"{product.sku} at {warehouse.code}: on hand {on_hand}, reserved {reserved}, "
        f"available {on_hand - reserved}; cannot apply on hand {d_on_hand:+}, reserved {d_reserved:+}.",
        code=error_codes.INSUFFICIENT_STOCK,
        sku=product.sku,
        warehouse=warehouse.code,
        on_hand=on_hand,
        reserved=reserved,
    )


def _low_before(*, levels: dict[Key, StockLevel], available_deltas: dict[Key, int]) -> set[Key]:
    # The levels that were low stock before their available changed by the delta
    # (the levels already carry their new quantities).
    return {
        key
        for key, delta in available_deltas.items()
        if (level := levels[key]).low_stock_threshold > 0
        and level.available - delta <= level.low_stock_threshold
    }


def _low_stock_alerts_raise(low: list[StockLevel], *, was_low: set[Key]) -> None:
    LowStockAlert.objects.bulk_create(
        [
            LowStockAlert(
                product_id=lv.product_id,
                warehouse_id=lv.warehouse_id,
                threshold=lv.low_stock_threshold,
                available=lv.available,
            )
            for lv in low
        ],
        ignore_conflicts=True,
    )
    # Levels that just went low: the channels selling from them hear of it (stock.low).
    became_low = [lv for lv in low if (lv.product_id, lv.warehouse_id) not in was_low]
    if became_low:
        stock_low.impl.stock_levels_became_low(levels=became_low)


def _low_stock_alerts_update(
    levels: list[StockLevel], *, was_low: set[Key], thresholds_changed: bool = False
) -> None:
    # The open alerts follow StockLevel.is_low (LOW_STOCK). A level without a threshold
    # can only have an open alert if its threshold was just cleared, so quantity changes
    # (the allocation hot path) skip those levels without a query.
    if not thresholds_changed:
        levels = [lv for lv in levels if lv.low_stock_threshold > 0]
    if not levels:
        return
    low = [lv for lv in levels if lv.is_low]
    ok = [lv for lv in levels if not lv.is_low]
    if low:
        _low_stock_alerts_raise(low, was_low=was_low)
    if ok:
        keys = {(lv.product_id, lv.warehouse_id) for lv in ok}
        open_alerts = [
            pk
            for pk, p, w in LowStockAlert.objects.filter(
                resolved_at__isnull=True,
                product_id__in={p for p, _ in keys},
                warehouse_id__in={w for _, w in keys},
            ).values_list("pk", "product_id", "warehouse_id")
            if (p, w) in keys
        ]
        if open_alerts:
            LowStockAlert.objects.filter(pk__in=open_alerts).update(resolved_at=timezone.now())


@transaction.atomic
def low_stock_alerts_sync() -> tuple[int, int]:
    """Make the open LowStockAlerts exactly the low levels (LOW_STOCK); returns (raised, resolved).

    Every change made through this module keeps the alerts itself; this is for loaders
    that write levels in bulk without it (demo and benchmark data) and for existing
    databases. Run it when no stock is changing: it does not lock the levels.
    """
    same_level = {"product_id": OuterRef("product_id"), "warehouse_id": OuterRef("warehouse_id")}
    missing = (
        StockLevel.objects.low()
        .filter(~Exists(LowStockAlert.objects.filter(resolved_at__isnull=True, **same_level)))
        .values_list("product_id", "warehouse_id", "low_stock_threshold", "on_hand", "reserved")
        .order_by("pk")
    )
    raised = LowStockAlert.objects.bulk_create(
        [
            LowStockAlert(
                product_id=p, warehouse_id=w, threshold=threshold, available=on_hand - reserved
            )
            for p, w, threshold, on_hand, reserved in missing.iterator(chunk_size=2000)
        ],
        ignore_conflicts=True,
        batch_size=1000,
    )
    resolved = (
        LowStockAlert.objects.filter(resolved_at__isnull=True)
        .exclude(Exists(StockLevel.objects.low().filter(**same_level)))
        .update(resolved_at=timezone.now())
    )
    return len(raised), resolved


def _backorders_enqueue(*, product_ids: list[int]) -> None:
    # After commit, so the worker sees the stock; and never in the request's way.
    transaction.on_commit(partial(backorders_enqueue_now, product_ids=product_ids))


def backorders_enqueue_now(*, product_ids: list[int]) -> None:
    """Ask a worker to allocate waiting orders for these products.

    A broker outage must not fail a receipt that has already committed: the
    error is logged and the periodic backorder sweep picks the orders up.
    """
    try:
        # The order workflow allocates backorders (inventory.hooks.restock, filled by orders).
        restock.impl.backorders_enqueue(product_ids=product_ids)
    except Exception:
        logger.exception("Could not enqueue backorder allocation for products %s", product_ids)


# --- Operations -------------------------------------------------------------


@transaction.atomic
def stock_receive(
    *,
    product: Product,
    warehouse: Warehouse,
    quantity: int,
    reference: str = "",
    user: ActingUser | None = None,
    type: str = T.RECEIPT,
    note: str = "",
) -> StockLevel:
    """Put `quantity` received units away into stock (on_hand += quantity).

    Raises ValidationFailed for a quantity that is not a positive whole number.
    """
    require_positive(quantity)
    change = StockChange(
        product_id=product.pk,
        warehouse_id=warehouse.pk,
        on_hand_delta=quantity,
        type=type,
        reference=reference,
        note=note,
    )
    return stock_apply(changes=[change], user=user, create_missing=True)[change.key]


@transaction.atomic
def stock_adjust(
    *,
    product: Product,
    warehouse: Warehouse,
    delta: int,
    reason: str,
    note: str = "",
    reference: str = "",
    user: ActingUser | None = None,
) -> StockLevel:
    """Add or remove on-hand stock with a reason code.

    Raises ValidationFailed for a zero delta or an unknown reason,
    StockLevelLocked while a count is open on the level, and InsufficientStock
    when removing more than is on hand or would leave less than is reserved.
    """
    if not isinstance(delta, int) or isinstance(delta, bool) or delta == 0:
        raise ValidationFailed(
            f"An adjustment must change stock by a non-zero whole number (got {delta!r}).",
            code=error_codes.INVALID_QUANTITY,
            errors=[{"field": "delta", "message": "Must be a non-zero whole number."}],
        )
    if reason not in AdjustmentReason.values:
        raise ValidationFailed(
            f"Unknown adjustment reason {reason!r}.",
            code=error_codes.INVALID_REASON,
            errors=[
                {"field": "reason", "message": f"Use one of {', '.join(AdjustmentReason.values)}."}
            ],
        )
    change = StockChange(
        product_id=product.pk,
        warehouse_id=warehouse.pk,
        on_hand_delta=delta,
        type=T.ADJUSTMENT,
        reason=reason,
        reference=reference,
        note=note,
    )
    return stock_apply(changes=[change], user=user, create_missing=True, respect_count_locks=True)[
        change.key
    ]


@transaction.atomic
def stock_set_on_hand(
    *,
    product: Product,
    warehouse: Warehouse,
    on_hand: int,
    type: str,
    reason: str = "",
    reference: str = "",
    note: str = "",
    user: ActingUser | None = None,
    respect_count_locks: bool = True,
) -> tuple[StockLevel | None, int]:
    """Make on_hand equal `on_hand` (counts, imports, reconciliation); returns (level, delta),
    the level None when there is none and nothing changed (0 wanted where nothing was).

    Raises ValidationFailed for a negative quantity and InsufficientStock when
    the new on_hand is below what is reserved.
    """
    if not isinstance(on_hand, int) or isinstance(on_hand, bool) or on_hand < 0:
        raise ValidationFailed(
            f"On-hand quantity must be a whole number of zero or more (got {on_hand!r}).",
            code=error_codes.INVALID_QUANTITY,
            errors=[{"field": "on_hand", "message": "Must be zero or more."}],
        )
    key = (product.pk, warehouse.pk)
    if on_hand > 0:
        stock_levels_ensure(keys=[key])
    if respect_count_locks:
        _refuse_if_counting([key])
    levels = stock_levels_lock(keys=[key])
    current = levels[key].on_hand if key in levels else 0
    delta = on_hand - current
    if delta == 0:
        return levels.get(key), 0
    change = StockChange(
        product_id=product.pk,
        warehouse_id=warehouse.pk,
        on_hand_delta=delta,
        type=type,
        reason=reason,
        reference=reference,
        note=note,
    )
    return stock_apply(changes=[change], user=user, locked=levels)[key], delta


def stock_ship_allocation(
    *,
    allocation: Allocation,
    quantity: int | None = None,
    reference: str = "",
    user: ActingUser | None = None,
) -> Allocation:
    """Stock leaves the warehouse for (part of) an active allocation.

    on_hand and reserved both drop by `quantity` (default: all of it); the
    shipped part becomes a `fulfilled` allocation. Returns the fulfilled
    allocation. Raises ValidationFailed for a bad quantity or an allocation
    that is not active.
    """
    return stock_ship_allocations(items=[(allocation, quantity, reference)], user=user)[0]


# No savepoint: a refusal must abort the caller's whole batch anyway (and it is
# raised before anything is written).
@transaction.atomic(savepoint=False)
def stock_ship_allocations(
    *, items: list[tuple[Allocation, int | None, str]], user: ActingUser | None = None
) -> list[Allocation]:
    """`stock_ship_allocation` for many allocations at once (tracking batches).

    `items` are (allocation, quantity or None for all of it, ledger reference) triples,
    applied in list order (one allocation may appear more than once and is consumed
    step by step). Allocations and then stock levels are locked in primary-key order;
    one stock_apply writes every level change and one ledger row per item. Returns the
    fulfilled allocation of each item, in order. Raises ValidationFailed, and nothing
    is applied, for a bad quantity or an allocation that is not active (any more).
    """
    if not items:
        return []
    locked = {
        a.pk: a
        for a in Allocation.objects.select_for_update(of=("self",))
        .select_related("order_line")
        .filter(pk__in={a.pk for a, _, _ in items})
        .order_by("pk")
    }
    changes = []
    touched: dict[int, Allocation] = {}
    fulfilled: list[Allocation] = []
    for given, asked, reference in items:
        allocation = locked[given.pk]
        quantity = allocation.quantity if asked is None else asked
        require_positive(quantity)
        if allocation.status != Allocation.Status.ACTIVE or quantity > allocation.quantity:
            raise ValidationFailed(
                f"Allocation {allocation.pk} has {allocation.quantity} active "
                f"({allocation.status}); cannot ship {quantity}.",
                code=error_codes.INVALID_QUANTITY,
            )
        line = allocation.order_line
        changes.append(
            StockChange(
                product_id=line.product_id,
                warehouse_id=allocation.warehouse_id,
                on_hand_delta=-quantity,
                reserved_delta=-quantity,
                type=T.SHIPMENT,
                reference=reference or f"order:{line.order.number}",
                order_id=line.order_id,
            )
        )
        touched[allocation.pk] = allocation
        if quantity == allocation.quantity:
            allocation.status = Allocation.Status.FULFILLED
            fulfilled.append(allocation)
        else:
            allocation.quantity -= quantity
            fulfilled.append(
                Allocation(
                    order_line=line,
                    warehouse_id=allocation.warehouse_id,
                    quantity=quantity,
                    status=Allocation.Status.FULFILLED,
                )
            )
    stock_apply(changes=changes, user=user)
    now = timezone.now()
    for allocation in touched.values():
        allocation.updated_at = now
    Allocation.objects.bulk_update(list(touched.values()), ["status", "quantity", "updated_at"])
    split_off = [a for a in fulfilled if a.pk is None]
    if split_off:
        Allocation.objects.bulk_create(split_off)
    return fulfilled


class ReturnedFrom(Protocol):
    """The order returned units came from (orders.Order; inventory may not import it)."""

    @property
    def pk(self) -> int: ...

    @property
    def number(self) -> str: ...


@transaction.atomic
def stock_return(
    *,
    product: Product,
    warehouse: Warehouse,
    quantity: int,
    order: ReturnedFrom | None = None,
    reference: str = "",
    user: ActingUser | None = None,
) -> StockLevel:
    """Restock returned units (on_hand += quantity, ledger type `return`)."""
    require_positive(quantity)
    change = StockChange(
        product_id=product.pk,
        warehouse_id=warehouse.pk,
        on_hand_delta=quantity,
        type=T.RETURN,
        reference=reference or (f"order:{order.number}" if order else ""),
        order_id=order.pk if order else None,
    )
    return stock_apply(changes=[change], user=user, create_missing=True)[change.key]


@transaction.atomic
def stock_thresholds_set(*, thresholds: dict[Key, int]) -> int:
    """Set low_stock_threshold per (product_id, warehouse_id); quantities are untouched.

    Levels are locked in pk order like every other change. Returns how many changed.
    """
    if any(not isinstance(t, int) or t < 0 for t in thresholds.values()):
        raise ValidationFailed(
            "Low-stock thresholds must be whole numbers of zero or more.",
            code=error_codes.INVALID_QUANTITY,
        )
    stock_levels_ensure(keys=list(thresholds))
    levels = stock_levels_lock(keys=list(thresholds))
    changed = [lv for key, lv in levels.items() if lv.low_stock_threshold != thresholds[key]]
    was_low = {(lv.product_id, lv.warehouse_id) for lv in changed if lv.is_low}
    for level in changed:
        level.low_stock_threshold = thresholds[(level.product_id, level.warehouse_id)]
    StockLevel.objects.bulk_update(changed, ["low_stock_threshold"], batch_size=1000)
    _low_stock_alerts_update(changed, was_low=was_low, thresholds_changed=True)
    return len(changed)
