"""The split policy "ship what is available now, backorder the rest" (Order.ships_partial):
the part in stock ships at once, the backorder worker allocates and ships the rest later,
and the order is shipped / delivered only when every unit is."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import transaction
from django.utils import timezone

from inventory.models import Allocation
from logistics.adapters.base import TrackingStatus
from logistics.models import Shipment
from logistics.services.dispatch import shipment_dispatch
from orders.models import Hold, Order
from orders.services.allocation import backorders_allocate
from orders.services.allocation_policy import AVAILABLE_NOW
from orders.services.holds import order_hold_place, order_hold_release
from orders.services.intake import order_create
from routing.models import RuleSet, SplitPolicy
from routing.tables import routing_tables_invalidate
from tests.inventory.helpers import channel_with_warehouses, product, stock, warehouses
from tests.logistics.helpers import FakeAdapter, sandbox_provider
from tests.returns.helpers import track

pytestmark = pytest.mark.django_db

ADDRESS = {
    "name": "Ada Lovelace",
    "line1": "Damrak 1",
    "city": "Amsterdam",
    "postcode": "1012 LG",
    "country": "NL",
}
CUSTOMER = {"email": "ada@example.com", "name": "Ada Lovelace"}


def _published(split_policy: str) -> None:
    RuleSet.objects.create(
        version=1,
        name="test",
        status=RuleSet.Status.PUBLISHED,
        published_at=timezone.now(),
        default_split_policy=split_policy,
    )
    routing_tables_invalidate()


@pytest.fixture
def world():
    """wh-a holds 5 SHIRT and no MUG; rules ship what is available now."""
    sandbox_provider()
    (wh_a,) = warehouses("wh-a")
    channel = channel_with_warehouses("webshop", [wh_a])
    products = {sku: product(sku) for sku in ("SHIRT", "MUG")}
    stock(products["SHIRT"], wh_a, 5)
    _published(SplitPolicy.AVAILABLE_NOW)
    return channel, products, wh_a


def _order(channel, lines=(("SHIRT", 2), ("MUG", 3))) -> Order:
    with transaction.atomic():
        return order_create(
            channel=channel,
            external_reference="SHOP-1",
            currency="EUR",
            customer=CUSTOMER,
            shipping_address=ADDRESS,
            lines=[
                {"sku": sku, "quantity": quantity, "unit_price": Decimal("10.00")}
                for sku, quantity in lines
            ],
            actor="test",
        )


def _shipments(order) -> list[list[tuple[str, int]]]:
    return [
        sorted((line.order_line.sku, line.quantity) for line in shipment.lines.all())
        for shipment in Shipment.objects.filter(order=order)
        .exclude(status=Shipment.Status.CANCELLED)
        .order_by("pk")
    ]


def _send_and_track(shipment, *status: TrackingStatus) -> None:
    shipment_dispatch(shipment_id=shipment.pk, adapter=FakeAdapter(["ok"]))
    shipment.refresh_from_db()
    at = timezone.now() - dt.timedelta(hours=10)
    for step, value in enumerate(status):
        track(shipment, value, at + dt.timedelta(hours=step))


def test_the_constant_matches_the_routing_choice():
    assert AVAILABLE_NOW == SplitPolicy.AVAILABLE_NOW


def test_available_part_ships_now_and_the_rest_waits(world):
    channel, *_ = world
    order = _order(channel)
    order.refresh_from_db()
    assert order.ships_partial
    assert order.status == Order.Status.IN_FULFILMENT
    assert _shipments(order) == [[("SHIRT", 2)]]


def test_other_split_policies_wait_for_the_whole_order(world):
    channel, *_ = world
    RuleSet.objects.update(default_split_policy=SplitPolicy.FEWEST)
    routing_tables_invalidate()
    order = _order(channel)
    order.refresh_from_db()
    assert not order.ships_partial
    assert order.status == Order.Status.BACKORDERED
    assert _shipments(order) == []


def test_partial_now_second_shipment_later_delivered_when_all_delivered(world):
    channel, products, wh_a = world
    order = _order(channel)
    (first,) = Shipment.objects.filter(order=order)

    _send_and_track(first, TrackingStatus.IN_TRANSIT)
    order.refresh_from_db()
    assert order.status == Order.Status.PARTIALLY_SHIPPED

    # The first parcel arrives before the rest is in stock.
    track(first, TrackingStatus.DELIVERED, timezone.now() - dt.timedelta(hours=5))
    order.refresh_from_db()
    assert order.status == Order.Status.PARTIALLY_DELIVERED  # not delivered: MUG still waits

    # The rest arrives: the backorder worker allocates it and plans a further shipment.
    stock(products["MUG"], wh_a, 10)
    assert backorders_allocate(product_ids=[products["MUG"].pk]) == 1
    order.refresh_from_db()
    assert order.status == Order.Status.PARTIALLY_DELIVERED
    assert _shipments(order) == [[("SHIRT", 2)], [("MUG", 3)]]
    # Nothing left waiting: the worker does not pick the order up again.
    assert backorders_allocate(product_ids=[products["MUG"].pk]) == 0

    second = Shipment.objects.filter(order=order).order_by("pk").last()
    _send_and_track(second, TrackingStatus.IN_TRANSIT, TrackingStatus.DELIVERED)
    order.refresh_from_db()
    assert order.status == Order.Status.DELIVERED
    assert [(line.quantity_shipped, line.quantity_delivered) for line in order.lines.all()] == [
        (2, 2),
        (3, 3),
    ]


def test_the_rest_ships_while_the_first_parcel_is_in_fulfilment(world):
    channel, products, wh_a = world
    order = _order(channel)
    stock(products["MUG"], wh_a, 1)  # not enough: part of the rest
    assert backorders_allocate(product_ids=[products["MUG"].pk]) == 1
    order.refresh_from_db()
    assert order.status == Order.Status.IN_FULFILMENT
    assert _shipments(order) == [[("SHIRT", 2)], [("MUG", 1)]]
    stock(products["MUG"], wh_a, 5)
    backorders_allocate(product_ids=[products["MUG"].pk])
    assert _shipments(order) == [[("SHIRT", 2)], [("MUG", 1)], [("MUG", 2)]]
    active = Allocation.objects.filter(order_line__order=order, status="active")
    assert sum(a.quantity for a in active) == 5
    for shipment in Shipment.objects.filter(order=order).order_by("pk"):
        _send_and_track(shipment, TrackingStatus.IN_TRANSIT)
    order.refresh_from_db()
    assert order.status == Order.Status.SHIPPED


def test_order_not_shipped_while_a_line_still_waits(world):
    channel, *_ = world
    order = _order(channel)
    (first,) = Shipment.objects.filter(order=order)
    _send_and_track(first, TrackingStatus.IN_TRANSIT, TrackingStatus.DELIVERED)
    order.refresh_from_db()
    assert order.status == Order.Status.PARTIALLY_DELIVERED


def test_a_held_order_does_not_get_its_rest_until_released(world):
    channel, products, wh_a = world
    order = _order(channel)
    hold = order_hold_place(order=order, reason=Hold.Reason.MANUAL, actor="test")
    stock(products["MUG"], wh_a, 10)
    assert backorders_allocate(product_ids=[products["MUG"].pk]) == 0
    order_hold_release(hold=hold, actor="test")
    order.refresh_from_db()
    assert order.status == Order.Status.IN_FULFILMENT
    assert _shipments(order) == [[("SHIRT", 2)], [("MUG", 3)]]
