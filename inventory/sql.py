"""Hand-written SQL for the inventory app's own tables (STYLE.md rule 18).

Every statement here names only inventory_* tables and has a test comparing its result with the
ORM equivalent. Other apps compose the fragments they need from here; they never spell
these table names themselves.
"""

from __future__ import annotations

from core.rows import select_columns
from core.sql_json import json_array
from inventory.models import Product

# --- Partner API documents (composed by orders/sql.py) -------------------------------


def allocations_json_of_line(line_id: str) -> str:
    """JSON array (never null) of the allocations of the order line whose id is the SQL
    `line_id`, by id, as orders.serializers renders them."""
    return json_array(
        f"""
        SELECT json_agg(json_build_object(
            'warehouse', w.code, 'quantity', a.quantity, 'status', a.status) ORDER BY a.id)
        FROM inventory_allocation a JOIN inventory_warehouse w ON w.id = a.warehouse_id
        WHERE a.order_line_id = {line_id}
        """
    )


def warehouse_join(alias: str, *, on: str) -> str:
    """`JOIN` the warehouse whose id is the SQL `on`, as `alias`."""
    return f"JOIN inventory_warehouse {alias} ON {alias}.id = {on}"


# --- Order intake (run by orders.services.intake in its pipelined batch) -----------------
# The products of a list of SKUs, as Product rows (core.rows.instance_from reads them).
PRODUCTS_BY_SKU_SQL = (
    f"SELECT {select_columns(Product, 'p')} FROM inventory_product p WHERE p.sku = ANY(%s)"
)
