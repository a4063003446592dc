"""Read-side queries of the inventory domain."""

from __future__ import annotations

from django.db.models import F, Sum
from django.db.models.functions import Coalesce

from core.csv_safe import csv_writer
from inventory.models import StockLevel


def stock_available_for_channel(*, channel, skus: list[str]) -> dict[str, int]:
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
        .annotate(available=Coalesce(Sum(F("on_hand") - F("reserved")), 0))
    )
    return {row["product__sku"]: row["available"] for row in rows}


_DRIFT_SQL = """
WITH ledger AS (
    SELECT product_id, warehouse_id,
           SUM(on_hand_delta) AS on_hand, SUM(reserved_delta) AS reserved
    FROM inventory_stockmovement
    GROUP BY product_id, warehouse_id
)
SELECT p.sku, w.code,
       COALESCE(l.on_hand, 0), COALESCE(l.reserved, 0),
       COALESCE(g.on_hand, 0), COALESCE(g.reserved, 0)
FROM inventory_stocklevel l
FULL OUTER JOIN ledger g
  ON g.product_id = l.product_id AND g.warehouse_id = l.warehouse_id
JOIN inventory_product p ON p.id = COALESCE(l.product_id, g.product_id)
JOIN inventory_warehouse w ON w.id = COALESCE(l.warehouse_id, g.warehouse_id)
WHERE COALESCE(l.on_hand, 0) <> COALESCE(g.on_hand, 0)
   OR COALESCE(l.reserved, 0) <> COALESCE(g.reserved, 0)
ORDER BY p.sku, w.code
"""


def stock_ledger_drift() -> list[dict]:
    """Every (SKU, warehouse) whose level differs from the sum of its ledger movements.

    Empty when the ledger is true. One aggregate query: fine for millions of rows.
    """
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(_DRIFT_SQL)
        rows = cursor.fetchall()
    keys = ("sku", "warehouse", "on_hand", "reserved", "ledger_on_hand", "ledger_reserved")
    return [dict(zip(keys, row, strict=True)) for row in rows]


def snapshot_differences(*, snapshot) -> list[dict]:
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


def stock_levels_export_csv(*, out) -> int:
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


def products_export_csv(*, out) -> int:
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
