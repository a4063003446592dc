"""Hand-written SQL for the routing app's own tables (STYLE.md rule 18).

What-if runs write their per-order results with COPY (`whatif_orders_copy`), one
statement per chunk of orders, instead of an INSERT per row.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from typing import NamedTuple

from django.db.backends.utils import CursorWrapper

from core.bulk import copy_rows
from routing.models import WhatIfOrder


class WhatIfOrderRow(NamedTuple):
    """One row of routing_whatiforder; field names are its columns (COPY's column list)."""

    run_id: int
    order_id: int
    order_number: str
    placed_at: dt.datetime
    strategy: str
    rule_position: int | None
    sites: list[str]
    providers: list[str]
    shipments: int
    cost: Decimal | None
    currency: str
    ship_by: dt.date | None
    promised_delivery_date: dt.date | None
    deadline: dt.date | None
    actual_sites: list[str]
    actual_shipments: int
    actual_cost: Decimal | None
    actual_currency: str
    actual_delivered_on: dt.date | None


def whatif_orders_copy(cursor: CursorWrapper, *, rows: Sequence[WhatIfOrderRow]) -> None:
    """COPY `rows` into routing_whatiforder (one statement)."""
    if rows:
        copy_rows(cursor, model=WhatIfOrder, columns=WhatIfOrderRow._fields, rows=rows)
