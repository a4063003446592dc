"""Form fields whose bounds are those of the database column they end up in.

A number the column cannot hold ("integer out of range") fails the UPDATE with a
DataError, a 500; bounded here, it is a form error next to the field and the user
keeps what they typed.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.db import models

from core.models import column_range


def column_integer_field(
    model: type[models.Model],
    field_name: str,
    *,
    min_value: int | None = None,
    max_value: int | None = None,
    **kwargs: Any,
) -> forms.IntegerField:
    """forms.IntegerField bounded by the column, and by `min_value`/`max_value` within it."""
    low, high = column_range(model, field_name)
    field = forms.IntegerField(
        min_value=low if min_value is None else max(low, min_value),
        max_value=high if max_value is None else min(high, max_value),
        **kwargs,
    )
    # The column it is bounded by, for the check that every form number fits its column.
    field.column_range = (low, high)  # type: ignore[attr-defined]
    return field
