"""Hand-written SQL for the inventory app's own tables (STYLE.md rule 18).

Every statement here names only inventory_* tables and has a test comparing its result with the
ORM equivalent. Other apps compose the fragments they need from here; they never spell
these table names themselves.
"""

from __future__ import annotations

from core.rows import select_columns
from core.sql_json import json_array
from inventory.models import Allocation, Product

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

# --- Stock engine and allocation (issue 17, L1) -----------------------------------------
# Tests: tests/inventory/test_sql.py (each statement against its ORM equivalent) and
# tests/orders/test_sql_allocation.py (the fragments inside the allocation read).

# Named parameters the fragment `allocation_taken_sql` uses; a statement that embeds
# it passes these with its own (dict) parameters.
ALLOCATION_TAKEN_PARAMS: dict[str, str] = {
    "active": Allocation.Status.ACTIVE,
    "fulfilled": Allocation.Status.FULFILLED,
}


def allocation_taken_sql(*, line_id: str) -> str:
    """Scalar subquery: units of order line `line_id` (an SQL expression) already reserved
    or fulfilled. Uses the named parameters in ALLOCATION_TAKEN_PARAMS."""
    return (
        "(SELECT coalesce(sum(a.quantity), 0) FROM inventory_allocation a\n"  # noqa: S608 - caller's SQL expression
        f"     WHERE a.order_line_id = {line_id} AND a.status IN (%(active)s, %(fulfilled)s))"
    )


def active_warehouse_join(alias: str, *, on: str) -> str:
    """`JOIN` the warehouse whose id is the SQL `on`, as `alias`, only if it is active."""
    return f"{warehouse_join(alias, on=on)} AND {alias}.is_active"


def stock_levels_lock_sql(*, product_ids: str, warehouse_ids: str) -> str:
    """SELECT of the stock levels of products `product_ids` at warehouses `warehouse_ids`
    (two subqueries), locked FOR UPDATE in primary-key order (the global lock order).

    Columns: id, product_id, warehouse_id, on_hand, reserved, low_stock_threshold.
    """
    return (
        "SELECT sl.id, sl.product_id, sl.warehouse_id, sl.on_hand, sl.reserved, "  # noqa: S608 - caller's subqueries
        "sl.low_stock_threshold\n"
        "  FROM inventory_stocklevel sl\n"
        f"  WHERE sl.product_id IN ({product_ids})\n"
        f"    AND sl.warehouse_id IN ({warehouse_ids})\n"
        "  ORDER BY sl.id FOR UPDATE OF sl"
    )


def stock_reserve_sql(*, rows: int) -> str:
    """Reserve stock for `rows` reservations in ONE statement (docs/decisions/0002).

    Three data-modifying CTEs, run by Postgres in one snapshot: add to the levels'
    `reserved`, write one `reservation` movement per row, insert (or top up) the
    active allocation of each line and warehouse. Parameters, in order: for each row
    `level_id, line_id, product_id, warehouse_id, quantity`; then `updated_at`,
    movement type, reference, order id, actor id, created_at; then the allocations'
    created_at, updated_at and status.
    """
    values = ", ".join(["(%s::bigint, %s::bigint, %s::bigint, %s::bigint, %s::integer)"] * rows)
    return (
        f"WITH v(level_id, line_id, product_id, warehouse_id, q) AS (VALUES {values}), "  # noqa: S608 - placeholders only
        "lv AS (UPDATE inventory_stocklevel l SET reserved = l.reserved + t.q, updated_at = %s "
        "  FROM (SELECT level_id, sum(q) AS q FROM v GROUP BY level_id) t "
        "  WHERE l.id = t.level_id RETURNING l.id), "
        "mv AS (INSERT INTO inventory_stockmovement (product_id, warehouse_id, type, "
        "  on_hand_delta, reserved_delta, reason, reference, order_id, actor_id, note, "
        "  created_at) SELECT product_id, warehouse_id, %s, 0, q, '', %s, %s, %s, '', %s "
        "  FROM v RETURNING id) "
        "INSERT INTO inventory_allocation (created_at, updated_at, order_line_id, "
        "  warehouse_id, quantity, status) SELECT %s, %s, line_id, warehouse_id, q, %s FROM v "
        # A literal, not a parameter: Postgres matches it to the partial unique index.
        "ON CONFLICT (order_line_id, warehouse_id) WHERE status = 'active' DO UPDATE SET "
        "  quantity = inventory_allocation.quantity + EXCLUDED.quantity, "
        "  updated_at = EXCLUDED.updated_at"
    )


def stock_levels_add_sql(*, rows: int) -> str:
    """Add deltas to many levels in one UPDATE ... FROM (VALUES ...).

    Relative increments, so the result is the same as one F() UPDATE per row.
    Parameters: `updated_at`, then `id, on_hand_delta, reserved_delta` per row.
    """
    values = ", ".join(["(%s, %s, %s)"] * rows)
    return (
        "UPDATE inventory_stocklevel AS l "  # noqa: S608 - placeholders only
        "SET on_hand = l.on_hand + v.d_on_hand, reserved = l.reserved + v.d_reserved, "
        "updated_at = %s "
        f"FROM (VALUES {values}) AS v(id, d_on_hand, d_reserved) "
        "WHERE l.id = v.id::bigint"
    )


# Every (product, warehouse) whose level differs from the sum of its ledger movements:
# sku, warehouse code, level on_hand, level reserved, ledger on_hand, ledger reserved.
LEDGER_DRIFT_SQL = """
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
