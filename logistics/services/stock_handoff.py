"""Stock leaves the warehouse when a shipment ships: the hand-off to inventory.

Inventory owns every StockLevel change; this module only decides which allocations
a shipped shipment consumes and calls inventory.services.stock.stock_ship_allocation.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from inventory.models import Allocation
from inventory.services.stock import stock_ship_allocation, stock_ship_allocations

if TYPE_CHECKING:
    from logistics.models import Shipment

logger = logging.getLogger(__name__)


def shipment_stock_leave(*, shipment: Shipment, lines: list | None = None, user=None) -> None:
    """Release the shipment's reservations and take the stock off hand (ledgered).

    Call inside the transaction that marks the shipment shipped, holding the order's
    row lock. Lines without an active allocation (stock not reserved by Consign) are
    logged and skipped.
    """
    if lines is None:
        lines = list(shipment.lines.order_by("order_line_id"))
    for line in lines:
        allocation = (
            Allocation.objects.select_for_update()
            .filter(
                order_line_id=line.order_line_id,
                warehouse_id=shipment.warehouse_id,
                status=Allocation.Status.ACTIVE,
            )
            .first()
        )
        if allocation is None:
            logger.warning(
                "Shipment %s line %s has no active allocation; stock not moved.",
                shipment.pk,
                line.order_line_id,
            )
            continue
        stock_ship_allocation(
            allocation=allocation,
            quantity=min(line.quantity, allocation.quantity),
            reference=f"shipment:{shipment.pk}",
            user=user,
        )


def shipments_stock_leave(*, items: list[tuple[Shipment, list]]) -> None:
    """`shipment_stock_leave` for many (shipment, lines) pairs in one go (tracking batches).

    Same promise, same skipping of lines without an active allocation, with a fixed
    number of statements: one query locks every allocation involved (pk order), then
    inventory ships them all at once.
    """
    lines_of = [(shipment, line) for shipment, lines in items for line in lines]
    if not lines_of:
        return
    allocations: dict[tuple[int, int], Allocation] = {}
    for allocation in (
        Allocation.objects.select_for_update()
        .filter(
            order_line_id__in={line.order_line_id for _, line in lines_of},
            warehouse_id__in={shipment.warehouse_id for shipment, _ in lines_of},
            status=Allocation.Status.ACTIVE,
        )
        .order_by("pk")
    ):
        allocations.setdefault((allocation.order_line_id, allocation.warehouse_id), allocation)
    remaining = {a.pk: a.quantity for a in allocations.values()}
    ship = []
    for shipment, line in lines_of:
        allocation = allocations.get((line.order_line_id, shipment.warehouse_id))
        if allocation is None or remaining[allocation.pk] <= 0:
            logger.warning(
                "Shipment %s line %s has no active allocation; stock not moved.",
                shipment.pk,
                line.order_line_id,
            )
            continue
        quantity = min(line.quantity, remaining[allocation.pk])
        remaining[allocation.pk] -= quantity
        ship.append((allocation, quantity, f"shipment:{shipment.pk}"))
    stock_ship_allocations(items=ship)
