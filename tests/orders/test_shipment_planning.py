"""shipments_plan_for_order: one shipment + outbox row per warehouse, in the same transaction."""

import pytest

from logistics.models import DispatchOutbox, Shipment
from orders.models import Order, OrderEvent
from orders.services.shipment_planning import shipments_plan_for_order
from tests.inventory.factories import WarehouseFactory
from tests.logistics.helpers import allocated_order, outbox_site, sandbox_provider

pytestmark = pytest.mark.django_db


@pytest.fixture
def provider():
    return sandbox_provider()


def test_one_shipment_with_lines_and_outbox_per_warehouse(
    provider, django_capture_on_commit_callbacks
):
    wh_a, wh_b = outbox_site(), outbox_site()
    order = allocated_order(warehouses=[wh_a, wh_b, wh_a], quantities=[1, 2, 3])
    with django_capture_on_commit_callbacks() as callbacks:
        shipments = shipments_plan_for_order(order=order, actor="test")
    assert len(shipments) == 2
    by_wh = {s.warehouse_id: s for s in Shipment.objects.filter(order=order)}
    assert sorted(line.quantity for line in by_wh[wh_a.pk].lines.all()) == [1, 3]
    assert [line.quantity for line in by_wh[wh_b.pk].lines.all()] == [2]
    assert DispatchOutbox.objects.filter(shipment__order=order, status="pending").count() == 2
    assert len(callbacks) == 2  # one dispatch task per shipment, only after commit


def test_order_moves_to_in_fulfilment_with_events(provider):
    order = allocated_order()
    shipments_plan_for_order(order=order, actor="test")
    order.refresh_from_db()
    assert order.status == Order.Status.IN_FULFILMENT
    types = list(order.events.values_list("type", flat=True))
    assert OrderEvent.Type.SHIPMENT_CREATED in types
    assert OrderEvent.Type.STATUS_CHANGED in types


def test_planning_twice_creates_nothing_new(provider):
    order = allocated_order()
    shipments_plan_for_order(order=order)
    assert shipments_plan_for_order(order=order) == []
    assert Shipment.objects.filter(order=order).count() == 1


def test_no_provider_leaves_the_order_unplanned(settings):
    settings.LOGISTICS_DEFAULT_PROVIDER = "missing"
    order = allocated_order(warehouses=[WarehouseFactory()])  # an own site
    assert shipments_plan_for_order(order=order) == []
    order.refresh_from_db()
    assert order.status == Order.Status.ALLOCATED


def test_lsp_operated_warehouse_ships_with_its_own_provider(provider):
    other = sandbox_provider(code="other-3pl")
    site = WarehouseFactory(kind="lsp", provider=other)
    order = allocated_order(warehouses=[site])
    (shipment,) = shipments_plan_for_order(order=order)
    assert shipment.provider == other


def test_own_site_shipment_waits_for_picking_without_an_outbox_row(provider):
    order = allocated_order(warehouses=[WarehouseFactory(kind="own")])
    (shipment,) = shipments_plan_for_order(order=order)
    assert shipment.status == Shipment.Status.PENDING
    assert not DispatchOutbox.objects.filter(shipment=shipment).exists()


def test_received_order_is_not_planned(provider):
    order = allocated_order()
    Order.objects.filter(pk=order.pk).update(status=Order.Status.RECEIVED)
    assert shipments_plan_for_order(order=order) == []


def test_parcel_weight_is_the_sum_of_the_lines(provider):
    order = allocated_order(quantities=[2, 3])
    (shipment,) = shipments_plan_for_order(order=order)
    assert shipment.parcels.get().weight_grams == 500 * 5


def test_backordered_order_waits_until_fully_allocated(provider):
    order = allocated_order()
    Order.objects.filter(pk=order.pk).update(status=Order.Status.BACKORDERED)
    assert shipments_plan_for_order(order=order) == []
