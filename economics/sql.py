"""Hand-written SQL for the economics app's own tables (STYLE.md rule 18): bulk loads.

An invoice of 100,000 lines goes in with one COPY per table and ids drawn from the
sequences in one query each (core/bulk.py); the pricing sweep writes a batch's cost
rows with one upsert and its charge lines with one COPY. Nothing here names another
app's table. tests/economics/test_sql.py compares each with its ORM equivalent.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import NamedTuple

from django.db import connection
from django.db.models import BooleanField, F, Func, Value

from core.bulk import copy_rows, sequence_values
from economics.models import Dispute, InvoiceLine, ShipmentCharge, ShipmentCost


class AnyOf(Func):
    """`column = ANY(%s::<type>[])`: one array parameter however many values (for filter()).

    `column__in=values` sends one parameter per value, and psycopg's parsing of a query
    with thousands of them cost more than the query itself on 2,000-line chunks.
    """

    template = "(%(expressions)s::%(array_type)s[]))"
    arg_joiner = " = ANY("
    output_field = BooleanField()

    def __init__(self, column: str, values: object, *, array_type: str = "bigint") -> None:
        super().__init__(F(column), Value(list(values)), array_type=array_type)  # type: ignore[call-overload]


class InvoiceLineRow(NamedTuple):
    id: int
    invoice_id: int
    line_number: int
    reference: str
    tracking_number: str
    charge_type: str
    description: str
    quantity: int
    amount: object
    service_date: object
    shipment_id: int | None
    inbound_id: int | None
    expected_amount: object
    outcome: str


class DisputeRow(NamedTuple):
    invoice_id: int
    line_id: int | None
    shipment_id: int | None
    kind: str
    expected: object
    invoiced: object
    difference: object
    status: str
    note: str
    decided_by: str
    created_at: object
    updated_at: object


def invoice_line_ids(count: int) -> list[int]:
    with connection.cursor() as cursor:
        return sequence_values(cursor, model=InvoiceLine, count=count)


def invoice_lines_copy(rows: Sequence[InvoiceLineRow]) -> None:
    with connection.cursor() as cursor:
        copy_rows(cursor, model=InvoiceLine, columns=InvoiceLineRow._fields, rows=rows)


def disputes_copy(rows: Sequence[DisputeRow]) -> None:
    with connection.cursor() as cursor:
        copy_rows(cursor, model=Dispute, columns=DisputeRow._fields, rows=rows)


class ShipmentCostRow(NamedTuple):
    shipment_id: int
    stage: str
    card_id: int | None
    currency: str
    total: object
    problems: list[str]


class ShipmentChargeRow(NamedTuple):
    shipment_id: int
    rule_id: int
    charge_type: str
    description: str
    quantity: int
    unit_amount: object
    amount: object


def shipment_costs_upsert(rows: Sequence[ShipmentCostRow], *, priced_at: dt.datetime) -> None:
    """Insert or replace the cost rows (one statement; what bulk_create(update_conflicts) does).

    The upsert waits for a concurrent pricing of the same shipment to commit, then
    overwrites it: the caller writes the charge lines after this, so the last pricing
    of a shipment wins for its lines too. Rows are written in shipment order, the
    same lock order for every writer.
    """
    if not rows:
        return
    rows = sorted(rows, key=lambda row: row.shipment_id)
    table = connection.ops.quote_name(ShipmentCost._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {table} (shipment_id, stage, card_id, currency, total, problems, priced_at)
            SELECT r.shipment_id, r.stage, r.card_id, r.currency, r.total,
                   ARRAY(SELECT jsonb_array_elements_text(r.problems::jsonb)), %s
            FROM unnest(%s::bigint[], %s::text[], %s::bigint[], %s::text[], %s::numeric[],
                        %s::text[])
                 AS r(shipment_id, stage, card_id, currency, total, problems)
            ON CONFLICT (shipment_id) DO UPDATE SET
                stage = EXCLUDED.stage, card_id = EXCLUDED.card_id,
                currency = EXCLUDED.currency, total = EXCLUDED.total,
                problems = EXCLUDED.problems, priced_at = EXCLUDED.priced_at
            """,  # noqa: S608 - the table name is the model's, quoted; values are parameters
            [
                priced_at,
                [row.shipment_id for row in rows],
                [row.stage for row in rows],
                [row.card_id for row in rows],
                [row.currency for row in rows],
                [row.total for row in rows],
                [json.dumps(row.problems) for row in rows],
            ],
        )


def shipment_charges_replace(
    shipment_ids: Sequence[int], rows: Sequence[ShipmentChargeRow]
) -> None:
    """Delete the shipments' charge lines and COPY `rows` in their place."""
    if not shipment_ids:
        return
    ShipmentCharge.objects.filter(shipment_id__in=shipment_ids).delete()
    if rows:
        with connection.cursor() as cursor:
            copy_rows(cursor, model=ShipmentCharge, columns=ShipmentChargeRow._fields, rows=rows)
