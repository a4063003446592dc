"""Allocation policy: complete from one warehouse, else fewest, else partial + backorder."""

from decimal import Decimal

import pytest
from django.core.management import call_command

from core.errors import Conflict
from inventory.models import Allocation, StockLevel, StockMovement
from orders.models import Hold, Order, OrderEvent
from orders.services.allocation import order_allocate, order_deallocate
from orders.transitions import order_transition
from tests.inventory.helpers import (
    channel_with_warehouses,
    order_with_lines,
    product,
    stock,
    warehouses,
)

pytestmark = pytest.mark.django_db

S = Order.Status


def _allocated(order) -> dict[tuple[str, str], int]:
    return {
        (a.order_line.sku, a.warehouse.code): a.quantity
        for a in Allocation.objects.filter(
            order_line__order=order, status=Allocation.Status.ACTIVE
        ).select_related("order_line", "warehouse")
    }


@pytest.fixture
def world():
    a, b, c = warehouses("wh-a", "wh-b", "wh-c")
    channel = channel_with_warehouses("webshop", [a, b, c])
    return channel, a, b, c


def test_ships_complete_from_first_priority_warehouse_that_can(world):
    channel, a, b, c = world
    shirt, hat = product("SHIRT"), product("HAT")
    stock(shirt, a, 5)  # a lacks hats
    stock(shirt, b, 5)
    stock(hat, b, 5)
    stock(hat, c, 5)
    order = order_with_lines(channel, [(shirt, 2), (hat, 1)])

    order_allocate(order=order)

    assert order.status == S.ALLOCATED
    assert _allocated(order) == {("SHIRT", "wh-b"): 2, ("HAT", "wh-b"): 1}
    event = order.events.get(type=OrderEvent.Type.ALLOCATED)
    assert event.parameters["strategy"] == "single"
    assert "wh-b can ship the whole order" in event.parameters["reason"]
    assert "wh-a" in event.parameters["reason"]


def test_splits_across_fewest_warehouses(world):
    channel, a, b, c = world
    shirt, hat, sock = product("SHIRT"), product("HAT"), product("SOCK")
    stock(shirt, a, 1)
    stock(sock, b, 1)
    stock(shirt, c, 1)
    stock(hat, c, 1)  # only {b, c} covers all three; no single warehouse does
    order = order_with_lines(channel, [(shirt, 1), (hat, 1), (sock, 1)])

    order_allocate(order=order)

    assert order.status == S.ALLOCATED
    allocated = _allocated(order)
    assert {wh for _, wh in allocated} == {"wh-b", "wh-c"}
    assert sum(allocated.values()) == 3
    event = order.events.get(type=OrderEvent.Type.ALLOCATED)
    assert event.parameters["strategy"] == "split"
    assert "the fewest sites (2)" in event.parameters["reason"]


def test_allocates_what_exists_and_backorders_the_rest(world):
    channel, a, b, _ = world
    shirt = product("SHIRT")
    stock(shirt, a, 2)
    stock(shirt, b, 1)
    order = order_with_lines(channel, [(shirt, 5)])

    order_allocate(order=order)

    assert order.status == S.BACKORDERED
    assert _allocated(order) == {("SHIRT", "wh-a"): 2, ("SHIRT", "wh-b"): 1}
    backordered = order.events.get(type=OrderEvent.Type.BACKORDERED)
    assert backordered.parameters["lines"] == [
        {"line": 1, "sku": "SHIRT", "ordered": 5, "allocated": 3, "backordered": 2}
    ]
    assert StockLevel.objects.get(product=shirt, warehouse=a).reserved == 2


def test_no_stock_at_all_backorders_fully(world):
    channel, *_ = world
    order = order_with_lines(channel, [(product("GHOST"), 1)])

    order_allocate(order=order)

    assert order.status == S.BACKORDERED
    assert not _allocated(order)


