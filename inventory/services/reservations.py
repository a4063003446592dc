"""Releasing reservations: Allocation rows back to stock, with their ledger rows.

Reserving is `inventory.services.stock.stock_reserve` (the allocation hot path writes
levels, ledger and allocations in one statement). The order workflow
(`orders.services.allocation`) decides which order gives back what and records the
order's events; these services only do the stock side and say what they did. Levels
change through `stock_apply` only (the one module that changes StockLevel rows).

Lock order, as everywhere: the caller has locked the order rows first; allocations are
locked here, then the stock levels by primary key inside `stock_apply`.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING, NamedTuple

from django.db.models import F

from inventory.models import Allocation, StockMovement
from inventory.services.stock import StockChange, stock_apply

if TYPE_CHECKING:
    from core.users import ActingUser


class Released(NamedTuple):
    """`quantity` units of `allocation` went back to stock (all of it, or a part)."""

    allocation: Allocation
    quantity: int


def allocations_release_for_order(
    *,
    order_id: int,
    reason: str,
    reference: str,
    user: ActingUser | None = None,
) -> list[Allocation]:
    """Release every active allocation of the order's lines (stock back to available).

    Run inside the caller's transaction with the order row locked. The allocations
    come back with `order_line` and `warehouse` loaded (the caller's event names
    them), in primary-key order; empty when there were none. Each writes a `release`
    movement with `reason` (cut to the ledger's 64 characters) and `reference`.
    """
    allocations = list(
        Allocation.objects.select_for_update(of=("self",))
        .filter(order_line__order_id=order_id, status=Allocation.Status.ACTIVE)
        .select_related("order_line", "warehouse")
        .order_by("pk")
    )
    if not allocations:
        return []
    stock_apply(
        changes=[
            StockChange(
                product_id=a.order_line.product_id,
                warehouse_id=a.warehouse_id,
                reserved_delta=-a.quantity,
                type=StockMovement.Type.RELEASE,
                reason=reason[:64],
                reference=reference,
                order_id=order_id,
            )
            for a in allocations
        ],
        user=user,
    )
    Allocation.objects.filter(pk__in=[a.pk for a in allocations]).update(
        status=Allocation.Status.RELEASED
    )
    return allocations


def allocations_release_quantity(
    *,
    allocation_ids: list[int],
    order_ids: Collection[int],
    product_id: int,
    warehouse_id: int,
    quantity: int,
    references: Mapping[int, str],
    user: ActingUser | None = None,
    reason: str = "count_shortfall",
) -> list[Released]:
    """Give back up to `quantity` units at one level, taking from `allocation_ids` in order.

    For a count shortfall: the caller ranked the allocations (the first loses units
    first) and locked their orders, `order_ids`; allocations of other orders, or no
    longer active, are skipped. An allocation given back whole is released, one given
    back in part shrinks. One `release` movement (reason `count_shortfall`, reference
    `references[order_id]`) per allocation touched. Returns what was released, in
    rank order (allocations come back with `order_line` and `warehouse` loaded).
    """
    rank = {pk: i for i, pk in enumerate(allocation_ids)}
    allocations = sorted(
        Allocation.objects.select_for_update(of=("self",))
        .filter(pk__in=rank, status=Allocation.Status.ACTIVE, order_line__order_id__in=order_ids)
        .select_related("order_line", "warehouse"),
        key=lambda a: rank[a.pk],
    )
    remaining = quantity
    changes: list[StockChange] = []
    released: list[Released] = []
    for a in allocations:
        if not remaining:
            break
        take = min(a.quantity, remaining)
        remaining -= take
        order_id = a.order_line.order_id
        changes.append(
            StockChange(
                product_id=product_id,
                warehouse_id=warehouse_id,
                reserved_delta=-take,
                type=StockMovement.Type.RELEASE,
                reason=reason,
                reference=references[order_id],
                order_id=order_id,
            )
        )
        if take == a.quantity:
            Allocation.objects.filter(pk=a.pk).update(status=Allocation.Status.RELEASED)
        else:
            Allocation.objects.filter(pk=a.pk).update(quantity=F("quantity") - take)
        released.append(Released(allocation=a, quantity=take))
    stock_apply(changes=changes, user=user)
    return released
