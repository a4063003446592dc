"""Model instances from whole rows read by hand-written statements on hot paths.

Where an ORM query cost more to compile than to run (order intake reads its
products, service level and warehouses on every request), a prepared statement
selects the same columns and these helpers turn each row back into the
instances the ORM would have made.
"""

from __future__ import annotations

from django.db import connection, models


def select_columns(model: type[models.Model], alias: str) -> str:
    """`alias.col1, alias.col2, ...`: every concrete column of `model`, in field order."""
    return ", ".join(f"{alias}.{field.column}" for field in model._meta.concrete_fields)


def from_row(model: type[models.Model], row, start: int = 0) -> tuple[models.Model, int]:
    """The instance in `row` from `start` (columns as `select_columns`), and where it ends."""
    fields = model._meta.concrete_fields
    end = start + len(fields)
    names = [field.attname for field in fields]
    return model.from_db(connection.alias, names, row[start:end]), end
