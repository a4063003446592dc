"""Warehouse screens: stock, movements, inbound shipments, dispatch board."""

from __future__ import annotations

from django.db.models import (
    F,
    IntegerField,
    OuterRef,
    QuerySet,
    Subquery,
    Sum,
)
from django.db.models.functions import Coalesce

from backoffice.selectors._common import _ordered_by_status, capped_count, count_label
from inventory.models import (
    InboundLine,
    InboundShipment,
    StockLevel,
    StockMovement,
)
from logistics.models import Shipment

# --- Warehouse ------------------------------------------------------------------


def stock_levels_list(
    *, sku: str = "", warehouse_code: str = "", low_only: bool = False
) -> QuerySet[StockLevel]:
    qs = StockLevel.objects.select_related("product", "warehouse").order_by(
        "product__sku", "warehouse__code"
    )
    if sku:
        qs = qs.filter(product__sku__istartswith=sku.strip())
    if warehouse_code:
        qs = qs.filter(warehouse__code=warehouse_code)
    if low_only:
        qs = qs.low()
    return qs


def stock_movements_for(*, level: StockLevel, limit: int = 200) -> QuerySet[StockMovement]:
    return (
        StockMovement.objects.filter(product_id=level.product_id, warehouse_id=level.warehouse_id)
        .select_related("order", "actor")
        .order_by("-created_at", "-id")[:limit]
    )


def inbounds_open(*, limit: int = 100) -> QuerySet[InboundShipment]:
    """Inbound shipments still expected or being received, oldest expected first."""
    return (
        InboundShipment.objects.exclude(status=InboundShipment.Status.CLOSED)
        .select_related("warehouse")
        .annotate(
            expected=Coalesce(Sum("lines__expected_quantity"), 0),
            received=Coalesce(Sum("lines__received_quantity"), 0),
        )
        .order_by(F("expected_at").asc(nulls_last=True), "created_at")[:limit]
    )


def inbound_lines_with_stock(*, inbound: InboundShipment) -> list[InboundLine]:
    """The ASN's lines with the product and its current on-hand at the receiving warehouse."""
    on_hand = StockLevel.objects.filter(
        product=OuterRef("product"), warehouse_id=inbound.warehouse_id
    ).values("on_hand")[:1]
    return list(
        InboundLine.objects.filter(inbound=inbound)
        .select_related("product")
        .annotate(on_hand=Coalesce(Subquery(on_hand, output_field=IntegerField()), 0))
        .order_by("id")
    )


DISPATCH_BOARD_COLUMNS = {
    "waiting": [Shipment.Status.PENDING],
    "in_flight": [
        Shipment.Status.DISPATCHED,
        Shipment.Status.IN_TRANSIT,
        Shipment.Status.OUT_FOR_DELIVERY,
        Shipment.Status.AVAILABLE_FOR_PICKUP,
        Shipment.Status.FAILED_ATTEMPT,
    ],
    "failed": [Shipment.Status.DISPATCH_FAILED, Shipment.Status.EXCEPTION],
}


def dispatch_board(*, limit: int = 50) -> dict[str, dict]:
    """Shipments waiting, in flight and failed: the most recently changed `limit` of each."""
    board = {}
    for column, statuses in DISPATCH_BOARD_COLUMNS.items():
        count = capped_count(Shipment.objects.filter(status__in=statuses))
        board[column] = {
            "count": count,
            "count_label": count_label(count),
            "shipments": _ordered_by_status(
                Shipment.objects.select_related("order", "provider", "warehouse"),
                statuses=statuses,
                order="-updated_at",
                limit=limit,
            ),
        }
    return board
