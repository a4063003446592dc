"""The partner API's order resources as JSON text, rendered by Postgres in one statement.

The serializers in orders/serializers.py document these responses (the OpenAPI
schema is generated from them) and are the reference; the statements below
produce the same JSON without loading model instances, compiling ORM queries
or running DRF's per-field machinery, which were most of a read's cost (see
docs/decisions/0005-api-json-from-postgres.md). tests/orders/test_api_documents.py
compares both on fully populated orders, so a field added to one and not the
other fails there.

Formatting matches the serializers: money as a string with four decimal
places, times in UTC as ISO 8601 with a `Z` and microseconds only when there
are any (Python's `isoformat()`), null for a missing service level.

The statements name tables and columns: a migration that renames one must
update them here (the tests above fail if it does not).
"""

from __future__ import annotations

from core.pipeline import prepared_cursor


def _utc(column: str) -> str:
    """SQL for a timestamptz column as Python's `isoformat()` of it in UTC, `Z` for +00:00."""
    return (
        f"to_char({column} AT TIME ZONE 'UTC', CASE WHEN date_trunc('second', {column}) = {column}"
        ' THEN \'YYYY-MM-DD"T"HH24:MI:SS"Z"\' ELSE \'YYYY-MM-DD"T"HH24:MI:SS.US"Z"\' END)'
    )


def _array(select: str) -> str:
    """A json_agg subquery that gives [] rather than null when it finds nothing."""
    return f"COALESCE(({select}), '[]'::json)"


_ALLOCATIONS = _array(
    """
    SELECT json_agg(json_build_object(
        'warehouse', w.code, 'quantity', a.quantity, 'status', a.status) ORDER BY a.id)
    FROM inventory_allocation a JOIN inventory_warehouse w ON w.id = a.warehouse_id
    WHERE a.order_line_id = l.id
    """
)


def _lines(*, with_allocations: bool) -> str:
    allocations = f", 'allocations', {_ALLOCATIONS}" if with_allocations else ""
    return _array(
        f"""
        SELECT json_agg(json_build_object(
            'line_number', l.line_number, 'sku', l.sku, 'quantity', l.quantity,
            'unit_price', l.unit_price::text, 'quantity_shipped', l.quantity_shipped,
            'quantity_delivered', l.quantity_delivered,
            'quantity_returned', l.quantity_returned{allocations}) ORDER BY l.line_number)
        FROM orders_orderline l WHERE l.order_id = o.id
        """
    )


_SHIPMENT_LINES = _array(
    """
    SELECT json_agg(json_build_object(
        'line_number', ol.line_number, 'sku', ol.sku, 'quantity', sl.quantity) ORDER BY sl.id)
    FROM logistics_shipmentline sl JOIN orders_orderline ol ON ol.id = sl.order_line_id
    WHERE sl.shipment_id = s.id
    """
)

_PARCELS = _array(
    """
    SELECT json_agg(json_build_object(
        'tracking_number', p.tracking_number, 'weight_grams', p.weight_grams) ORDER BY p.id)
    FROM logistics_parcel p WHERE p.shipment_id = s.id
    """
)

_TRACKING = _array(
    f"""
    SELECT json_agg(json_build_object(
        'status', t.status, 'provider_status', t.provider_status,
        'description', t.description, 'location', t.location,
        'occurred_at', {_utc("t.occurred_at")}) ORDER BY t.occurred_at, t.id)
    FROM logistics_trackingevent t WHERE t.shipment_id = s.id
    """
)


def _service_level(ref: str) -> str:
    """`provider:code` of the service level whose id is the column `ref`, or null."""
    return f"""(
        SELECT lp.code || ':' || lvl.code FROM logistics_servicelevel lvl
        JOIN logistics_provider lp ON lp.id = lvl.provider_id WHERE lvl.id = {ref})"""


# One shipment as ShipmentSerializer renders it; `s` is the shipment row, `sp` its
# provider and `sw` its warehouse.
_SHIPMENT = f"""
    json_build_object(
        'id', s.id, 'status', s.status, 'direction', s.direction,
        'provider', sp.code, 'warehouse', sw.code,
        'service_level', {_service_level("s.service_level_id")},
        'tracking_number', s.tracking_number,
        'tracking_url', CASE WHEN sp.tracking_url_template = '' OR s.tracking_number = ''
            THEN '' ELSE replace(sp.tracking_url_template, '{{tracking_number}}', s.tracking_number)
            END,
        'dispatched_at', {_utc("s.dispatched_at")},
        'delivered_at', {_utc("s.delivered_at")},
        'lines', {_SHIPMENT_LINES},
        'parcels', {_PARCELS},
        'tracking', {_TRACKING}
    )
"""


def _shipments_of(order_id: str) -> str:
    """A JSON array of the order's shipments by id; `order_id` is SQL for the order's id."""
    return _array(
        f"""
        SELECT json_agg({_SHIPMENT} ORDER BY s.id)
        FROM logistics_shipment s
        JOIN logistics_provider sp ON sp.id = s.provider_id
        JOIN inventory_warehouse sw ON sw.id = s.warehouse_id
        WHERE s.order_id = {order_id}
        """
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
        'service_level', {_service_level("o.service_level_id")},
        'placed_at', {_utc("o.placed_at")},
        'created_at', {_utc("o.created_at")},
        'updated_at', {_utc("o.updated_at")},
        'cancelled_at', {_utc("o.cancelled_at")},
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
# endpoint's page (core.pagination builds `page` from the filtered query) or
# any list of ids (below).
ORDER_PAGE = f"""
    SELECT COALESCE(json_agg({_order(detail=False)} ORDER BY page.n), '[]'::json)::text
    FROM page
    JOIN orders_order o ON o.id = page.pk
    JOIN orders_channel c ON c.id = o.channel_id
"""
_ORDER_LIST = (
    f"WITH page(pk, n) AS (SELECT * FROM unnest(%s::bigint[]) WITH ORDINALITY) {ORDER_PAGE}"
)

_SHIPMENT_LIST = f"SELECT {_shipments_of('%s')}::text"


def _one(sql: str, params: list) -> str | None:
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


def orders_list_json(*, order_ids: list[int]) -> str:
    """The orders, in the given order, as a JSON array of what OrderSerializer renders."""
    return _one(_ORDER_LIST, [order_ids]) or "[]"


def shipments_json(*, order_id: int) -> str:
    """The order's shipments, by id, as a JSON array of what ShipmentSerializer renders."""
    return _one(_SHIPMENT_LIST, [order_id]) or "[]"
