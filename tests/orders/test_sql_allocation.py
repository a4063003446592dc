"""The allocation statements of orders/sql.py against their ORM equivalents.

ALLOCATION_INPUTS_SQL composes inventory/sql.py's fragments (what a line already took,
the active warehouse join, the locked levels); each part of its result is compared
with the ORM query that means the same.
"""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.db.models import F, Q, Sum
from django.db.models.functions import Coalesce

from inventory.models import Allocation, StockLevel
from orders.models import Channel, ChannelWarehouse, Hold, Order, OrderLine
from orders.sql import ALLOCATION_INPUTS_PARAMS, ALLOCATION_INPUTS_SQL, ORDER_LOCK_SQL
from tests.inventory.helpers import channel_with_warehouses, order_with_lines, product, stock
from tests.inventory.helpers import warehouses as make_warehouses

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    a, b, closed, other = make_warehouses("wh-a", "wh-b", "wh-closed", "wh-other")
    closed.is_active = False
    closed.save()
    channel = channel_with_warehouses("webshop", [b, a, closed])
    shirt, hat, sock = product("SHIRT"), product("HAT"), product("SOCK")
    for p in (shirt, hat, sock):
        for w in (a, b, closed, other):
            stock(p, w, 5)
    order = order_with_lines(channel, [(shirt, 3), (hat, 2), (sock, 1)])
    shirt_line, hat_line, sock_line = order.lines.order_by("line_number")
    # The sock line is covered (fulfilled); the shirt line half (active); released counts not.
    Allocation.objects.create(
        order_line=sock_line, warehouse=a, quantity=1, status=Allocation.Status.FULFILLED
    )
    Allocation.objects.create(order_line=shirt_line, warehouse=a, quantity=1)
    Allocation.objects.create(
        order_line=hat_line, warehouse=b, quantity=2, status=Allocation.Status.RELEASED
    )
    Hold.objects.create(order=order, reason=Hold.Reason.MANUAL)
    return order


def _inputs(order: Order) -> tuple:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(ALLOCATION_INPUTS_SQL, {**ALLOCATION_INPUTS_PARAMS, "order": order.pk})
        return cursor.fetchone()


def test_order_lock_sql_reads_the_orders_columns(world):
    columns = [f.attname for f in Order._meta.concrete_fields]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(ORDER_LOCK_SQL, [world.pk])
        row = cursor.fetchone()
    assert row == Order.objects.values_list(*columns).get(pk=world.pk)


def test_allocation_inputs_channel_and_hold_match_the_orm(world):
    row = _inputs(world)
    count = len(Channel._meta.concrete_fields)
    columns = [f.attname for f in Channel._meta.concrete_fields]
    assert tuple(row[:count]) == Channel.objects.values_list(*columns).get(pk=world.channel_id)
    assert row[count] == Hold.objects.filter(order=world, released_at__isnull=True).exists()


def test_allocation_inputs_lines_match_the_orm(world):
    lines = _inputs(world)[len(Channel._meta.concrete_fields) + 1]
    taken = Q(allocations__status__in=[Allocation.Status.ACTIVE, Allocation.Status.FULFILLED])
    expected = [
        list(values)
        for values in OrderLine.objects.filter(order=world)
        .annotate(
            taken=Coalesce(Sum("allocations__quantity", filter=taken), 0),
            expected=F("quantity") - F("quantity_cancelled"),
        )
        .order_by("line_number")
        .values_list(
            "id",
            "line_number",
            "product_id",
            "sku",
            "expected",
            "taken",
            "product__weight_grams",
            "product__tags",
        )
    ]
    assert lines == expected
    assert [line[5] for line in lines] == [1, 0, 1]


def test_allocation_inputs_leave_out_cancelled_units(world):
    # A line removed by an edit (or an unshipped rest cancelled) is not allocated again.
    world.lines.filter(line_number=2).update(quantity_cancelled=2)
    lines = _inputs(world)[len(Channel._meta.concrete_fields) + 1]
    assert [(line[3], line[4]) for line in lines] == [("SHIRT", 3), ("HAT", 0), ("SOCK", 1)]
    levels = _inputs(world)[len(Channel._meta.concrete_fields) + 3]
    assert {level[1] for level in levels} == {world.lines.get(line_number=1).product_id}


def test_allocation_inputs_rules_match_the_orm(world):
    rules = _inputs(world)[len(Channel._meta.concrete_fields) + 2]
    expected = [
        list(values)
        for values in ChannelWarehouse.objects.filter(
            channel_id=world.channel_id, warehouse__is_active=True
        )
        .order_by("priority", "warehouse_id")
        .values_list("warehouse_id", "warehouse__code")
    ]
    assert rules == expected
    assert [code for _, code in rules] == ["wh-b", "wh-a"]


def test_allocation_inputs_levels_match_the_orm(world):
    levels = _inputs(world)[len(Channel._meta.concrete_fields) + 3]
    missing = [line.product_id for line in world.lines.all() if line.sku != "SOCK"]
    eligible = ChannelWarehouse.objects.filter(
        channel_id=world.channel_id, warehouse__is_active=True
    ).values("warehouse_id")
    expected = [
        list(values)
        for values in StockLevel.objects.filter(product_id__in=missing, warehouse_id__in=eligible)
        .order_by("pk")
        .values_list(
            "id", "product_id", "warehouse_id", "on_hand", "reserved", "low_stock_threshold"
        )
    ]
    assert sorted(levels) == expected
    assert len(levels) == 4  # shirt and hat at wh-a and wh-b; not the sock, closed or other site
