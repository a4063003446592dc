"""Stock leaves the warehouse when a shipment ships: the hand-off to inventory.

Inventory owns every StockLevel change; this module only decides which allocations
shipped shipments consume and calls inventory.services.stock.stock_ship_allocations.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from inventory.models import Allocation
from inventory.services.stock import stock_ship_allocations

if TYPE_CHECKING:
    from collections.abc import Sequence

    from logistics.models import Shipment, ShipmentLine

logger = logging.getLogger(__name__)


def shipments_stock_leave(*, items: Sequence[tuple[Shipment, Sequence[ShipmentLine]]]) -> None:
    """Release the shipments' reservations and take the stock off hand (ledgered).

    Call inside the transaction that marks the shipments shipped (tracking batches),
    holding their orders' row locks. Lines without an active allocation (stock not
    reserved by Consign) are logged and skipped. A fixed number of statements: one
    query locks every allocation involved (pk order), then inventory ships them all
    at once.
    """
    lines_of = [(shipment, line) for shipment, lines in items for line in lines]
    if not lines_of:
        return
    allocations: dict[tuple[int, int], Allocation] = {}
    for locked in (
        Allocation.objects.select_for_update()
        .filter(
            order_line_id__in={line.order_line_id for _, line in lines_of},
            warehouse_id__in={shipment.warehouse_id for shipment, _ in lines_of},
            status=Allocation.Status.ACTIVE,
        )
        .order_by("pk")
    ):
        allocations.setdefault((locked.order_line_id, locked.warehouse_id), locked)
    remaining = {a.pk: a.quantity for a in allocations.values()}
    ship: list[tuple[Allocation, int | None, str]] = []
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
