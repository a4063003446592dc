"""Hand-written SQL for the orders app's own tables (STYLE.md rule 18).

Every statement here names only orders_* tables and has a test comparing its result with the
ORM equivalent. Other apps compose the fragments they need from here; they never spell
these table names themselves.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import NamedTuple

from django.db import connection
from django.db.backends.utils import CursorWrapper

from core.bulk import copy_tables, sequence_values
from core.pipeline import prepared_cursor
from core.sql_json import json_array, utc_iso
from inventory import sql as inventory_sql
from logistics import sql as logistics_sql
from orders.models import Channel, Hold, Order, OrderEvent, OrderLine

# --- Order numbers -----------------------------------------------------------------------
# `count` fresh values of the order number sequence (orders.numbers formats them).
NEXT_NUMBERS_SQL = "SELECT nextval('orders_order_number_seq') FROM generate_series(1, %s::int)"


# --- A status change and its events in one statement (orders.transitions) --------------
def status_with_events_sql(*, event_count: int, cancelled: bool, promise: bool = False) -> str:
    """UPDATE the order's status (and cancelled_at, and with `promise` its ship_by and
    promised_delivery_date) and INSERT its events, RETURNING the events' ids. Parameters:
    status, updated_at[, cancelled_at][, ship_by, promised_delivery_date], order id, then
    six per event: order id, type, parameters, user id, actor, created_at."""
    cancelled_at = ", cancelled_at = %s" if cancelled else ""
    promised = ", ship_by = %s, promised_delivery_date = %s" if promise else ""
    values = ", ".join(["(%s, %s, %s, %s, %s, %s)"] * event_count)
    return (
        f"WITH o AS (UPDATE orders_order SET status = %s, updated_at = %s{cancelled_at}"
        f"{promised} WHERE id = %s) "
        "INSERT INTO orders_orderevent (order_id, type, parameters, user_id, actor, created_at) "
        f"VALUES {values} RETURNING id"
    )


def orders_status_update_many(
    *, rows: Sequence[tuple[int, str, dt.datetime, dt.datetime | None]]
) -> None:
    """Set (order id, status, updated_at, cancelled_at) for many orders in one UPDATE
    (orders.transitions.orders_transitions_save: the columns of the ORM's bulk_update,
    without compiling a CASE per row and field)."""
    if not rows:
        return
    values = ", ".join(["(%s::bigint, %s::varchar, %s::timestamptz, %s::timestamptz)"] * len(rows))
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE orders_order o SET status = v.status, updated_at = v.updated_at, "  # noqa: S608 - placeholders only
            f"cancelled_at = v.cancelled_at FROM (VALUES {values}) "
            "AS v(id, status, updated_at, cancelled_at) WHERE o.id = v.id",
            [value for row in rows for value in row],
        )


# --- The partner API's order documents, rendered by Postgres in one statement ----------
# The serializers in orders/serializers.py document these responses (the OpenAPI
# schema is generated from them) and are the reference; the statements below produce
# the same JSON without loading model instances, compiling ORM queries or running
# DRF's per-field machinery, which were most of a read's cost (see
# docs/decisions/0005-api-json-from-postgres.md). tests/orders/test_api_documents.py
# compares both on fully populated orders, so a field added to one and not the other
# fails there. Formatting matches the serializers: money as a string with four decimal
# places, times in UTC as ISO 8601 with a `Z` and microseconds only when there are any
# (Python's `isoformat()`), null for a missing service level. The shipments and the
# allocations come from the logistics and inventory apps' own fragments.


def _lines(*, with_allocations: bool) -> str:
    allocations = (
        f", 'allocations', {inventory_sql.allocations_json_of_line('l.id')}"
        if with_allocations
        else ""
    )
    return json_array(
        f"""
        SELECT json_agg(json_build_object(
            'line_number', l.line_number, 'sku', l.sku, 'quantity', l.quantity,
            'unit_price', l.unit_price::text, 'quantity_shipped', l.quantity_shipped,
            'quantity_delivered', l.quantity_delivered,
            'quantity_returned', l.quantity_returned,
            'quantity_cancelled', l.quantity_cancelled{allocations}) ORDER BY l.line_number)
        FROM orders_orderline l WHERE l.order_id = o.id
        """
    )


def _shipments_of(order_id: str) -> str:
    """A JSON array of the order's shipments by id; `order_id` is SQL for the order's id."""
    return logistics_sql.shipments_json_of_order(
        order_id,
        line_join="JOIN orders_orderline ol ON ol.id = sl.order_line_id",
        line_fields="'line_number', ol.line_number, 'sku', ol.sku",
    )


def _order(*, detail: bool) -> str:
    """One order as OrderDetailSerializer (detail) or OrderSerializer renders it; `o` is the row."""
    shipments = f", 'shipments', {_shipments_of('o.id')}" if detail else ""
    return f"""
    json_build_object(
        'number', o.number, 'external_reference', o.external_reference,
        'channel', c.code, 'status', o.status, 'currency', o.currency,
        'total_amount', o.total_amount::text,
        'customer', json_build_object(
            'email', o.customer_email, 'name', o.customer_name, 'phone', o.customer_phone),
        'shipping_address', json_build_object(
            'name', o.shipping_name, 'line1', o.shipping_line1, 'line2', o.shipping_line2,
            'city', o.shipping_city, 'postcode', o.shipping_postcode,
            'region', o.shipping_region, 'country', o.shipping_country),
        'service_level', {logistics_sql.service_level_label("o.service_level_id")},
        'placed_at', {utc_iso("o.placed_at")},
        'created_at', {utc_iso("o.created_at")},
        'updated_at', {utc_iso("o.updated_at")},
        'cancelled_at', {utc_iso("o.cancelled_at")},
        'ship_by', o.ship_by, 'promised_delivery_date', o.promised_delivery_date,
        'lines', {_lines(with_allocations=detail)}{shipments}
    )
    """


def _order_detail(where: str) -> str:
    """The statement rendering the one order that `where` (over `o`) selects."""
    return f"""
    SELECT {_order(detail=True)}::text
    FROM orders_order o JOIN orders_channel c ON c.id = o.channel_id
    WHERE {where}
    """


_ORDER_DETAIL_BY_NUMBER = _order_detail("o.channel_id = %s AND o.number = %s")
_ORDER_DETAIL_BY_ID = _order_detail("o.id = %s")

# The orders of a relation `page(pk, n)`, as a JSON array in `n` order: the list
# endpoint's page (core.pagination builds `page` from the filtered query).
ORDER_PAGE_SQL = f"""
    SELECT COALESCE(json_agg({_order(detail=False)} ORDER BY page.n), '[]'::json)::text
    FROM page
    JOIN orders_order o ON o.id = page.pk
    JOIN orders_channel c ON c.id = o.channel_id
