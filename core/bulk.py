"""Bulk loading plumbing: Postgres COPY of named rows, ids drawn from a table's sequence.

Each app's `sql.py` declares one row type per table it bulk-loads (a NamedTuple whose
field names are that table's columns) and calls these helpers with its own model, so
the statement names only the owning app's table. The demo seeder (`demo/bulk.py`) is
the caller: a million orders go in with one COPY per table and chunk.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from django.db import connection, models
from django.db.backends.utils import CursorWrapper


def copy_rows(
    cursor: CursorWrapper,
    *,
    model: type[models.Model],
    columns: Sequence[str],
    rows: Iterable[Sequence[object]],
) -> None:
    """`COPY <model's table> (columns) FROM STDIN` with `rows`, each in `columns` order."""
    quote = connection.ops.quote_name
    names = ", ".join(quote(column) for column in columns)
    statement = f"COPY {quote(model._meta.db_table)} ({names}) FROM STDIN"
    with cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row(row)


def copy_tables(
    cursor: CursorWrapper,
    tables: Iterable[tuple[type[models.Model], Sequence[str], Sequence[Sequence[object]]]],
) -> None:
    """`copy_rows` for each (model, columns, rows) in order (parents first), skipping empties."""
    for model, columns, rows in tables:
        if rows:
            copy_rows(cursor, model=model, columns=columns, rows=rows)


def sequence_values(cursor: CursorWrapper, *, model: type[models.Model], count: int) -> list[int]:
    """`count` fresh primary keys from the sequence behind `model`'s id column, in one query."""
    if not count:
        return []
    cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [model._meta.db_table])
    (sequence,) = cursor.fetchone()
    cursor.execute("SELECT nextval(%s) FROM generate_series(1, %s)", [sequence, count])
    return [row[0] for row in cursor.fetchall()]
