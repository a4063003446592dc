"""Hand-written SQL for the logistics app's own tables (STYLE.md rule 18).

Every statement here names only logistics_* tables and has a test comparing its result with the
ORM equivalent. Other apps compose the fragments they need from here; they never spell
these table names themselves.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Sequence
from typing import NamedTuple

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection
from django.db.backends.utils import CursorWrapper

from core.bulk import copy_tables, sequence_values
from core.inserts import insert_select_statement, insert_statement, inserted
from core.pipeline import prepared_cursor
from core.rows import from_row, select_columns
from core.sql_json import json_array, utc_iso
from inventory import sql as inventory_sql
from inventory.models import Warehouse
from logistics.models import (
    DispatchOutbox,
    InboundWebhook,
    Parcel,
    PickTask,
    Provider,
    ServiceLevel,
    Shipment,
    ShipmentLine,
    TrackingEvent,
)

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
        'ship_by', s.ship_by, 'promised_delivery_date', s.promised_delivery_date,
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


# --- Tracking ingestion (logistics.services.tracking, tracking_rollup) ---------------
def inbound_webhook_insert(*, provider_id: int, webhook_id: str, body: str) -> int | None:
    """Store a raw webhook body as `pending`; None when this provider already sent this id.

    One statement, committed on its own outside a caller's transaction (no BEGIN /
    COMMIT round trips); ON CONFLICT makes concurrent redeliveries safe.
    """
    table = InboundWebhook._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (provider_id, webhook_id, body, status, received_at, "  # noqa: S608
            "attempts, error) VALUES (%s, %s, %s, 'pending', now(), 0, '') "
            "ON CONFLICT (provider_id, webhook_id) DO NOTHING RETURNING id",
            [provider_id, webhook_id, body],
        )
        row = cursor.fetchone()
    return None if row is None else int(row[0])


TRACKING_EVENTS_CHUNK = 500


def tracking_events_insert(*, events: Sequence[TrackingEvent]) -> dict[tuple[int, str], int]:
    """Insert unsaved tracking events, skipping (shipment, dedup key) pairs already stored.

    One statement per TRACKING_EVENTS_CHUNK events. Returns {(shipment id, dedup key):
    new id} for the rows inserted; a pair missing from it was a duplicate.
    """
    ids: dict[tuple[int, str], int] = {}
    table = TrackingEvent._meta.db_table
    with connection.cursor() as cursor:
        for start in range(0, len(events), TRACKING_EVENTS_CHUNK):
            chunk = events[start : start + TRACKING_EVENTS_CHUNK]
            values = ", ".join(["(%s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb)"] * len(chunk))
            cursor.execute(
                f"INSERT INTO {table} (shipment_id, status, provider_status, "  # noqa: S608
                "description, location, occurred_at, received_at, dedup_key, raw) "
                f"VALUES {values} "
                "ON CONFLICT (shipment_id, dedup_key) DO NOTHING "
                "RETURNING id, shipment_id, dedup_key",
                [
                    value
                    for e in chunk
                    for value in (
                        e.shipment_id,
                        e.status,
                        e.provider_status,
                        e.description,
                        e.location,
                        e.occurred_at,
                        e.received_at,
                        e.dedup_key,
                        json.dumps(e.raw, cls=DjangoJSONEncoder),
                    )
                ],
            )
            ids.update({(shipment_id, key): pk for pk, shipment_id, key in cursor.fetchall()})
    return ids


# The shipment fields tracking decides, with their SQL types for the VALUES list.
SHIPMENT_TRACKING_COLUMNS = (
    ("status", "text"),
    ("last_event_at", "timestamptz"),
    ("shipped_at", "timestamptz"),
    ("delivered_at", "timestamptz"),
    ("tracking_number", "text"),
    ("next_poll_at", "timestamptz"),
    ("poll_interval_seconds", "integer"),
    ("late_flagged_at", "timestamptz"),
    ("updated_at", "timestamptz"),
)


def shipments_tracking_update(*, shipments: Sequence[Shipment]) -> None:
    """Write SHIPMENT_TRACKING_COLUMNS of every given shipment in one UPDATE ... FROM (VALUES).

    Rows are written in primary-key order (the lock order).
    """
    if not shipments:
        return
    columns = ", ".join(name for name, _ in SHIPMENT_TRACKING_COLUMNS)
    assignments = ", ".join(
        f"{name} = v.{name}::{kind}" for name, kind in SHIPMENT_TRACKING_COLUMNS
    )
    row = "(" + ", ".join(["%s"] * (len(SHIPMENT_TRACKING_COLUMNS) + 1)) + ")"
    ordered = sorted(shipments, key=lambda s: s.pk)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {Shipment._meta.db_table} AS s SET {assignments} "  # noqa: S608
            f"FROM (VALUES {', '.join([row] * len(ordered))}) AS v(id, {columns}) "
            "WHERE s.id = v.id::bigint",
            [
                value
                for s in ordered
                for value in (s.pk, *(getattr(s, name) for name, _ in SHIPMENT_TRACKING_COLUMNS))
            ],
        )


# --- bulk loading (demo seeder) ---------------------------------------------------------
# One row type per table, its fields named as the table's columns (COPY's column list);
# demo/bulk.py builds them and hands a chunk's worth to shipments_bulk_copy.


class ShipmentRow(NamedTuple):
    id: int
    created_at: dt.datetime
    updated_at: dt.datetime
    order_id: int
    warehouse_id: int
    provider_id: int
    service_level_id: int
    status: str
    idempotency_token: uuid.UUID
    provider_reference: str
    tracking_number: str
    label_url: str
    cost: str | None
    cost_currency: str
    dispatch_attempts: int
    last_error: str
    dispatched_at: dt.datetime | None
    delivered_at: dt.datetime | None
    last_event_at: dt.datetime | None
    shipped_at: dt.datetime | None
    poll_interval_seconds: int
    direction: str
    ship_by: dt.date | None
    promised_delivery_date: dt.date | None


class DispatchOutboxRow(NamedTuple):
    created_at: dt.datetime
    updated_at: dt.datetime
    shipment_id: int
    status: str
    attempts: int
    next_attempt_at: dt.datetime
    last_error: str
    sent_at: dt.datetime | None


class ShipmentLineRow(NamedTuple):
    shipment_id: int
    order_line_id: int
    quantity: int


class ParcelRow(NamedTuple):
    shipment_id: int
    weight_grams: int
    length_mm: int
    width_mm: int
    height_mm: int
    tracking_number: str


class TrackingEventRow(NamedTuple):
    shipment_id: int
    status: str
    provider_status: str
    description: str
    location: str
    occurred_at: dt.datetime
    received_at: dt.datetime
    dedup_key: str
    raw: str  # JSON text


def shipment_ids_draw(cursor: CursorWrapper, *, count: int) -> list[int]:
    """`count` fresh shipment ids."""
    return sequence_values(cursor, model=Shipment, count=count)


def shipments_bulk_copy(
    cursor: CursorWrapper,
    *,
    shipments: Sequence[ShipmentRow],
    outbox: Sequence[DispatchOutboxRow],
    lines: Sequence[ShipmentLineRow],
    parcels: Sequence[ParcelRow],
    tracking_events: Sequence[TrackingEventRow],
) -> None:
    """COPY the rows into logistics_shipment and the tables hanging off it, parents first.

    Raw rows: no model `save()`, no signals; the caller keeps them consistent
    (demo/plans.py).
    """
    copy_tables(
        cursor,
        [
            (Shipment, ShipmentRow._fields, shipments),
            (DispatchOutbox, DispatchOutboxRow._fields, outbox),
            (ShipmentLine, ShipmentLineRow._fields, lines),
            (Parcel, ParcelRow._fields, parcels),
            (TrackingEvent, TrackingEventRow._fields, tracking_events),
        ],
    )


# --- shipments as the LSP sandbox keeps them (demo seeder) ------------------------------
# One row per shipment of a batch, its tracking events as JSON in the sandbox's words:
# columns id, order_id, warehouse_id, provider_reference, token, tracking_number,
# created_at (epoch seconds), events, plan (json), steps, last_status, cost (json text or
# NULL). A fragment for a caller's WITH, with the named parameters ids (bigint[], sorted),
# low and high (the first and last id: an index range scan per table, whatever the
# statistics of freshly bulk-loaded tables say), and consign/sandbox (text[]: how each
# canonical tracking status is called at the sandbox; others are upper-cased).
SHIPMENT_SANDBOX_RECORDS = """
    WITH batch AS (SELECT unnest(%(ids)s::bigint[]) AS id),
    status_map (consign, sandbox) AS (
        SELECT * FROM unnest(%(consign)s::text[], %(sandbox)s::text[])
    ),
    events AS (
        SELECT t.shipment_id,
            json_agg(json_build_object(
                'id', t.dedup_key,
                'status', t.sandbox,
                'occurred_at', to_char(t.occurred_at AT TIME ZONE 'UTC',
                    'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"'),
                'description', t.description,
                'location', t.location
            ) ORDER BY t.occurred_at, t.id) AS events,
            json_agg(t.sandbox ORDER BY t.occurred_at, t.id) AS plan,
            count(*) AS steps,
            (array_agg(t.sandbox ORDER BY t.occurred_at DESC, t.id DESC))[1] AS last_status
        FROM (
            SELECT ev.*, coalesce(m.sandbox, upper(ev.status)) AS sandbox
            FROM logistics_trackingevent ev
            JOIN batch b ON b.id = ev.shipment_id
            LEFT JOIN status_map m ON m.consign = ev.status
            WHERE ev.shipment_id BETWEEN %(low)s AND %(high)s
        ) t
        GROUP BY t.shipment_id
    )
    SELECT s.id, s.order_id, s.warehouse_id, s.provider_reference,
        s.idempotency_token::text AS token, s.tracking_number,
        extract(epoch FROM coalesce(s.dispatched_at, s.created_at))::float8 AS created_at,
        coalesce(e.events, '[]'::json) AS events,
        coalesce(e.plan, '[]'::json) AS plan,
        coalesce(e.steps, 0) AS steps,
        coalesce(e.last_status, 'INFO_RECEIVED') AS last_status,
        CASE WHEN s.cost IS NULL THEN NULL ELSE json_build_object(
            'amount', to_char(s.cost, 'FM999999999990.00'), 'currency', s.cost_currency
        )::text END AS cost
    FROM logistics_shipment s
    JOIN batch b ON b.id = s.id
    LEFT JOIN events e ON e.shipment_id = s.id
    WHERE s.id BETWEEN %(low)s AND %(high)s
