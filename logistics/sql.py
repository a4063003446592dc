"""Hand-written SQL for the logistics app's own tables (STYLE.md rule 18).

Every statement here names only logistics_* tables and has a test comparing its result with the
ORM equivalent. Other apps compose the fragments they need from here; they never spell
these table names themselves.
"""

from __future__ import annotations

from core.rows import select_columns
from core.sql_json import json_array, utc_iso
from inventory import sql as inventory_sql
from logistics.models import Provider, ServiceLevel

# --- Partner API documents (composed by orders/sql.py) -------------------------------


def service_level_label(ref: str) -> str:
    """`provider:code` of the service level whose id is the SQL `ref`, or null."""
    return f"""(
        SELECT lp.code || ':' || lvl.code FROM logistics_servicelevel lvl
        JOIN logistics_provider lp ON lp.id = lvl.provider_id WHERE lvl.id = {ref})"""


_PARCELS = json_array(
    """
    SELECT json_agg(json_build_object(
        'tracking_number', p.tracking_number, 'weight_grams', p.weight_grams) ORDER BY p.id)
    FROM logistics_parcel p WHERE p.shipment_id = s.id
    """
)

_TRACKING = json_array(
    f"""
    SELECT json_agg(json_build_object(
        'status', t.status, 'provider_status', t.provider_status,
        'description', t.description, 'location', t.location,
        'occurred_at', {utc_iso("t.occurred_at")}) ORDER BY t.occurred_at, t.id)
    FROM logistics_trackingevent t WHERE t.shipment_id = s.id
    """
)


def shipments_json_of_order(order_id: str, *, line_join: str, line_fields: str) -> str:
    """A JSON array (never null) of the order's shipments by id, as ShipmentSerializer
    renders them; `order_id` is SQL for the order's id.

    A shipment line names its order line, which is the orders app's table: the caller
    passes `line_join` (joining the order line `ol` on `sl.order_line_id`) and
    `line_fields` (the `json_build_object` pairs taken from `ol`).
    """
    lines = json_array(
        f"""
        SELECT json_agg(json_build_object({line_fields}, 'quantity', sl.quantity)
            ORDER BY sl.id)
        FROM logistics_shipmentline sl {line_join}
        WHERE sl.shipment_id = s.id
        """
    )
    shipment = f"""
    json_build_object(
        'id', s.id, 'status', s.status, 'direction', s.direction,
        'provider', sp.code, 'warehouse', sw.code,
        'service_level', {service_level_label("s.service_level_id")},
        'tracking_number', s.tracking_number,
        'tracking_url', CASE WHEN sp.tracking_url_template = '' OR s.tracking_number = ''
            THEN '' ELSE replace(sp.tracking_url_template, '{{tracking_number}}', s.tracking_number)
            END,
        'dispatched_at', {utc_iso("s.dispatched_at")},
        'delivered_at', {utc_iso("s.delivered_at")},
        'lines', {lines},
        'parcels', {_PARCELS},
        'tracking', {_TRACKING}
    )
    """
    return json_array(
        f"""
        SELECT json_agg({shipment} ORDER BY s.id)
        FROM logistics_shipment s
        JOIN logistics_provider sp ON sp.id = s.provider_id
        {inventory_sql.warehouse_join("sw", on="s.warehouse_id")}
        WHERE s.order_id = {order_id}
        """
    )


# --- Order intake (run by orders.services.intake in its pipelined batch) -----------------
# An active service level by code (optionally of one provider), with its provider; at
# most two rows, so that an ambiguous code is told from a unique one.
SERVICE_LEVEL_BY_CODE_SQL = (
    f"SELECT {select_columns(ServiceLevel, 'l')}, {select_columns(Provider, 'p')} "
    "FROM logistics_servicelevel l JOIN logistics_provider p ON p.id = l.provider_id "
    "WHERE l.code = %s AND l.is_active AND p.is_active AND (%s = '' OR p.code = %s) LIMIT 2"
)