"""

_SHIPMENT_LIST = f"SELECT {_shipments_of('%s')}::text"


def _one(sql: str, params: list[object]) -> str | None:
    with prepared_cursor() as cursor:
        cursor.execute(sql, params, prepare=True)
        row = cursor.fetchone()
    return None if row is None else row[0]


def order_detail_json(*, channel_id: int, number: str) -> str | None:
    """The channel's order `number` as OrderDetailSerializer renders it, or None."""
    return _one(_ORDER_DETAIL_BY_NUMBER, [channel_id, number])


def order_detail_json_by_id(*, order_id: int) -> str:
    """The order as OrderDetailSerializer renders it (the caller knows it exists)."""
    text = _one(_ORDER_DETAIL_BY_ID, [order_id])
    if text is None:
        raise LookupError(f"order {order_id} does not exist")
    return text


_ORDERS_DETAIL_BY_IDS = f"""
    SELECT o.id, {_order(detail=True)}::text
    FROM orders_order o JOIN orders_channel c ON c.id = o.channel_id
    WHERE o.id = ANY(%s)
"""


def orders_detail_json_by_ids(*, order_ids: Sequence[int]) -> dict[int, str]:
    """Order id -> the order as OrderDetailSerializer renders it, for many orders in one
    statement (batch intake's response); ids that do not exist are absent."""
    if not order_ids:
        return {}
    with prepared_cursor() as cursor:
        cursor.execute(_ORDERS_DETAIL_BY_IDS, [list(order_ids)], prepare=True)
        return {row[0]: row[1] for row in cursor.fetchall()}


def shipments_json(*, order_id: int) -> str:
    """The order's shipments, by id, as a JSON array of what ShipmentSerializer renders."""
    return _one(_SHIPMENT_LIST, [order_id]) or "[]"