def test_warehouse_outside_channel_policy_is_never_used(world):
    channel, *_ = world
    (other,) = warehouses("wh-other")
    shirt = product("SHIRT")
    stock(shirt, other, 10)
    order = order_with_lines(channel, [(shirt, 1)])

    order_allocate(order=order)

    assert order.status == S.BACKORDERED


def test_order_over_channel_value_limit_goes_on_hold(world):
    channel, a, *_ = world
    channel.order_value_limit = Decimal("10")
    channel.save()
    shirt = product("SHIRT")
    stock(shirt, a, 5)
    order = order_with_lines(channel, [(shirt, 1)])  # 19.95 > 10

    order_allocate(order=order)

    assert order.status == S.ON_HOLD
    assert Hold.objects.get(order=order).reason == Hold.Reason.VALUE_OVER_LIMIT
    assert not _allocated(order)
    assert StockLevel.objects.get(product=shirt, warehouse=a).reserved == 0


def test_address_failing_validation_goes_on_hold(world):
    channel, a, *_ = world
    shirt = product("SHIRT")
    stock(shirt, a, 5)
    order = order_with_lines(channel, [(shirt, 1)], shipping_postcode="", shipping_country="NL")

    order_allocate(order=order)

    assert order.status == S.ON_HOLD
    hold = Hold.objects.get(order=order)
    assert hold.reason == Hold.Reason.ADDRESS_INVALID
    assert "postcode is required for NL" in hold.note


def test_backordered_order_is_topped_up_when_stock_arrives(world):
    channel, a, *_ = world
    shirt = product("SHIRT")
    stock(shirt, a, 1)
    order = order_with_lines(channel, [(shirt, 3)])
    order_allocate(order=order)
    stock(shirt, a, 5)

    order_allocate(order=order)

    assert order.status == S.ALLOCATED
    assert _allocated(order) == {("SHIRT", "wh-a"): 3}


def test_deallocate_releases_reservations_and_records_event(world):
    channel, a, *_ = world
    shirt = product("SHIRT")
    stock(shirt, a, 5)
    order = order_with_lines(channel, [(shirt, 2)])
    order_allocate(order=order)

    released = order_deallocate(order=order, reason="Customer cancelled")

    assert [r.quantity for r in released] == [2]
    assert StockLevel.objects.get(product=shirt, warehouse=a).reserved == 0
    assert not _allocated(order)
    event = order.events.get(type=OrderEvent.Type.DEALLOCATED)
    assert event.parameters["reason"] == "Customer cancelled"
    assert StockMovement.objects.filter(type="release", order=order).count() == 1


def test_allocating_a_cancelled_order_is_refused(world):
    channel, *_ = world
    order = order_with_lines(channel, [(product("SHIRT"), 1)])
    order_transition(order=order, to=S.CANCELLED)

    with pytest.raises(Conflict, match="cancelled"):
        order_allocate(order=order)


def test_failure_rolls_back_the_whole_orders_allocation(world, monkeypatch):
    channel, a, *_ = world
    shirt, hat = product("SHIRT"), product("HAT")
    stock(shirt, a, 5)
    stock(hat, a, 5)
    order = order_with_lines(channel, [(shirt, 1), (hat, 1)])

    def boom(**kwargs):
        raise RuntimeError("event store down")

    monkeypatch.setattr("orders.events.stock_allocated_event", boom)
    with pytest.raises(RuntimeError):
        order_allocate(order=order)

    assert StockLevel.objects.filter(reserved__gt=0).count() == 0
    assert not Allocation.objects.exists()
    assert not StockMovement.objects.filter(type="reservation").exists()
    order.refresh_from_db()
    assert order.status == S.RECEIVED


def test_ledger_is_clean_after_allocations(world):
    channel, a, b, _ = world
    shirt = product("SHIRT")
    stock(shirt, a, 2)
    stock(shirt, b, 2)
    for _ in range(3):
        order_allocate(order=order_with_lines(channel, [(shirt, 2)]))

    call_command("verify_stock_ledger")
