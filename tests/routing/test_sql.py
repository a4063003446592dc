"""routing/sql.py's COPY of what-if rows writes what the ORM writes (STYLE.md rule 18)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection

from routing.models import WhatIfOrder, WhatIfRun
from routing.services.rulesets import ruleset_draft_create
from routing.sql import WhatIfOrderRow, whatif_orders_copy
from tests.core.bulk_twins import assert_same_row, new_row_id, orm_twin

pytestmark = pytest.mark.django_db

DAY = dt.date(2026, 11, 2)


@pytest.mark.parametrize("planned", [True, False], ids=["planned", "no-plan-never-shipped"])
def test_whatif_orders_copy_writes_the_rows_the_orm_writes(planned):
    run = WhatIfRun.objects.create(
        rule_set=ruleset_draft_create(name="sql", actor="test"),
        period_start=DAY,
        period_end=DAY,
    )
    row = WhatIfOrderRow(
        run_id=run.pk, order_id=41, order_number="CS-000041",
        placed_at=dt.datetime(2026, 11, 2, 8, 0, tzinfo=dt.UTC),
        strategy="split" if planned else "none", rule_position=2 if planned else None,
        sites=["alpha", "beta, with comma", 'quote"d'] if planned else [],
        providers=["sandbox", "dhl"] if planned else [], shipments=2 if planned else 0,
        cost=Decimal("8.1250") if planned else None, currency="EUR" if planned else "",
        ship_by=DAY if planned else None,
        promised_delivery_date=DAY + dt.timedelta(days=1) if planned else None,
        deadline=DAY + dt.timedelta(days=2),
        actual_sites=["alpha", "alpha"] if planned else [], actual_shipments=2 if planned else 0,
        actual_cost=Decimal("12.0000") if planned else None,
        actual_currency="EUR" if planned else "",
        actual_delivered_on=DAY + dt.timedelta(days=3) if planned else None,
    )  # fmt: skip

    def write() -> None:
        with connection.cursor() as cursor:
            whatif_orders_copy(cursor, rows=[row])

    copied = new_row_id(WhatIfOrder, write)
    twin = orm_twin(WhatIfOrder, row, order_id=42)

    assert_same_row(WhatIfOrder, copied, twin.pk, ignore=["order_id"])
