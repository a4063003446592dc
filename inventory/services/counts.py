"""Cycle counts: lock a stock level, count it, adjust on_hand to what was counted."""

from __future__ import annotations

from typing import NoReturn

from django.db import IntegrityError, transaction
from django.utils import timezone

from core.errors import Conflict, ValidationFailed
from core.users import ActingUser, recorded_user
from inventory import error_codes
from inventory.errors import StockLevelLocked
from inventory.hooks import shortfall as shortfall_hook
from inventory.models import Product, StockCount, StockLevel, StockMovement, Warehouse
from inventory.services.stock import stock_set_on_hand


def _refuse_locked(product: Product, warehouse: Warehouse) -> NoReturn:
    raise StockLevelLocked(
        f"{product.sku} at {warehouse.code} is locked by a count in progress; "
        "complete or cancel that count first.",
        code=error_codes.STOCK_LEVEL_LOCKED,
    )


def _require_counted(counted: object) -> None:
    if not isinstance(counted, int) or isinstance(counted, bool) or counted < 0:
        raise ValidationFailed(
            f"Counted quantity must be a whole number of zero or more (got {counted!r}).",
            code=error_codes.INVALID_QUANTITY,
            errors=[{"field": "counted", "message": "Must be zero or more."}],
        )


@transaction.atomic
def stock_count_start(
    *, product: Product, warehouse: Warehouse, user: ActingUser | None = None
) -> StockCount:
    """Open a count, locking the level against adjustments, transfers and other counts.

    Raises StockLevelLocked when a count is already open on this SKU and warehouse.
    """
    if StockCount.objects.filter(
        product=product, warehouse=warehouse, status=StockCount.Status.OPEN
    ).exists():
        _refuse_locked(product, warehouse)
    level = StockLevel.objects.filter(product=product, warehouse=warehouse).first()
    try:
        with transaction.atomic():
            return StockCount.objects.create(
                product=product,
                warehouse=warehouse,
                expected_on_hand=level.on_hand if level else 0,
                started_by=recorded_user(user),
            )
    except IntegrityError:
        # Another count opened between our check and insert (the partial unique index).
        _refuse_locked(product, warehouse)


@transaction.atomic
def stock_count_complete(
    *,
    count: StockCount,
    counted: int,
    user: ActingUser | None = None,
    release_shortfall: bool = True,
) -> StockCount:
    """Record the counted quantity and set on_hand to it (ledger type `count`).

    When fewer units are counted than orders have reserved, the shortfall is
    released from the least important orders not yet in fulfilment (they go
    back to `backordered`), unless `release_shortfall=False`. Raises Conflict
    (count_not_open) for a finished count, ValidationFailed for a negative or
    non-integer quantity, InsufficientStock (below_reserved) when the
    shortfall cannot be released (reserved by orders already in fulfilment).
    """
    count = (
        StockCount.objects.select_for_update()
        .select_related("product", "warehouse")
        .get(pk=count.pk)
    )
    if count.status != StockCount.Status.OPEN:
        raise Conflict(
            f"Count {count.pk} is {count.status}; only an open count can be completed.",
            code=error_codes.COUNT_NOT_OPEN,
        )
    _require_counted(counted)
    level = StockLevel.objects.filter(product=count.product, warehouse=count.warehouse).first()
    shortfall = (level.reserved if level else 0) - counted
    if shortfall > 0 and release_shortfall:
        # The units are not there: the least important orders lose them and wait again
        # (the order workflow decides which: inventory.hooks.shortfall, filled by orders).
        shortfall_hook.impl.reservations_release_for_shortfall(
            product_id=count.product_id,
            warehouse_id=count.warehouse_id,
            quantity=shortfall,
            reason=f"Count {count.pk} found fewer {count.product.sku} at "
            f"{count.warehouse.code} than were reserved.",
            user=user,
        )
    _, delta = stock_set_on_hand(
        product=count.product,
        warehouse=count.warehouse,
        on_hand=counted,
        type=StockMovement.Type.COUNT,
        reason="cycle_count",
        reference=f"count:{count.pk}",
        user=user,
        respect_count_locks=False,
    )
    count.counted = counted
    count.difference = delta
    count.status = StockCount.Status.COMPLETED
    count.completed_at = timezone.now()
    count.completed_by = recorded_user(user)
    count.save()
    return count


@transaction.atomic
def stock_count_cancel(*, count: StockCount, user: ActingUser | None = None) -> StockCount:
    """Abandon an open count; the level is unlocked and stock is unchanged."""
    count = StockCount.objects.select_for_update().get(pk=count.pk)
    if count.status != StockCount.Status.OPEN:
        raise Conflict(f"Count {count.pk} is {count.status}.", code=error_codes.COUNT_NOT_OPEN)
    count.status = StockCount.Status.CANCELLED
    count.save(update_fields=["status", "updated_at"])
    return count


@transaction.atomic
def stock_count_record(
    *,
    product: Product,
    warehouse: Warehouse,
    counted: int,
    user: ActingUser | None = None,
    release_shortfall: bool = True,
) -> StockCount:
    """Start and complete a count in one step (a quick blind count from a scanner)."""
    _require_counted(counted)
    count = stock_count_start(product=product, warehouse=warehouse, user=user)
    return stock_count_complete(
        count=count, counted=counted, user=user, release_shortfall=release_shortfall
    )