# --- Shipment progress (orders.services.progress) ------------------------------------
def order_lines_progress_add(*, deltas: Mapping[int, tuple[int, int]]) -> None:
    """Add {order line id: (shipped, delivered)} to the lines' counters in one UPDATE.

    Rows are written in primary-key order (the lock order).
    """
    rows = [(pk, shipped, delivered) for pk, (shipped, delivered) in sorted(deltas.items())]
    if not rows:
        return
    values = ", ".join(["(%s, %s, %s)"] * len(rows))
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {OrderLine._meta.db_table} AS l "  # noqa: S608 - placeholders only
            "SET quantity_shipped = l.quantity_shipped + v.shipped::integer, "
            "quantity_delivered = l.quantity_delivered + v.delivered::integer "
            f"FROM (VALUES {values}) AS v(id, shipped, delivered) WHERE l.id = v.id::bigint",
            [value for row in rows for value in row],
        )


# --- Allocation (issue 17, L1) ------------------------------------------------------------
# Tests: tests/orders/test_sql_allocation.py. Why raw SQL: docs/decisions/0002.

# Lock one order row (parameter: the order id), every concrete column in
# `Order._meta.concrete_fields` order. Nothing else is read in this statement on
# purpose: a SELECT ... FOR UPDATE that waited for the lock would evaluate joined or
# sub-selected rows in its old snapshot.
ORDER_LOCK_SQL = (
    "SELECT "  # noqa: S608 - column names from the model
    + ", ".join(str(f.column) for f in Order._meta.concrete_fields)
    + " FROM orders_order WHERE id = %s FOR UPDATE"
)

# Read AFTER the order lock, as a new statement (so a new snapshot in READ
# COMMITTED: every allocation change of this order committed before we got the
# lock is seen): the channel's columns, whether a hold is active, each line with what
# is already reserved for it, the channel's eligible warehouses in priority order,
# and the stock levels of the missing products at those warehouses, locked in
# primary-key order (the global lock order: order row, then levels by pk). One round
# trip instead of four ORM queries. The inventory parts come from inventory.sql.
# Parameters (named): `order` and ALLOCATION_INPUTS_PARAMS.
_ALLOCATION_INPUTS_TEMPLATE = """
WITH lines AS (
  SELECT l.id, l.line_number, l.product_id, l.sku,
    -- Cancelled units (a line removed by an edit, an unshipped rest) are not allocated.
    l.quantity - l.quantity_cancelled AS quantity,
    {taken} AS taken,
    -- What routing rules look at (routing.engine.OrderFacts).
    p.weight_grams, p.tags
  FROM orders_orderline l {product_join}
  WHERE l.order_id = %(order)s
), rules AS (
  SELECT cw.warehouse_id, w.code, cw.priority
  FROM orders_channelwarehouse cw {warehouse_join}
  WHERE cw.channel_id = (SELECT channel_id FROM orders_order WHERE id = %(order)s)
), levels AS (
  {levels}
)
SELECT {channel_columns},
  EXISTS (SELECT 1 FROM orders_hold h WHERE h.order_id = %(order)s AND h.released_at IS NULL)
    AS has_active_hold,
  (SELECT coalesce(json_agg(json_build_array(id, line_number, product_id, sku, quantity, taken,
     weight_grams, tags)
     ORDER BY line_number), '[]') FROM lines) AS lines_json,
  (SELECT coalesce(json_agg(json_build_array(warehouse_id, code) ORDER BY priority, warehouse_id),
     '[]') FROM rules) AS rules_json,
  (SELECT coalesce(json_agg(json_build_array(id, product_id, warehouse_id, on_hand, reserved,
     low_stock_threshold)), '[]') FROM levels) AS levels_json
FROM orders_channel c WHERE c.id = (SELECT channel_id FROM orders_order WHERE id = %(order)s)
"""
ALLOCATION_INPUTS_SQL = _ALLOCATION_INPUTS_TEMPLATE.format(
    taken=inventory_sql.allocation_taken_sql(line_id="l.id"),
    product_join=inventory_sql.product_join("p", on="l.product_id"),
    warehouse_join=inventory_sql.active_warehouse_join("w", on="cw.warehouse_id"),
    levels=inventory_sql.stock_levels_lock_sql(
        product_ids="SELECT product_id FROM lines WHERE quantity > taken",
        warehouse_ids="SELECT warehouse_id FROM rules",
    ),
    channel_columns=", ".join(f"c.{f.column}" for f in Channel._meta.concrete_fields),
)
ALLOCATION_INPUTS_PARAMS: dict[str, str] = dict(inventory_sql.ALLOCATION_TAKEN_PARAMS)


