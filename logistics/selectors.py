"""Reads of logistics data for the layers above (the order workflow plans with them)."""

from __future__ import annotations

from collections.abc import Sequence

from django.db.models import Sum

from inventory.models import Warehouse
from logistics import sql
from logistics.models import Shipment, ShipmentLine


def warehouses_with_providers(*, ids: Sequence[int]) -> dict[int, Warehouse]:
    """Warehouse id -> warehouse with its provider (one prepared statement, see logistics.sql)."""
    return sql.warehouses_with_providers(ids=ids)


def shipment_quantities_open(*, order_id: int) -> dict[tuple[int, int], int]:
    """(warehouse id, order line id) -> quantity on the order's open outbound shipments.

    Open: not shipped yet and not cancelled. Those shipments hold the active
    allocations they will ship; once shipped, the allocation is fulfilled and counts
    on neither side.
    """
    rows = (
        ShipmentLine.objects.filter(shipment__order_id=order_id, shipment__shipped_at__isnull=True)
        .exclude(shipment__status=Shipment.Status.CANCELLED)
        .values("shipment__warehouse_id", "order_line_id")
        .annotate(quantity=Sum("quantity"))
    )
    return {(row["shipment__warehouse_id"], row["order_line_id"]): row["quantity"] for row in rows}


def shipments_exist_for_order(*, order_id: int) -> bool:
    """True when the order has a shipment that is not cancelled."""
    return (
        Shipment.objects.filter(order_id=order_id)
        .exclude(status=Shipment.Status.CANCELLED)
        .exists()
    )
