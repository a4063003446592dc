"""The INSERT statements Django would run for a model instance, as SQL to combine.

On hot paths several rows that depend on each other (a shipment, its parcel,
its outbox row) cost one round trip and one ORM save each. These helpers give
the exact statement `obj.save(force_insert=True)` would run (same columns,
same defaults, `auto_now` values set on `obj`), so that a caller can chain them
in one data-modifying `WITH` statement instead of hand-writing column lists
that drift from the models.
"""

from __future__ import annotations

from django.db import connection, models
from django.db.models.sql import InsertQuery


def _fields(obj: models.Model) -> list[models.Field]:
    # As Model._do_insert: no auto primary key unless set, no generated columns.
    meta = obj._meta
    return [
        field
        for field in meta.local_concrete_fields
        if not getattr(field, "generated", False)
        and not (field is meta.auto_field and obj.pk is None)
    ]


def insert_statement(
    obj: models.Model, *, returning: bool = False, suffix: str = ""
) -> tuple[str, list]:
    """`INSERT INTO t (...) VALUES (...) [suffix] [RETURNING pk]` for `obj`, with its params.

    `suffix` goes between VALUES and RETURNING (an `ON CONFLICT ...` clause).
    """
    query = InsertQuery(type(obj))
    query.insert_values(_fields(obj), [obj])
    compiler = query.get_compiler(connection=connection)
    [(sql, params)] = compiler.as_sql()
    if suffix:
        sql = f"{sql} {suffix}"
    if returning:
        pk = obj._meta.pk
        sql = f'{sql} RETURNING "{pk.column}"'
    return sql, list(params)


def insert_select_statement(
    obj: models.Model, *, source: str, columns: dict[str, str], returning: bool = False
) -> tuple[str, list]:
    """`INSERT INTO t (...) SELECT ... FROM source`: `obj`'s row, with `columns` taken
    from `source` (column name -> SQL expression, for instance the id of a row
    inserted earlier in the same `WITH`). The instance's own value of those columns
    is ignored."""
    sql, params = insert_statement(obj)
    head, _, values = sql.partition(" VALUES (")
    placeholders = values.removesuffix(")").split(", ")
    names = [field.column for field in _fields(obj)]
    if len(placeholders) != len(names) or any(p != "%s" for p in placeholders):
        raise ValueError(f"Unexpected INSERT shape for {type(obj).__name__}: {sql}")
    unknown = set(columns) - set(names)
    if unknown:
        raise ValueError(f"{type(obj).__name__} has no column(s) {sorted(unknown)}")
    expressions, kept = [], []
    for name, value in zip(names, params, strict=True):
        if name in columns:
            expressions.append(columns[name])
        else:
            expressions.append("%s")
            kept.append(value)
    sql = f"{head} SELECT {', '.join(expressions)} FROM {source}"  # noqa: S608 - caller's SQL
    if returning:
        sql = f'{sql} RETURNING "{obj._meta.pk.column}"'
    return sql, kept


def inserted(obj: models.Model, pk) -> None:
    """Mark `obj` as saved with primary key `pk`, as `save()` would have left it."""
    obj.pk = pk
    obj._state.adding = False
    obj._state.db = connection.alias