"""


# --- Shipment planning (logistics.selectors, logistics.services.shipments) -----------

# Warehouses (inventory's table, from inventory's fragment) with their operating provider.
_WAREHOUSES_WITH_PROVIDERS_SQL = (
    f"SELECT {select_columns(Warehouse, 'w')}, {select_columns(Provider, 'p')} "  # noqa: S608
    f"FROM {inventory_sql.warehouse_from('w')} "
    "LEFT JOIN logistics_provider p ON p.id = w.provider_id "
    "WHERE w.id = ANY(%s)"
)


def warehouses_with_providers(*, ids: Sequence[int]) -> dict[int, Warehouse]:
    """Warehouse id -> warehouse with its provider loaded (the ORM's
    `Warehouse.objects.select_related("provider").in_bulk(ids)`), as one prepared
    statement: planning runs in every order intake."""
    with prepared_cursor() as cursor:
        cursor.execute(_WAREHOUSES_WITH_PROVIDERS_SQL, [list(ids)], prepare=True)
        rows = cursor.fetchall()
    found: dict[int, Warehouse] = {}
    for row in rows:
        warehouse, end = from_row(Warehouse, row)
        warehouse.provider = (
            from_row(Provider, row, end)[0] if warehouse.provider_id is not None else None
        )
        found[warehouse.pk] = warehouse
    return found


def shipment_insert(
    *,
    shipment: Shipment,
    lines: Sequence[ShipmentLine],
    parcel: Parcel,
    outbox: DispatchOutbox | None,
) -> None:
    """Write a new shipment with its lines, parcel and (optional) outbox row in one statement.

    The ORM equivalent is one save() per row; planning runs inside order intake, where
    each was a round trip, and chained in one `WITH` they cost one. Sets the instances'
    primary keys and points the lines, parcel and outbox row at the shipment.
    """
    s_sql, params = insert_statement(shipment, returning=True)
    p_sql, p_params = insert_select_statement(
        parcel, source="s", columns={"shipment_id": "s.id"}, returning=True
    )
    l_sql, l_params = insert_select_statement(
        lines[0],
        source="s, unnest(%s::bigint[], %s::int[]) AS x(order_line_id, quantity)",
        columns={
            "shipment_id": "s.id",
            "order_line_id": "x.order_line_id",
            "quantity": "x.quantity",
        },
    )
    parts = [f"s AS ({s_sql})", f"p AS ({p_sql})", f"l AS ({l_sql} RETURNING id, order_line_id)"]
    params += p_params + l_params
    params += [[line.order_line_id for line in lines], [line.quantity for line in lines]]
    if outbox is not None:
        o_sql, o_params = insert_select_statement(
            outbox, source="s", columns={"shipment_id": "s.id"}, returning=True
        )
        parts.append(f"o AS ({o_sql})")
        params += o_params
    sql = (
        f"WITH {', '.join(parts)} "  # noqa: S608 - statements from core.inserts
        "SELECT s.id, (SELECT id FROM p), "
        "(SELECT json_agg(json_build_array(order_line_id, id)) FROM l), "
        + ("(SELECT id FROM o) " if outbox is not None else "NULL ")
        + "FROM s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        shipment_id, parcel_id, line_ids, outbox_id = cursor.fetchone()
    line_id_of = dict(line_ids)
    pairs: list[tuple[DispatchOutbox | Parcel | Shipment | ShipmentLine | None, int | None]] = [
        (shipment, shipment_id),
        (parcel, parcel_id),
        (outbox, outbox_id),
    ]
    pairs += [(line, line_id_of[line.order_line_id]) for line in lines]
    for obj, pk in pairs:
        if obj is not None:
            inserted(obj, pk)
    # The instances were built before the shipment had a key.
    for related in [parcel, outbox, *lines]:
        if related is not None:
            related.shipment = shipment


_WEBHOOK_SUBSCRIBERS_SQL = (
    "SELECT id, channel_id, url, topics FROM logistics_webhookendpoint "
    "WHERE channel_id = ANY(%s) AND active ORDER BY id"
)


def webhook_subscribers(*, channel_ids: Sequence[int]) -> list[tuple[int, int, str, list[str]]]:
    """(id, channel id, url, topics) of the channels' active webhook endpoints, by id: the
    ORM's `WebhookEndpoint.objects.filter(channel_id__in=ids, active=True).order_by("pk")
    .values_list("pk", "channel_id", "url", "topics")`, as one prepared statement (index
    `webhookendpoint_channel`). Every order intake publishes order.created, mostly to
    channels nobody subscribed: this is all such a publish costs."""
    with prepared_cursor() as cursor:
        cursor.execute(_WEBHOOK_SUBSCRIBERS_SQL, [list(channel_ids)], prepare=True)
        return [(row[0], row[1], row[2], list(row[3])) for row in cursor.fetchall()]


# --- Pick waves (logistics.services.picking.waves_build) -----------------------------

# Columns of a pick task row as waves_build writes it: the rest take their defaults.
PICK_TASK_COLUMNS = (
    "wave_id",
    "shipment_id",
    "shipment_line_id",
    "product_id",
    "bin_id",
    "quantity",
    "sequence",
)


def pick_tasks_write(*, rows: Sequence[Sequence[object]]) -> None:
    """COPY new open pick tasks, each row in PICK_TASK_COLUMNS order.

    A wave build writes thousands at once: COPY skips the ORM's per-field preparation
    (the cost that dominated bench/pack_station.py --part waves).
    """
    if not rows:
        return
    quote = connection.ops.quote_name
    table = quote(PickTask._meta.db_table)
    names = ", ".join(
        quote(c)
        for c in (*PICK_TASK_COLUMNS, "picked_quantity", "status", "bin_scanned", "holds_shipment")
    )
    with connection.cursor() as cursor, cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row((*row, 0, PickTask.Status.OPEN, False, False))


def shipments_into_waves(
    *, shipment_ids: Sequence[int], wave_ids: Sequence[int], status: str
) -> int:
    """Set each shipment's pick wave (pairwise) and `status` in one UPDATE; returns rows."""
    if not shipment_ids:
        return 0
    table = connection.ops.quote_name(Shipment._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} AS s SET pick_wave_id = w.wave_id, status = %s, updated_at = now() "
            "FROM unnest(%s::bigint[], %s::bigint[]) AS w(shipment_id, wave_id) "
            "WHERE s.id = w.shipment_id",
            [status, list(shipment_ids), list(wave_ids)],
        )
        return int(cursor.rowcount)
