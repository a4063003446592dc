"""Warehouse screens: stock, movements, inbound shipments, dispatch board."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from django.db.models import (
    F,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    RowRange,
    Subquery,
    Sum,
    Window,
)
from django.db.models.functions import Coalesce

from backoffice.selectors._common import _ordered_by_status, capped_count, count_label
from inventory.bin_selectors import putaway_suggestions
from inventory.models import (
    InboundLine,
    InboundReceipt,
    InboundShipment,
    ProductBarcode,
    StockLevel,
    StockMovement,
    Warehouse,
)
from logistics.models import DispatchOutbox, Provider, Shipment, ShipmentStatusGroups
from logistics.services.reroute import shipment_reroute_refusal
from orders.transitions import CANCELLABLE

# --- Warehouse ------------------------------------------------------------------


def stock_levels_list(
    *, sku: str = "", warehouse_code: str = "", low_only: bool = False, query: str = ""
) -> QuerySet[StockLevel]:
    qs = StockLevel.objects.select_related("product", "warehouse").order_by(
        "product__sku", "warehouse__code"
    )
    if sku:
        qs = qs.filter(product__sku__istartswith=sku.strip())
    if query:
        qs = qs.filter(product_search_condition(query=query, prefix="product__"))
    if warehouse_code:
        qs = qs.filter(warehouse__code=warehouse_code)
    if low_only:
        qs = qs.low()
    return qs


STOCK_EXPORT_COLUMNS = [
    "sku",
    "warehouse",
    "on_hand",
    "reserved",
    "available",
    "low_stock_threshold",
    "name",
    "barcode",
]


def stock_levels_export_rows(*, levels: QuerySet[StockLevel]) -> Iterator[Sequence[object]]:
    """The header, then one row per level of `levels`, read in chunks (the screen's filters apply).

    The first columns are the stock import's (sku, warehouse, on_hand, low_stock_threshold), so
    an export can be edited and imported again; the rest are ignored by the import.
    """
    yield STOCK_EXPORT_COLUMNS
    yield from (
        levels.annotate(available_now=F("on_hand") - F("reserved"))
        .values_list(
            "product__sku",
            "warehouse__code",
            "on_hand",
            "reserved",
            "available_now",
            "low_stock_threshold",
            "product__name",
            "product__barcode",
        )
        .iterator(chunk_size=2000)
    )


def product_search_condition(*, query: str, prefix: str = "") -> Q:
    """What a warehouse person types for a product: a SKU prefix, any of its barcodes, part
    of the name.

    The catalogue is thousands of products, not millions: the name match may scan it.
    """
    q = " ".join(query.split())
    return (
        Q(**{f"{prefix}sku__istartswith": q})
        | Q(**{f"{prefix}pk__in": ProductBarcode.objects.filter(barcode=q).values("product_id")})
        | Q(**{f"{prefix}name__icontains": q})
    )


def stock_movements_for(*, level: StockLevel, limit: int = 200) -> QuerySet[StockMovement]:
    """The level's ledger, newest first, each row with `on_hand_after`: on hand once it applied.

    The running balance counts back from the level's on_hand read in the same statement, so
    a movement written meanwhile cannot put the two out of step; the window only reads as
    far back as the page shows.
    """
    newest_first = [F("created_at").desc(), F("id").desc()]
    on_hand_now = StockLevel.objects.filter(pk=level.pk).values("on_hand")[:1]
    this_and_newer = Window(Sum("on_hand_delta"), order_by=newest_first, frame=RowRange(end=0))
    return (
        StockMovement.objects.filter(product_id=level.product_id, warehouse_id=level.warehouse_id)
        .select_related("order", "actor")
        .annotate(
            on_hand_after=Subquery(on_hand_now, output_field=IntegerField())
            - this_and_newer
            + F("on_hand_delta")
        )
        .order_by(*newest_first)[:limit]
    )


def inbounds_open(*, limit: int = 100) -> QuerySet[InboundShipment]:
    """Inbound shipments still expected or being received, oldest expected first."""
    return (
        InboundShipment.objects.exclude(
            status__in=[InboundShipment.Status.RECEIVED, InboundShipment.Status.CANCELLED]
        )
        .select_related("warehouse")
        .annotate(
            expected=Coalesce(Sum("lines__expected_quantity"), 0),
            received=Coalesce(Sum("lines__received_quantity"), 0),
        )
        .order_by(F("expected_at").asc(nulls_last=True), "created_at")[:limit]
    )


def inbound_lines_with_stock(
    *, inbound: InboundShipment, suggest_bins: bool = False
) -> list[InboundLine]:
    """The ASN's lines with the product and its current on-hand at the receiving warehouse;
    with `suggest_bins` at an own site, each line's `suggested_bin` for what is still to
    come (inventory.bin_selectors.putaway_suggestions: a constant number of queries)."""
    on_hand = StockLevel.objects.filter(
        product=OuterRef("product"), warehouse_id=inbound.warehouse_id
    ).values("on_hand")[:1]
    lines: list[InboundLine] = list(
        InboundLine.objects.filter(inbound=inbound)
        .select_related("product")
        .annotate(on_hand=Coalesce(Subquery(on_hand, output_field=IntegerField()), 0))
        .order_by("id")
    )
    if suggest_bins and lines and inbound.warehouse.kind == Warehouse.Kind.OWN:
        suggested = putaway_suggestions(
            warehouse=inbound.warehouse,
            wants={
                line.product_id: max(line.expected_quantity - line.received_quantity, 1)
                for line in lines
            },
        )
        for line in lines:
            line.suggested_bin = suggested.get(line.product_id)  # type: ignore[attr-defined]
    return lines


def inbound_scan_outcome(*, receipt: InboundReceipt) -> dict:
    """What the receiving screen says after a scan: the product, its line's totals, warnings.

    Warnings are "not_on_asn" (the product was not announced: its line expects 0)
    and "over_receipt" (more received than announced). The scan is recorded either way.
    """
    line = InboundLine.objects.select_related("product", "inbound").get(pk=receipt.line_id)
    on_hand = (
        StockLevel.objects.filter(product=line.product, warehouse_id=line.inbound.warehouse_id)
        .values_list("on_hand", flat=True)
        .first()
    ) or 0
    product = line.product
    warnings = []
    if line.expected_quantity == 0:
        warnings.append(
            {
                "code": "not_on_asn",
                "message": f"{product.sku} is not on {line.inbound.reference}: "
                "received as a discrepancy.",
            }
        )
    elif line.received_quantity > line.expected_quantity:
        warnings.append(
            {
                "code": "over_receipt",
                "message": f"Over-receipt: {line.received_quantity} of {product.sku} received, "
                f"{line.expected_quantity} expected.",
            }
        )
    return {
        "line_id": line.pk,
        "sku": product.sku,
        "name": product.name,
        "barcode": product.barcode or "",
        "quantity": receipt.quantity,
        "expected": line.expected_quantity,
        "received": line.received_quantity,
        "difference": line.discrepancy,
        "on_hand": on_hand,
        "warnings": warnings,
    }


DISPATCH_BOARD_COLUMNS = {
    "in_progress": sorted(ShipmentStatusGroups.DISPATCH_IN_PROGRESS),
    "in_transit": sorted(ShipmentStatusGroups.WITH_CARRIER),
    "failed": [Shipment.Status.DISPATCH_FAILED, Shipment.Status.EXCEPTION],
}


def dispatch_board(*, limit: int = 50) -> dict[str, Any]:
    """Shipments whose dispatch is in progress, in transit with the carrier, and failed.

    The most recently changed `limit` of each column. Each failed shipment carries what
    may be done about it: `reroute_refusal` ("" when it may go to another provider) and
    `order_cancellable`. The board's `providers` are the active ones (re-route targets).
    """
    board: dict[str, Any] = {}
    for column, statuses in DISPATCH_BOARD_COLUMNS.items():
        count = capped_count(Shipment.objects.filter(status__in=statuses))
        shipments = Shipment.objects.select_related("order", "provider", "warehouse")
        if column == "failed":
            shipments = shipments.select_related("outbox")
        board[column] = {
            "count": count,
            "count_label": count_label(count),
            "shipments": _ordered_by_status(
                shipments, statuses=statuses, order="-updated_at", limit=limit
            ),
        }
    for shipment in board["failed"]["shipments"]:
        try:
            row = shipment.outbox
        except DispatchOutbox.DoesNotExist:
            row = None
        shipment.reroute_refusal = shipment_reroute_refusal(shipment=shipment, row=row)
        shipment.order_cancellable = shipment.order.status in CANCELLABLE
    board["providers"] = list(Provider.objects.filter(is_active=True).order_by("code"))
    return board
