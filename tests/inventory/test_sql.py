"""Each statement of inventory/sql.py against its ORM equivalent on a small data set.

A write statement runs in a savepoint that is rolled back, then its ORM equivalent
runs on the same data; both must leave the same rows behind.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection, transaction
from django.db.models import F, Sum
from django.utils import timezone

from inventory.models import Allocation, StockLevel, StockMovement
from inventory.services.stock import StockChange, stock_apply
from inventory.sql import LEDGER_DRIFT_SQL, stock_levels_add_sql, stock_reserve_sql
from tests.inventory.helpers import channel_with_warehouses, order_with_lines, product, stock
from tests.inventory.helpers import warehouses as make_warehouses

pytestmark = pytest.mark.django_db

T = StockMovement.Type


def _state() -> dict[str, Any]:
    return {
        "levels": sorted(
            StockLevel.objects.values_list("product_id", "warehouse_id", "on_hand", "reserved")
        ),
        "movements": sorted(
            StockMovement.objects.values_list(
                "product_id",
                "warehouse_id",
                "type",
                "on_hand_delta",
                "reserved_delta",
                "reference",
                "order_id",
            )
        ),
        "allocations": sorted(
            Allocation.objects.values_list("order_line_id", "warehouse_id", "quantity", "status")
        ),
    }


class _Rollback(Exception):
    pass


def _state_after(change: Callable[[], None]) -> dict[str, Any]:
    """The rows `change` leaves behind; the change itself is rolled back."""
    result: dict[str, Any] = {}
    try:
        with transaction.atomic():
            change()
            result = _state()
            raise _Rollback
    except _Rollback:
        pass
    return result


@pytest.fixture
def world():
    a, b = make_warehouses("wh-a", "wh-b")
    channel = channel_with_warehouses("webshop", [a, b])
    shirt, hat = product("SHIRT"), product("HAT")
    for p in (shirt, hat):
        for w in (a, b):
            stock(p, w, 10)
    order = order_with_lines(channel, [(shirt, 3), (hat, 2)])
    # An existing active allocation of line 1 at wh-a: the statement tops it up.
    line1, line2 = order.lines.order_by("line_number")
    Allocation.objects.create(order_line=line1, warehouse=a, quantity=1)
    StockLevel.objects.filter(product=shirt, warehouse=a).update(reserved=F("reserved") + 1)
    return order, line1, line2, a, b


def test_stock_reserve_sql_matches_the_orm(world):
    order, line1, line2, a, b = world
    wanted = [(line1, a, 2), (line2, a, 1), (line2, b, 1)]
    levels = {(lv.product_id, lv.warehouse_id): lv.pk for lv in StockLevel.objects.order_by("pk")}
    now = timezone.now()

    def by_sql() -> None:
        params: list[Any] = []
        for line, w, q in wanted:
            params += [levels[(line.product_id, w.pk)], line.pk, line.product_id, w.pk, q]
        with connection.cursor() as cursor:
            cursor.execute(
                stock_reserve_sql(rows=len(wanted)),
                [
                    *params,
                    now,
                    T.RESERVATION,
                    "order:x",
                    order.pk,
                    None,
                    now,
                    now,
                    now,
                    Allocation.Status.ACTIVE,
                ],
            )

    def by_orm() -> None:
        for line, w, q in wanted:
            StockLevel.objects.filter(product_id=line.product_id, warehouse=w).update(
                reserved=F("reserved") + q
            )
            StockMovement.objects.create(
                product_id=line.product_id,
                warehouse=w,
                type=T.RESERVATION,
                reserved_delta=q,
                reference="order:x",
                order_id=order.pk,
            )
            active = Allocation.objects.filter(
                order_line=line, warehouse=w, status=Allocation.Status.ACTIVE
            )
            if not active.update(quantity=F("quantity") + q):
                Allocation.objects.create(order_line=line, warehouse=w, quantity=q)

    expected = _state_after(by_orm)
    assert _state_after(by_sql) == expected
    assert ((line1.pk, a.pk, 3, "active")) in expected["allocations"]  # topped up, not doubled


def test_stock_levels_add_sql_matches_f_updates(world):
    deltas = [(lv.pk, i + 1, i % 2) for i, lv in enumerate(StockLevel.objects.order_by("pk"))]
    now = timezone.now()

    def by_sql() -> None:
        with connection.cursor() as cursor:
            cursor.execute(
                stock_levels_add_sql(rows=len(deltas)),
                [now, *[x for row in deltas for x in row]],
            )

    def by_orm() -> None:
        for pk, d_on_hand, d_reserved in deltas:
            StockLevel.objects.filter(pk=pk).update(
                on_hand=F("on_hand") + d_on_hand, reserved=F("reserved") + d_reserved
            )

    assert _state_after(by_sql) == _state_after(by_orm)


def _drift_by_orm() -> list[tuple[str, str, int, int, int, int]]:
    ledger = {
        (row["product__sku"], row["warehouse__code"]): (row["on_hand"], row["reserved"])
        for row in StockMovement.objects.values("product__sku", "warehouse__code").annotate(
            on_hand=Sum("on_hand_delta"), reserved=Sum("reserved_delta")
        )
    }
    levels = {
        (sku, code): (on_hand, reserved)
        for sku, code, on_hand, reserved in StockLevel.objects.values_list(
            "product__sku", "warehouse__code", "on_hand", "reserved"
        )
    }
    out = []
    for key in sorted(ledger.keys() | levels.keys()):
        level = levels.get(key, (0, 0))
        booked = ledger.get(key, (0, 0))
        if level != booked:
            out.append((*key, *level, *booked))
    return out


def test_ledger_drift_sql_matches_the_orm(world):
    order, line1, line2, a, b = world  # the fixture's raw reservation is a drift already
    stock_apply(
        changes=[StockChange(product_id=line2.product_id, warehouse_id=b.pk, on_hand_delta=-4)]
    )
    StockLevel.objects.filter(product_id=line2.product_id, warehouse=a).update(on_hand=99)

    with connection.cursor() as cursor:
        cursor.execute(LEDGER_DRIFT_SQL)
        by_sql = [tuple(row) for row in cursor.fetchall()]

    assert by_sql == _drift_by_orm()
    assert len(by_sql) == 2
