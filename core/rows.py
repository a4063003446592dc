"""Model instances from whole rows read by hand-written statements on hot paths.

Where an ORM query cost more to compile than to run (order intake reads its
products, service level and warehouses on every request), a prepared statement
selects the same columns and these helpers turn each row back into the
instances the ORM would have made.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any, TypeVar

from django.db import connection, models

M = TypeVar("M", bound=models.Model)


# Cached per model: from_row runs for every row intake reads, and the answer depends only
# on the model's fields (a field either has a from_db_value converter or not).
@cache
def _row_fields(model: type[models.Model]) -> tuple[models.Field[Any, Any], ...]:
    """The concrete fields read by hand: all but those whose value the ORM converts after
    reading (an encrypted secret, decrypted by `from_db_value`). A raw row would hold
    them unconverted, so they are left deferred: the ORM loads them if anyone asks."""
    return tuple(
        field for field in model._meta.concrete_fields if not field.get_db_converters(connection)
    )


@cache
def _row_names(model: type[models.Model]) -> tuple[str, ...]:
    return tuple(field.attname for field in _row_fields(model))


def select_columns(model: type[models.Model], alias: str) -> str:
    """`alias.col1, alias.col2, ...`: the concrete columns of `model` a row is read with, in
    field order (see `_row_fields`)."""
    return ", ".join(f"{alias}.{field.column}" for field in _row_fields(model))


def from_row(model: type[M], row: Sequence[Any], start: int = 0) -> tuple[M, int]:
    """The instance in `row` from `start` (columns as `select_columns`), and where it ends."""
    names = _row_names(model)
    end = start + len(names)
    return model.from_db(connection.alias, names, row[start:end]), end
