"""Small helpers shared by the queue and board selectors."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db.models import (
    QuerySet,
)

COUNT_CAP = 1000


def capped_count(queryset: QuerySet, *, cap: int = COUNT_CAP) -> int:
    """Count at most cap + 1 rows: "1000+" is all a queue needs, and it stays cheap at scale."""
    return queryset.order_by()[: cap + 1].count()


def count_label(count: int, *, cap: int = COUNT_CAP) -> str:
    return f"{cap:,}+" if count > cap else f"{count:,}"


def _ordered_by_status(
    queryset: QuerySet, *, statuses: Sequence[str], order: str, limit: int
) -> list:
    # One index range scan per status on (status, updated_at) instead of one
    # sort over every row whose status is in the list.
    rows: list[Any] = []
    for status in statuses:
        rows.extend(queryset.filter(status=status).order_by(order)[:limit])
    field = order.lstrip("-")
    rows.sort(key=lambda row: getattr(row, field), reverse=order.startswith("-"))
    return rows[:limit]
