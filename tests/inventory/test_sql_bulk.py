"""inventory/sql.py's bulk loading (the demo seeder's path) writes what the ORM writes, and
moves the levels by exactly the ledger rows it writes."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.db.models import Sum

from inventory.models import Allocation, StockLevel, StockMovement
from inventory.sql import (
    AllocationRow,
    StockMovementRow,
    allocations_bulk_copy,
    stock_movements_bulk_apply,
)
from tests.core.bulk_twins import assert_same_row, new_row_id, orm_twin
from tests.inventory.factories import ProductFactory, StockLevelFactory, WarehouseFactory
from tests.orders.factories import OrderLineFactory

pytestmark = pytest.mark.django_db

AT = dt.datetime(2026, 3, 4, 5, 6, 7, tzinfo=dt.UTC)


def _movement(level: StockLevel | tuple[int, int], on_hand: int, reserved: int) -> StockMovementRow:
    product_id, warehouse_id = (
        (level.product_id, level.warehouse_id) if isinstance(level, StockLevel) else level
    )
    return StockMovementRow(
        product_id=product_id, warehouse_id=warehouse_id, type=StockMovement.Type.RESERVATION,
        on_hand_delta=on_hand, reserved_delta=reserved, reason="allocation",
        reference="order:CS-000001", order_id=None, actor_id=None, note="", created_at=AT,
    )  # fmt: skip


def test_allocations_bulk_copy_writes_the_row_the_orm_writes():
    line, other_line = OrderLineFactory(), OrderLineFactory()
    warehouse = WarehouseFactory()
    row = AllocationRow(
        created_at=AT, updated_at=AT + dt.timedelta(minutes=5), order_line_id=line.pk,
        warehouse_id=warehouse.pk, quantity=3, status=Allocation.Status.FULFILLED,
    )  # fmt: skip

    def copy() -> None:
        with connection.cursor() as cursor:
            allocations_bulk_copy(cursor, allocations=[row])

    copied_pk = new_row_id(Allocation, copy)
    twin = orm_twin(Allocation, row, order_line_id=other_line.pk)
    copied = assert_same_row(
        Allocation, copied_pk, twin.pk, ignore=["order_line_id", "created_at", "updated_at"]
    )
    assert (copied["created_at"], copied["updated_at"]) == (row.created_at, row.updated_at)


def test_stock_movements_bulk_apply_writes_ledger_rows_the_orm_writes():
    level = StockLevelFactory(on_hand=10)
    row = _movement(level, 0, 2)

    def apply() -> None:
        with connection.cursor() as cursor:
            stock_movements_bulk_apply(cursor, movements=[row], reference="t", replenish_extra=0)

    copied_pk = new_row_id(StockMovement, apply)
    twin = orm_twin(StockMovement, row)
    copied = assert_same_row(StockMovement, copied_pk, twin.pk, ignore=["created_at"])
    assert copied["created_at"] == AT


def test_stock_movements_bulk_apply_moves_each_level_by_its_ledger_rows():
    enough = StockLevelFactory(on_hand=10, reserved=1)
    short = StockLevelFactory(on_hand=1, reserved=1)
    absent = (ProductFactory().pk, WarehouseFactory().pk)
    before = {
        level.pk: (level.on_hand, level.reserved)
        for level in StockLevel.objects.filter(pk__in=[enough.pk, short.pk])
    }
    movements = [
        _movement(enough, 0, 4),
        _movement(enough, -2, -2),
        _movement(short, 0, 5),
        _movement(absent, 3, 0),
    ]
    started = StockMovement.objects.order_by("-pk").values_list("pk", flat=True).first() or 0

    with connection.cursor() as cursor:
        receipts = stock_movements_bulk_apply(
            cursor, movements=movements, reference="seed_demo", replenish_extra=100
        )

    # The ORM's view: each level moved by the sum of the ledger rows written for it.
    written = (
        StockMovement.objects.filter(pk__gt=started)
        .values("product_id", "warehouse_id")
        .annotate(on_hand=Sum("on_hand_delta"), reserved=Sum("reserved_delta"))
    )
    sums = {(w["product_id"], w["warehouse_id"]): (w["on_hand"], w["reserved"]) for w in written}
    for level in StockLevel.objects.filter(
        pk__in=[enough.pk, short.pk]
    ) | StockLevel.objects.filter(product_id=absent[0], warehouse_id=absent[1]):
        start = before.get(level.pk, (0, 0))
        on_hand, reserved = sums[(level.product_id, level.warehouse_id)]
        assert (level.on_hand, level.reserved) == (start[0] + on_hand, start[1] + reserved)
        assert 0 <= level.reserved <= level.on_hand
    # Only the short level needed stock: what it lacked plus the extra, as one receipt.
    assert receipts == 1
    receipt = StockMovement.objects.get(pk__gt=started, type=StockMovement.Type.RECEIPT)
    assert (receipt.product_id, receipt.warehouse_id) == (short.product_id, short.warehouse_id)
    assert receipt.on_hand_delta == (1 + 5) - 1 + 100
    assert receipt.reference == "seed_demo"


def test_stock_movements_bulk_apply_without_movements_changes_nothing():
    with connection.cursor() as cursor:
        assert (
            stock_movements_bulk_apply(cursor, movements=[], reference="t", replenish_extra=1) == 0
        )


def test_warehouse_ship_from_fragment_is_the_warehouse_address():
    import json

    from inventory.sql import WAREHOUSE_SHIP_FROM

    warehouse = WarehouseFactory(line1="Logistiekweg 1", postcode="5048 AB")
    with connection.cursor() as cursor:
        statement = f"SELECT ship_from FROM ({WAREHOUSE_SHIP_FROM}) w WHERE w.id = %s"  # noqa: S608
        cursor.execute(statement, [warehouse.pk])
        (ship_from,) = cursor.fetchone()
    assert (json.loads(ship_from) if isinstance(ship_from, str) else ship_from) == {
        "warehouse": warehouse.code,
        "line1": warehouse.line1,
        "city": warehouse.city,
        "postcode": warehouse.postcode,
        "country": warehouse.country,
    }
