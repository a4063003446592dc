"""Hand-written SQL for the economics app's own tables (STYLE.md rule 18): bulk loads.

An invoice of 100,000 lines goes in with one COPY per table and ids drawn from the
sequences in one query each (core/bulk.py); nothing here names another app's table.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from django.db import connection

from core.bulk import copy_rows, sequence_values
from economics.models import Dispute, InvoiceLine


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
