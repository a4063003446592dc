"""Hand-written SQL for the inventory app's own tables (STYLE.md rule 18).

Every statement here names only inventory_* tables and has a test comparing its result with the
ORM equivalent. Other apps compose the fragments they need from here; they never spell
these table names themselves.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from typing import NamedTuple

from django.db import connection
from django.db.backends.utils import CursorWrapper
from django.utils import timezone

from core.bulk import copy_rows
from core.rows import select_columns
from core.sql_json import json_array, utc_iso
from inventory.models import Allocation, Product, StockMovement
from inventory.services.bin_stock import bins_follow_on_hand

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


def product_join(alias: str, *, on: str) -> str:
    """`JOIN` the product whose id is the SQL `on`, as `alias` (orders.sql's allocation
    inputs read a line's weight and tags for routing)."""
    return f"JOIN inventory_product {alias} ON {alias}.id = {on}"


def warehouse_from(alias: str) -> str:
    """The warehouse table as `alias`, for a statement that starts from warehouses
    (logistics.sql reads warehouses with their providers for shipment planning)."""
    return f"inventory_warehouse {alias}"


# --- ASN numbers (inventory.numbers) ---------------------------------------------------
INBOUND_NEXT_NUMBER_SQL = "SELECT nextval('inventory_inbound_number_seq')"

# --- ASNs: a page of the partner API's list (inventory.selectors.INBOUNDS_PAGE_SQL) --------
# Over `page(pk, n)` (core.pagination.KeysetPagination.page_response): the JSON array of
# the page's ASNs in order, each as inventory.selectors.inbound_data renders one.
INBOUND_PAGE_SQL = f"""
SELECT COALESCE(json_agg(json_build_object(
    'number', s.number, 'reference', s.reference, 'warehouse', w.code, 'status', s.status,
    'expected_at', {utc_iso("s.expected_at")}, 'carrier', s.carrier,
    'tracking_number', s.tracking_number,
    'lines', {
    json_array(
        "SELECT json_agg(json_build_object('sku', p.sku, 'expected', l.expected_quantity,"
        " 'received', l.received_quantity,"
        " 'discrepancy', l.received_quantity - l.expected_quantity) ORDER BY l.id)"
        " FROM inventory_inboundline l JOIN inventory_product p ON p.id = l.product_id"
        " WHERE l.inbound_id = s.id"
    )
},
    'created_at', {utc_iso("s.created_at")}, 'updated_at', {utc_iso("s.updated_at")},
    'received_at', CASE WHEN s.status = 'received' THEN {utc_iso("s.closed_at")} END
) ORDER BY page.n), '[]'::json)::text
FROM page
JOIN inventory_inboundshipment s ON s.id = page.pk
JOIN inventory_warehouse w ON w.id = s.warehouse_id
"""

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


def stock_reserve_many_sql(*, rows: int) -> str:
    """`stock_reserve_sql` for the reservations of many orders (batch intake): each row
    names its own order and ledger reference.

    Parameters, in order: for each row `level_id, line_id, product_id, warehouse_id,
    quantity, order_id, reference`; then `updated_at`, movement type, actor id,
    created_at; then the allocations' created_at, updated_at and status.
    """
    row = "(%s::bigint, %s::bigint, %s::bigint, %s::bigint, %s::integer, %s::bigint, %s::text)"
    values = ", ".join([row] * rows)
    return (
        "WITH v(level_id, line_id, product_id, warehouse_id, q, order_id, reference) AS "  # noqa: S608 - placeholders only
        f"(VALUES {values}), "
        "lv AS (UPDATE inventory_stocklevel l SET reserved = l.reserved + t.q, updated_at = %s "
        "  FROM (SELECT level_id, sum(q) AS q FROM v GROUP BY level_id) t "
        "  WHERE l.id = t.level_id RETURNING l.id), "
        "mv AS (INSERT INTO inventory_stockmovement (product_id, warehouse_id, type, "
        "  on_hand_delta, reserved_delta, reason, reference, order_id, actor_id, note, "
        "  created_at) SELECT product_id, warehouse_id, %s, 0, q, '', reference, order_id, %s, "
        "  '', %s FROM v RETURNING id) "
        "INSERT INTO inventory_allocation (created_at, updated_at, order_line_id, "
        "  warehouse_id, quantity, status) SELECT %s, %s, line_id, warehouse_id, q, %s FROM v "
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


# --- bulk loading (demo seeder) ---------------------------------------------------------
# One row type per table, its fields named as the table's columns (COPY's column list);
# demo/bulk.py builds them. Stock levels are never written from outside: the seeder hands
# its ledger rows to stock_movements_bulk_apply, which writes them and moves the levels.


class AllocationRow(NamedTuple):
    created_at: dt.datetime
    updated_at: dt.datetime
    order_line_id: int
    warehouse_id: int
    quantity: int
    status: str


class StockMovementRow(NamedTuple):
    product_id: int
    warehouse_id: int
    type: str
    on_hand_delta: int
    reserved_delta: int
    reason: str
    reference: str
    order_id: int | None
    actor_id: int | None
    note: str
    created_at: dt.datetime


def allocations_bulk_copy(cursor: CursorWrapper, *, allocations: Sequence[AllocationRow]) -> None:
    """COPY the rows into inventory_allocation (no save(), no signals)."""
    if allocations:
        copy_rows(cursor, model=Allocation, columns=AllocationRow._fields, rows=allocations)


_LEVELS_ENSURE = (
    "INSERT INTO inventory_stocklevel (product_id, warehouse_id, on_hand, reserved,"
    " low_stock_threshold, updated_at)"
    " SELECT p, w, 0, 0, 0, now() FROM unnest(%s::bigint[], %s::bigint[]) AS k(p, w)"
    " ON CONFLICT (product_id, warehouse_id) DO NOTHING"
)
# Primary-key order, like every other stock writer (inventory/services/stock.py).
_LEVELS_LOCK = (
    "SELECT id, product_id, warehouse_id, on_hand, reserved FROM inventory_stocklevel"
    " WHERE (product_id, warehouse_id) IN"
    " (SELECT * FROM unnest(%s::bigint[], %s::bigint[])) ORDER BY id FOR UPDATE"
)
_LEVELS_MOVE = (
    "UPDATE inventory_stocklevel s SET on_hand = s.on_hand + v.d_on_hand,"
    " reserved = s.reserved + v.d_reserved, updated_at = now()"
    " FROM unnest(%s::bigint[], %s::int[], %s::int[]) AS v(id, d_on_hand, d_reserved)"
    " WHERE s.id = v.id"
)


def _movement_sums(movements: Sequence[StockMovementRow]) -> dict[tuple[int, int], list[int]]:
    sums: dict[tuple[int, int], list[int]] = defaultdict(lambda: [0, 0])
    for movement in movements:
        total = sums[(movement.product_id, movement.warehouse_id)]
        total[0] += movement.on_hand_delta
        total[1] += movement.reserved_delta
    return {key: total for key, total in sums.items() if total[0] or total[1]}


def stock_movements_bulk_apply(
    cursor: CursorWrapper,
    *,
    movements: Sequence[StockMovementRow],
    reference: str,
    replenish_extra: int,
) -> int:
    """Write the ledger rows and move the levels by their sums, receiving stock where short.

    The bulk counterpart of inventory/services/stock.py for loaders (the demo seeder),
    in the caller's transaction: missing levels are created, the levels are locked in
    primary-key order, and a level that would end with reserved > on_hand (or
    on_hand < 0) first gets a receipt movement of what it lacks plus
    `replenish_extra`, so the database CHECK holds and the ledger still sums to the
    level. Low-stock alerts are not kept here: the loader runs
    `stock.low_stock_alerts_sync()` when it is done. Returns the number of receipts.
    """
    if movements:
        copy_rows(cursor, model=StockMovement, columns=StockMovementRow._fields, rows=movements)
    sums = _movement_sums(movements)
    if not sums:
        return 0
    keys = sorted(sums)
    products, warehouses = [key[0] for key in keys], [key[1] for key in keys]
    cursor.execute(_LEVELS_ENSURE, [products, warehouses])
    cursor.execute(_LEVELS_LOCK, [products, warehouses])
    receipts: list[StockMovementRow] = []
    ids: list[int] = []
    on_hand_deltas: list[int] = []
    reserved_deltas: list[int] = []
    dropped: dict[tuple[int, int], int] = {}
    now = timezone.now()
    for level_id, product_id, warehouse_id, on_hand, reserved in cursor.fetchall():
        on_hand_delta, reserved_delta = sums[(product_id, warehouse_id)]
        short = max(reserved + reserved_delta - (on_hand + on_hand_delta), 0)
        if short:
            received = short + replenish_extra
            receipts.append(
                StockMovementRow(
                    product_id=product_id,
                    warehouse_id=warehouse_id,
                    type=StockMovement.Type.RECEIPT,
                    on_hand_delta=received,
                    reserved_delta=0,
                    reason="replenishment",
                    reference=reference,
                    order_id=None,
                    actor_id=None,
                    note="",
                    created_at=now,
                )
            )
            on_hand_delta += received
        ids.append(level_id)
        if on_hand_delta < 0:
            dropped[(product_id, warehouse_id)] = on_hand + on_hand_delta
        on_hand_deltas.append(on_hand_delta)
        reserved_deltas.append(reserved_delta)
    if receipts:
        copy_rows(cursor, model=StockMovement, columns=StockMovementRow._fields, rows=receipts)
    cursor.execute(_LEVELS_MOVE, [ids, on_hand_deltas, reserved_deltas])
    # Like stock_apply: where on_hand dropped, an own site's bins give up what the unbinned
    # units cannot cover, under the level locks taken above.
    if dropped:
        bins_follow_on_hand(
            on_hand=dropped, references=dict.fromkeys(dropped, reference), user=None
        )
    return len(receipts)


# Where a warehouse ships from, as the LSP sandbox keeps it in a shipment request (the
# shape of GenericHttpAdapter.shipment_payload's ship_from): one row per warehouse, columns
# id, ship_from (json). A fragment for a caller's WITH; the caller joins it by id.
WAREHOUSE_SHIP_FROM = """
    SELECT w.id,
        json_build_object('warehouse', w.code, 'line1', w.line1,
            'city', w.city, 'postcode', w.postcode, 'country', w.country) AS ship_from
    FROM inventory_warehouse w
"""


# --- Inventory feed and the stock journal (issue 18) -------------------------------------
# Tests: tests/inventory/test_stock_journal.py (each statement against its ORM equivalent).
#
# The journal is the ledger itself: every movement carries the id of the transaction that
# wrote it (inventory_stockmovement.xid, filled by the column default on every path). A
# changes cursor is the snapshot a read ran with (`pg_current_snapshot()`: xmin, xmax and
# the ids in progress): a change that read could not see has a transaction id at or
# above xmax (began after it) or among those in progress (began before it, committed
# after). Everything else had ended before the read, so it was seen. Ids are given at a
# transaction's first write and commits land in any order, so an id (or a time) alone
# could skip a transaction that was still open; the snapshot cannot, and it repeats
# nothing, however long another transaction runs (an xmin alone would: everything since
# the oldest open transaction anywhere in the cluster would come back every time).

# A read's changes cursor: its snapshot as text, then ':' and the reading transaction's
# own id if it has one (a snapshot leaves its own transaction out of those in progress,
# yet its writes are not committed: the cursor must count them as unseen).
SNAPSHOT_SQL = (
    "pg_current_snapshot()::text || ':' || COALESCE(pg_current_xact_id_if_assigned()::text, '')"
)

# The cursor of "now".
CHANGES_CURSOR_SQL = f"SELECT {SNAPSHOT_SQL}"

# The changed products are collected into an array first: the planner cannot know how few
# ledger rows a cursor finds (their ids are past its statistics), and with a join it
# scanned every product (70 ms at 100,000 SKUs) to match a handful.
# Products with a ledger row at the warehouses %(warehouses)s (bigint[]) that a read with
# the cursor (%(xmax)s: an xid8 as text; %(xip)s: the ids in progress, text[]) could not
# see. Two ranges of stockmovement_xid: from xmax on, and the ids in progress.
_CHANGED_SINCE_XID = (
    "SELECT DISTINCT m.product_id FROM inventory_stockmovement m"
    " WHERE (m.xid >= %(xmax)s::xid8 OR m.xid = ANY(%(xip)s::xid8[]))"
    " AND m.warehouse_id = ANY(%(warehouses)s::bigint[])"
)
# The same for ledger rows written at or after %(since)s (a timestamptz).
_CHANGED_SINCE_TIME = (
    "SELECT DISTINCT m.product_id FROM inventory_stockmovement m"
    " WHERE m.created_at >= %(since)s AND m.warehouse_id = ANY(%(warehouses)s::bigint[])"
)

# SKUs (sorted) of the active products changed at the warehouses since the cursor, and the
# cursor to pass next time, read in one snapshot.
STOCK_CHANGES_SINCE_SQL = (
    "SELECT COALESCE(array_agg(p.sku ORDER BY p.sku), '{}'),"  # noqa: S608 - constants only
    f" {SNAPSHOT_SQL}"
    f" FROM inventory_product p WHERE p.is_active AND p.id = ANY(ARRAY({_CHANGED_SINCE_XID}))"
)


def stock_feed_page_sql(*, by_warehouse: bool, changed: str | None) -> str:
    """One page of the inventory feed, found and rendered as JSON text in one statement.

    `changed` is None (every active product), "xid" (only products with a ledger row a
    read with the cursor %(xmax)s, %(xip)s could not see, see above) or "time" (a ledger
    row at or after %(since)s). Parameters (named): `warehouses` (bigint[]: the
    channel's warehouses), `after` (the last SKU served, '' for the first page; SKUs are
    never blank), `size` (the page size); `xmax` and `xip`, or `since`, for a delta.

    One row: the page's items as a JSON array (`sku`, `available`: on hand minus reserved
    over the active warehouses, never below 0; with `by_warehouse` also `warehouses`:
    `[{warehouse, available}]` for each active warehouse, by code, 0 where it holds
    none), the page's last SKU, whether more follow, and this read's snapshot (the
    changes cursor, as text).
    """
    only_changed = ""
    if changed == "xid":
        only_changed = f" AND p.id = ANY(ARRAY({_CHANGED_SINCE_XID}))"
    elif changed == "time":
        only_changed = f" AND p.id = ANY(ARRAY({_CHANGED_SINCE_TIME}))"
    elif changed is not None:
        raise ValueError(changed)
    per_warehouse = (
        ", 'warehouses', COALESCE((SELECT json_agg(json_build_object('warehouse', wh.code,"
        " 'available', GREATEST(COALESCE(sl.on_hand - sl.reserved, 0), 0)) ORDER BY wh.code)"
        " FROM wh LEFT JOIN inventory_stocklevel sl"
        " ON sl.warehouse_id = wh.id AND sl.product_id = page.id), '[]')"
        if by_warehouse
        else ""
    )
    return (
        "WITH wh AS (SELECT w.id, w.code FROM inventory_warehouse w"  # noqa: S608 - constants only
        "  WHERE w.id = ANY(%(warehouses)s::bigint[]) AND w.is_active),"
        " page AS (SELECT p.id, p.sku, row_number() OVER (ORDER BY p.sku) AS n"
        f"  FROM inventory_product p WHERE p.is_active AND p.sku > %(after)s{only_changed}"
        "  ORDER BY p.sku LIMIT %(size)s + 1)"
        " SELECT COALESCE((SELECT json_agg(json_build_object('sku', page.sku, 'available',"
        "   GREATEST((SELECT COALESCE(sum(sl.on_hand - sl.reserved), 0)"
        "     FROM inventory_stocklevel sl JOIN wh ON wh.id = sl.warehouse_id"
        f"     WHERE sl.product_id = page.id), 0){per_warehouse}) ORDER BY page.n)"
        "   FROM page WHERE page.n <= %(size)s), '[]')::text,"
        " (SELECT page.sku FROM page WHERE page.n = %(size)s),"
        " EXISTS (SELECT 1 FROM page WHERE page.n > %(size)s),"
        f" {SNAPSHOT_SQL}"
    )


# --- The catalogue (partner API products; inventory.services.catalogue) ------------------
# Tests: tests/inventory/test_catalogue.py (each statement against its ORM equivalent).

# Advisory-lock namespace of catalogue writes (first key of pg_advisory_xact_lock(int, int)):
# a writer holds the SKUs and barcodes it writes until it commits, so two writers naming
# the same SKU or barcode run one after the other (no lost update, no unique violation).
# Names are hashed into CATALOGUE_LOCK_BUCKETS locks: every advisory lock takes a slot of
# the server's shared lock table (max_locks_per_transaction x max_connections, 6,400 by
# default), so a 1,000-item batch with its barcodes must not take 3,000. A big batch
# then holds most buckets and waits for (or makes wait) any other catalogue write; small
# writes on different products mostly miss each other.
CATALOGUE_LOCK_NAMESPACE = 7101
CATALOGUE_LOCK_BUCKETS = 64
# Takes the bucket locks of the names in %s (text[]) in one statement, in key order (no
# deadlock between two writers); returns how many it holds.
CATALOGUE_LOCK_SQL = f"""
SELECT count(pg_advisory_xact_lock({CATALOGUE_LOCK_NAMESPACE}, k)) FROM (
    SELECT DISTINCT abs(mod(hashtext(name), {CATALOGUE_LOCK_BUCKETS})) AS k
    FROM unnest(%s::text[]) AS name ORDER BY k
) AS keys
"""


def _product_json(alias: str) -> str:
    """SQL json of the product row `alias`, as partners.api.products.ProductSerializer
    renders it: barcodes primary first, then in the order they were added."""
    barcodes = json_array(
        f"SELECT json_agg(b.barcode ORDER BY (b.barcode = {alias}.barcode) IS TRUE DESC, b.id) "
        f"FROM inventory_productbarcode b WHERE b.product_id = {alias}.id"
    )
    return f"""json_build_object(
        'sku', {alias}.sku, 'name', {alias}.name, 'barcodes', {barcodes},
        'weight_grams', {alias}.weight_grams, 'length_mm', {alias}.length_mm,
        'width_mm', {alias}.width_mm, 'height_mm', {alias}.height_mm,
        'hs_code', {alias}.hs_code, 'country_of_origin', {alias}.country_of_origin,
        'customs_description', {alias}.customs_description,
        'customs_value', {alias}.customs_value::text,
        'customs_currency', {alias}.customs_currency, 'active', {alias}.is_active,
        'created_at', {utc_iso(f"{alias}.created_at")},
        'updated_at', {utc_iso(f"{alias}.updated_at")})"""


# A page of the catalogue feed for core.pagination.KeysetPagination.page_response: the
# JSON array of the products of `page(pk, n)` in page order.
PRODUCTS_PAGE_SQL = f"""
    SELECT COALESCE(json_agg({_product_json("p")} ORDER BY page.n), '[]'::json)::text
    FROM page JOIN inventory_product p ON p.id = page.pk
"""
# id and JSON text of the products whose ids are in %s (bigint[]).
PRODUCTS_JSON_SQL = f"""
    SELECT p.id, {_product_json("p")}::text FROM inventory_product p WHERE p.id = ANY(%s)
"""
# JSON text of the product whose SKU is %s.
PRODUCT_JSON_BY_SKU_SQL = (
    f"SELECT {_product_json('p')}::text FROM inventory_product p WHERE p.sku = %s"
)


def catalogue_lock(*, names: Sequence[str]) -> None:
    """Hold the catalogue locks of `names` ("sku:…", "barcode:…") until the transaction ends."""
    with connection.cursor() as cursor:
        cursor.execute(CATALOGUE_LOCK_SQL, [sorted(set(names))])


def products_json(*, ids: Sequence[int]) -> dict[int, str]:
    """The partner API's JSON text of each product in `ids`, by id (one statement)."""
    if not ids:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(PRODUCTS_JSON_SQL, [list(ids)])
        return dict(cursor.fetchall())


def product_json_by_sku(*, sku: str) -> str | None:
    """The partner API's JSON text of the product `sku`, or None."""
    with connection.cursor() as cursor:
        cursor.execute(PRODUCT_JSON_BY_SKU_SQL, [sku])
        row = cursor.fetchone()
    return None if row is None else str(row[0])
