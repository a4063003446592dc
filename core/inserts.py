"""The INSERT statements Django would run for model instances, as SQL to combine.

On hot paths several rows that depend on each other (a shipment, its parcel,
its outbox row) cost one round trip and one ORM save each, and Django compiles
every INSERT anew. These helpers give the statement `obj.save(force_insert=True)`
or `bulk_create` would run (same columns, same values, `auto_now` fields set on
the instances) from a column list built once per model, so that a caller can
run it directly or chain several in one data-modifying `WITH`.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from django.db import connection, models


def _column(field: models.Field[Any, Any]) -> str:
    # Every concrete field has a column; the stubs type it optional for the others.
    if field.column is None:
        raise ValueError(f"{field.name} has no column")
    return field.column


@cache
def _plan(
    model: type[models.Model], with_pk: bool
) -> tuple[str, tuple[models.Field[Any, Any], ...]]:
    # The columns of Model._do_insert: no auto primary key unless set, no generated columns.
    meta = model._meta
    fields = tuple(
        field
        for field in meta.local_concrete_fields
        if not getattr(field, "generated", False) and (with_pk or field is not meta.auto_field)
    )
    for field in fields:
        if hasattr(field, "get_placeholder"):  # the compiler would wrap its placeholder
            raise ValueError(f"{model.__name__}.{field.name} needs Django's INSERT compiler")
    quote = connection.ops.quote_name
    columns = ", ".join(quote(_column(field)) for field in fields)
    return f"INSERT INTO {quote(meta.db_table)} ({columns})", fields


def _row(obj: models.Model, fields: tuple[models.Field[Any, Any], ...]) -> list[Any]:
    values: list[Any] = []
    for field in fields:
        value = field.pre_save(obj, True)
        if hasattr(value, "resolve_expression"):
            raise ValueError(f"{field.name}: expressions need Django's INSERT compiler")
        values.append(field.get_db_prep_save(value, connection=connection))
    return values


def _returning(model: type[models.Model]) -> str:
    return f" RETURNING {connection.ops.quote_name(_column(model._meta.pk))}"


def insert_statement(
    *objs: models.Model, returning: bool = False, suffix: str = ""
) -> tuple[str, list[Any]]:
    """`INSERT INTO t (...) VALUES (...), ... [suffix] [RETURNING pk]` for instances of
    one model, with its params; rows come back in the order given.

    `suffix` goes between VALUES and RETURNING (an `ON CONFLICT ...` clause).
    """
    model = type(objs[0])
    head, fields = _plan(model, objs[0].pk is not None)
    row = f"({', '.join(['%s'] * len(fields))})"
    params = [value for obj in objs for value in _row(obj, fields)]
    sql = f"{head} VALUES {', '.join([row] * len(objs))}"
    if suffix:
        sql = f"{sql} {suffix}"
    if returning:
        sql += _returning(model)
    return sql, params


def insert_select_statement(
    obj: models.Model, *, source: str, columns: dict[str, str], returning: bool = False
) -> tuple[str, list[Any]]:
    """`INSERT INTO t (...) SELECT ... FROM source`: `obj`'s row, with `columns` taken
    from `source` (column name -> SQL expression, for instance the id of a row
    inserted earlier in the same `WITH`). The instance's own value of those columns
    is ignored."""
    head, fields = _plan(type(obj), obj.pk is not None)
    unknown = set(columns) - {field.column for field in fields}
    if unknown:
        raise ValueError(f"{type(obj).__name__} has no column(s) {sorted(unknown)}")
    expressions: list[str] = []
    params: list[Any] = []
    for field, value in zip(fields, _row(obj, fields), strict=True):
        if field.column in columns:
            expressions.append(columns[field.column])
        else:
            expressions.append("%s")
            params.append(value)
    sql = f"{head} SELECT {', '.join(expressions)} FROM {source}"  # noqa: S608 - caller's SQL
    if returning:
        sql += _returning(type(obj))
    return sql, params


def inserted(obj: models.Model, pk: Any) -> None:
    """Mark `obj` as saved with primary key `pk`, as `save()` would have left it."""
    obj.pk = pk
    obj._state.adding = False
    obj._state.db = connection.alias


def insert_all(*objs: models.Model) -> None:
    """Insert instances of one model in one statement and set their primary keys
    (`bulk_create` without its per-call compilation; no signals)."""
    if not objs:
        return
    sql, params = insert_statement(*objs, returning=True)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for obj, (pk,) in zip(objs, cursor.fetchall(), strict=True):
            inserted(obj, pk)
