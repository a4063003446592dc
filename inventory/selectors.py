"""Read-side queries of the inventory domain."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any, Protocol

from django.db.models import F, QuerySet, Sum
from django.db.models.functions import Coalesce

from core.csv_safe import csv_writer
from core.errors import NotFound
from inventory import error_codes
from inventory.models import (
    Allocation,
    InboundLine,
    InboundShipment,
    StockLevel,
    StockSnapshot,
    Warehouse,
)
from inventory.sql import INBOUND_PAGE_SQL, LEDGER_DRIFT_SQL

if TYPE_CHECKING:
    from _typeshed import SupportsWrite
    from django.db.models.fields.related_descriptors import ManyRelatedManager


class SellsFrom(Protocol):
    """A sales channel as inventory sees it (orders.Channel; inventory may not import it)."""

    @property
    def warehouses(self) -> ManyRelatedManager[Warehouse, Any]: ...


def stock_available_for_channel(*, channel: SellsFrom, skus: list[str]) -> dict[str, int]:
    """Available-to-sell per SKU (on hand minus reserved), summed over the channel's warehouses.

    SKUs that exist nowhere in the channel's warehouses are absent from the result.
    """
    rows = (
        StockLevel.objects.filter(
            product__sku__in=skus,
            warehouse__is_active=True,
            warehouse__in=channel.warehouses.all(),
        )
        .values("product__sku")
        .annotate(to_sell=Coalesce(Sum(F("on_hand") - F("reserved")), 0))
        .values_list("product__sku", "to_sell")
    )
    return dict(rows)


def stock_levels_with_available(*, product_ids: list[int] | None = None) -> QuerySet[StockLevel]:
    """Levels with stock to give (on hand above reserved), of `product_ids` or of every product.

    Lazy: backorder allocation embeds it as a subquery and re-checks `.exists()` as it goes.
    """
    levels = StockLevel.objects.filter(on_hand__gt=F("reserved"))
    if product_ids:
        levels = levels.filter(product_id__in=product_ids)
    return levels


def allocations_count_for_order(*, order_id: int) -> int:
    """How many Allocation rows (any status) the order's lines have."""
    return Allocation.objects.filter(order_line__order_id=order_id).count()


def stock_ledger_drift() -> list[dict[str, Any]]:
    """Every (SKU, warehouse) whose level differs from the sum of its ledger movements.

    Empty when the ledger is true. One aggregate query: fine for millions of rows.
    """
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(LEDGER_DRIFT_SQL)
        rows = cursor.fetchall()
    keys = ("sku", "warehouse", "on_hand", "reserved", "ledger_on_hand", "ledger_reserved")
    return [dict(zip(keys, row, strict=True)) for row in rows]


def snapshot_differences(*, snapshot: StockSnapshot) -> list[dict[str, Any]]:
    """Lines of an LSP snapshot whose on-hand differs from ours now (what accepting would apply)."""
    from inventory.models import StockLevel

    lines = list(snapshot.lines.select_related("product"))
    current = dict(
        StockLevel.objects.filter(
            warehouse_id=snapshot.warehouse_id, product_id__in=[x.product_id for x in lines]
        ).values_list("product_id", "on_hand")
    )
    out = []
    for line in lines:
        ours = current.get(line.product_id, 0)
        if ours != line.lsp_on_hand:
            out.append(
                {
                    "sku": line.product.sku,
                    "product_id": line.product_id,
                    "lsp_on_hand": line.lsp_on_hand,
                    "consign_on_hand": ours,
                    "difference": line.lsp_on_hand - ours,
                }
            )
    return out


def stock_levels_export_csv(*, out: SupportsWrite[str]) -> int:
    """Write `sku,warehouse,on_hand,reserved,low_stock_threshold` rows; returns the row count."""
    from inventory.models import StockLevel

    writer = csv_writer(out)
    writer.writerow(["sku", "warehouse", "on_hand", "reserved", "low_stock_threshold"])
    rows = 0
    for row in (
        StockLevel.objects.order_by("product__sku", "warehouse__code")
        .values_list(
            "product__sku", "warehouse__code", "on_hand", "reserved", "low_stock_threshold"
        )
        .iterator(chunk_size=5000)
    ):
        writer.writerow(row)
        rows += 1
    return rows


def products_export_csv(*, out: SupportsWrite[str]) -> int:
    """Write every product with the import's columns; returns the row count.

    Cells a spreadsheet would run as formulas get a leading apostrophe (core/csv_safe.py);
    the import takes it off again.
    """
    from inventory.models import Product
    from inventory.services.imports import PRODUCT_COLUMNS

    writer = csv_writer(out)
    writer.writerow(PRODUCT_COLUMNS)
    rows = 0
    for row in (
        Product.objects.order_by("sku").values_list(*PRODUCT_COLUMNS).iterator(chunk_size=5000)
    ):
        writer.writerow(row)
        rows += 1
    return rows


# --- ASNs (the partner API and the inbound.received webhook show them alike) -------------
# The list endpoint's rendering of a page (core.pagination.KeysetPagination.page_response);
# tests/inventory/test_inbound_statuses.py holds it equal to `inbound_data`.
INBOUNDS_PAGE_SQL = INBOUND_PAGE_SQL


def inbounds_for_channel(*, channel_id: int) -> QuerySet[InboundShipment]:
    """The channel's ASNs, to filter and page."""
    return InboundShipment.objects.filter(channel_id=channel_id)


def inbound_for_channel(*, channel_id: int, number: str) -> InboundShipment:
    """The channel's ASN by number; NotFound for an unknown one and another channel's alike."""
    inbound = (
        InboundShipment.objects.filter(channel_id=channel_id, number=number)
        .select_related("warehouse")
        .first()
    )
    if inbound is None:
        raise NotFound(
            f"No inbound shipment {number} in this channel.", code=error_codes.INBOUND_NOT_FOUND
        )
    return inbound


def _iso(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def inbound_data(*, inbound: InboundShipment) -> dict[str, Any]:
    """The ASN as `GET /api/v1/inbound-shipments/{number}/` shows it (two queries)."""
    inbound = InboundShipment.objects.select_related("warehouse").get(pk=inbound.pk)
    lines = InboundLine.objects.filter(inbound=inbound).select_related("product").order_by("id")
    return {
        "number": inbound.number,
        "reference": inbound.reference,
        "warehouse": inbound.warehouse.code,
        "status": inbound.status,
        "expected_at": _iso(inbound.expected_at),
        "carrier": inbound.carrier,
        "tracking_number": inbound.tracking_number,
        "lines": [
            {
                "sku": line.product.sku,
                "expected": line.expected_quantity,
                "received": line.received_quantity,
                "discrepancy": line.discrepancy,
            }
            for line in lines
        ],
        "created_at": _iso(inbound.created_at),
        "updated_at": _iso(inbound.updated_at),
        "received_at": _iso(inbound.closed_at)
        if inbound.status == InboundShipment.Status.RECEIVED
        else None,
    }
