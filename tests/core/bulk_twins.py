"""Comparing a bulk-loaded (COPY) row with the row the ORM writes from the same values.

Each app's `sql.py` bulk loader is tested this way (STYLE.md rule 18): one row goes in
through the loader, its twin through `bulk_create`, and every column but the ones that
must differ (primary key, unique values, `auto_now` timestamps the ORM sets itself)
has to come back equal.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

from django.db import models


def orm_twin(model: type[models.Model], row: NamedTuple, **changes: Any) -> models.Model:
    """`row` written through the ORM (`bulk_create`), with `changes` (column -> value)."""
    values = {**row._asdict(), **changes}
    values.pop("id", None)
    for field in model._meta.concrete_fields:
        if isinstance(field, models.JSONField) and isinstance(values.get(field.attname), str):
            values[field.attname] = json.loads(values[field.attname])
    (obj,) = model.objects.bulk_create([model(**values)])
    return obj


def new_row_id(model: type[models.Model], write: Callable[[], None]) -> int:
    """The id of the one row `write` adds to `model`'s table."""
    before = set(model.objects.values_list("pk", flat=True))
    write()
    (added,) = set(model.objects.values_list("pk", flat=True)) - before
    return added


def assert_same_row(
    model: type[models.Model], copied_pk: int, orm_pk: int, *, ignore: Iterable[str] = ()
) -> dict[str, Any]:
    """Every column of the two rows equal but `ignore` (and the primary key); returns the
    copied row's values."""
    skip = {"id", *ignore}
    copied = model.objects.filter(pk=copied_pk).values().get()
    twin = model.objects.filter(pk=orm_pk).values().get()
    differing = {
        key: (copied[key], twin[key])
        for key in copied
        if key not in skip and copied[key] != twin[key]
    }
    assert not differing, f"{model.__name__}: COPY and ORM rows differ in {differing}"
    return copied
