"""Stock leaves the warehouse when a shipment ships: the hand-off to inventory.

Inventory owns every StockLevel change (inventory.services.stock). When that module
provides `stock_ship_allocation`, this module delegates to it. Until it lands on
main, `_interim_ship_allocation` below does the same locked, ledgered change so
that shipped stock does not stay reserved; delete it once inventory's function exists.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from django.db.models import F

from inventory.models import Allocation, StockLevel, StockMovement

if TYPE_CHECKING:
    from logistics.models import Shipment

logger = logging.getLogger(__name__)


def _interim_ship_allocation(
    *, allocation: Allocation, quantity: int, reference: str, user=None, actor: str | None = None
) -> None:
    level = (
        StockLevel.objects.select_for_update()
        .filter(product_id=allocation.order_line.product_id, warehouse_id=allocation.warehouse_id)
        .order_by("pk")
        .first()
    )
    if level is None:
        logger.warning("No stock level for allocation %s; nothing to ship.", allocation.pk)
        return
    StockLevel.objects.filter(pk=level.pk).update(
        on_hand=F("on_hand") - quantity, reserved=F("reserved") - quantity
    )
    StockMovement.objects.create(
        product_id=level.product_id,
        warehouse_id=level.warehouse_id,
        type=StockMovement.Type.SHIPMENT,
        on_hand_delta=-quantity,
        reserved_delta=-quantity,
        reason="shipped",
        reference=reference,
        order_id=allocation.order_line.order_id,
        actor=user if user is not None and user.is_authenticated else None,
    )
    if quantity >= allocation.quantity:
        allocation.status = Allocation.Status.FULFILLED
        allocation.save(update_fields=["status", "updated_at"])
    else:
        # Keep one active row for the rest (the unique constraint allows one active
        # allocation per line and warehouse) and record the shipped part separately.
        Allocation.objects.filter(pk=allocation.pk).update(quantity=F("quantity") - quantity)
        Allocation.objects.create(
            order_line_id=allocation.order_line_id,
            warehouse_id=allocation.warehouse_id,
            quantity=quantity,
            status=Allocation.Status.FULFILLED,
        )


def _ship_allocation():
    try:
        from inventory.services.stock import stock_ship_allocation
    except ImportError:
        return _interim_ship_allocation
    return stock_ship_allocation


def shipment_stock_leave(*, shipment: Shipment) -> None:
    """Release the shipment's reservations and take the stock off hand (ledgered).

    Call inside the transaction that marks the shipment shipped, holding the order's
    row lock. Lines without an active allocation (stock not reserved by Consign) are
    logged and skipped.
    """
    ship = _ship_allocation()
    for line in shipment.lines.select_related("order_line").order_by("order_line_id"):
        allocation = (
            Allocation.objects.select_for_update()
            .select_related("order_line")
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
        ship(
            allocation=allocation,
            quantity=min(line.quantity, allocation.quantity),
            reference=f"shipment:{shipment.pk}",
        )