# --- bulk loading (demo seeder) ---------------------------------------------------------
# One row type per table, its fields named as the table's columns (COPY's column list);
# demo/bulk.py builds them and hands a chunk's worth to orders_bulk_copy.


class OrderRow(NamedTuple):
    id: int
    created_at: dt.datetime
    updated_at: dt.datetime
    number: str
    channel_id: int
    external_reference: str
    status: str
    currency: str
    total_amount: str
    priority: int
    customer_email: str
    customer_name: str
    customer_phone: str
    customer_phone_key: str
    shipping_name: str
    shipping_line1: str
    shipping_line2: str
    shipping_city: str
    shipping_postcode: str
    shipping_postcode_key: str
    shipping_region: str
    shipping_country: str
    service_level_id: int
    placed_at: dt.datetime
    cancelled_at: dt.datetime | None
    ship_by: dt.date | None
    promised_delivery_date: dt.date | None


class OrderLineRow(NamedTuple):
    id: int
    order_id: int
    line_number: int
    product_id: int
    sku: str
    quantity: int
    unit_price: str
    quantity_shipped: int
    quantity_delivered: int
    quantity_returned: int


class OrderEventRow(NamedTuple):
    order_id: int
    type: str
    parameters: str  # JSON text
    user_id: int | None
    actor: str
    created_at: dt.datetime


class HoldRow(NamedTuple):
    created_at: dt.datetime
    updated_at: dt.datetime
    order_id: int
    reason: str
    note: str
    owner_id: int | None
    due_at: dt.datetime
    placed_by_id: int | None
    released_at: dt.datetime | None
    released_by_id: int | None
    release_note: str


def order_ids_and_numbers_draw(cursor: CursorWrapper, *, count: int) -> list[tuple[int, int]]:
    """`count` (order id, order number) pairs, each drawn from its sequence.

    Numbers come from the sequence order intake uses (orders.numbers), so bulk-loaded
    and real orders never collide.
    """
    cursor.execute("SELECT pg_get_serial_sequence('orders_order', 'id')")
    (sequence,) = cursor.fetchone()
    cursor.execute(
        "SELECT nextval(%s), nextval('orders_order_number_seq') FROM generate_series(1, %s)",
        [sequence, count],
    )
    return [(order_id, number) for order_id, number in cursor.fetchall()]


def order_line_ids_draw(cursor: CursorWrapper, *, count: int) -> list[int]:
    """`count` fresh order line ids."""
    return sequence_values(cursor, model=OrderLine, count=count)


def orders_bulk_copy(
    cursor: CursorWrapper,
    *,
    orders: Sequence[OrderRow],
    lines: Sequence[OrderLineRow],
    events: Sequence[OrderEventRow],
    holds: Sequence[HoldRow],
) -> None:
    """COPY the rows into orders_order, orders_orderline, orders_orderevent, orders_hold.

    Parents first. Raw rows: no model `save()`, no signals, no full_clean; the caller
    keeps them consistent (demo/plans.py).
    """
    copy_tables(
        cursor,
        [
            (Order, OrderRow._fields, orders),
            (OrderLine, OrderLineRow._fields, lines),
            (OrderEvent, OrderEventRow._fields, events),
            (Hold, HoldRow._fields, holds),
        ],
    )


# Where an order ships to, as the LSP sandbox keeps it in a shipment request (the shape of
# GenericHttpAdapter.shipment_payload's ship_to): one row per order, columns id, number,
# ship_to (json). A fragment for a caller's WITH; the caller joins it by id.
ORDER_SHIP_TO = """
    SELECT o.id, o.number,
        json_build_object('name', o.shipping_name,
            'line1', o.shipping_line1, 'line2', o.shipping_line2,
            'city', o.shipping_city, 'postcode', o.shipping_postcode,
            'region', o.shipping_region, 'country', o.shipping_country) AS ship_to
    FROM orders_order o
"""
