"""Warehouse screens: adjustments, counts, receiving by barcode, dispatch retry; order cancel."""

import pytest
from django.utils import timezone

from inventory.models import StockLevel, StockMovement
from inventory.services.receiving import inbound_create
from logistics.models import DispatchOutbox, Shipment
from orders.models import Order, OrderEvent
from tests.inventory.factories import ProductFactory, StockLevelFactory, WarehouseFactory
from tests.logistics.factories import ShipmentFactory
from tests.orders.factories import OrderFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def inbound():
    warehouse = WarehouseFactory()
    shirt = ProductFactory(sku="SHIRT-M", barcode="5012345678900")
    ProductFactory(sku="SOCKS-L", barcode="5012345678917")
    StockLevelFactory(product=shirt, warehouse=warehouse, on_hand=3)
    return inbound_create(
        warehouse=warehouse, reference="ASN-1001", lines=[("SHIRT-M", 2), ("SOCKS-L", 1)]
    )


@pytest.fixture
def failed_shipment():
    shipment = ShipmentFactory(status=Shipment.Status.DISPATCH_FAILED, last_error="HTTP 422")
    DispatchOutbox.objects.create(
        shipment=shipment, status=DispatchOutbox.Status.REJECTED, next_attempt_at=timezone.now()
    )
    return shipment


def test_warehouse_user_adjusts_stock_with_a_reason(client, warehouse_user):
    level = StockLevelFactory(on_hand=10)
    client.force_login(warehouse_user)
    response = client.post(
        f"/warehouse/stock/{level.pk}/adjust/", {"delta": "-3", "reason": "damaged"}
    )
    assert response.status_code == 303
    level.refresh_from_db()
    assert level.on_hand == 7
    movement = StockMovement.objects.get(type="adjustment")
    assert (movement.on_hand_delta, movement.reason, movement.actor) == (
        -3,
        "damaged",
        warehouse_user,
    )


def test_adjustment_below_reserved_is_refused_with_a_message(client, warehouse_user):
    level = StockLevelFactory(on_hand=5, reserved=4)
    client.force_login(warehouse_user)
    response = client.post(
        f"/warehouse/stock/{level.pk}/adjust/", {"delta": "-3", "reason": "lost"}, follow=True
    )
    assert response.status_code == 200
    level.refresh_from_db()
    assert level.on_hand == 5
    assert any(m.level_tag == "error" for m in response.context["messages"])


def test_warehouse_user_records_a_count(client, warehouse_user):
    level = StockLevelFactory(on_hand=10)
    client.force_login(warehouse_user)
    client.post(f"/warehouse/stock/{level.pk}/count/", {"counted": "8"})
    level.refresh_from_db()
    assert level.on_hand == 8


def test_receiving_by_barcode_puts_stock_away(client, warehouse_user, inbound):
    client.force_login(warehouse_user)
    page = client.get(f"/warehouse/inbound/{inbound.pk}/")
    assert "ASN-1001" in page.content.decode()
    for code in ["5012345678900", "5012345678900", "SOCKS-L"]:
        response = client.post(f"/warehouse/inbound/{inbound.pk}/receive/", {"barcode": code})
        assert response.status_code == 303
    shirt = StockLevel.objects.get(product__sku="SHIRT-M", warehouse=inbound.warehouse)
    assert shirt.on_hand == 5
    assert StockLevel.objects.get(product__sku="SOCKS-L").on_hand == 1
    assert list(inbound.lines.values_list("received_quantity", flat=True).order_by("id")) == [2, 1]


def test_unknown_barcode_is_reported_not_a_crash(client, warehouse_user, inbound):
    client.force_login(warehouse_user)
    response = client.post(
        f"/warehouse/inbound/{inbound.pk}/receive/", {"barcode": "0000000"}, follow=True
    )
    assert response.status_code == 200
    assert "0000000" in response.content.decode()
    assert not StockMovement.objects.filter(type="receipt").exists()


def test_closing_reports_discrepancies(client, warehouse_user, inbound):
    client.force_login(warehouse_user)
    client.post(f"/warehouse/inbound/{inbound.pk}/receive/", {"barcode": "SHIRT-M"})
    response = client.post(f"/warehouse/inbound/{inbound.pk}/close/", follow=True)
    body = response.content.decode()
    assert "discrepancies" in body
    assert "SOCKS-L -1" in body
    inbound.refresh_from_db()
    assert inbound.status == "closed"


def test_warehouse_user_retries_a_failed_dispatch(
    client, warehouse_user, failed_shipment, django_capture_on_commit_callbacks
):
    client.force_login(warehouse_user)
    with django_capture_on_commit_callbacks(execute=False):
        response = client.post(
            f"/warehouse/shipments/{failed_shipment.pk}/retry/", {"next": "/warehouse/dispatch/"}
        )
    assert response.status_code == 303
    assert response["Location"] == "/warehouse/dispatch/"
    assert DispatchOutbox.objects.get(shipment=failed_shipment).status == (
        DispatchOutbox.Status.PENDING
    )
    assert OrderEvent.objects.filter(order=failed_shipment.order, user=warehouse_user).exists()


def test_retry_does_not_redirect_off_site(client, warehouse_user, failed_shipment):
    client.force_login(warehouse_user)
    response = client.post(
        f"/warehouse/shipments/{failed_shipment.pk}/retry/", {"next": "https://evil.example/"}
    )
    assert response["Location"] == "/warehouse/dispatch/"


def test_agent_cancels_an_order_with_confirmation(client, agent):
    order = OrderFactory()
    client.force_login(agent)
    response = client.post(f"/desk/orders/{order.number}/cancel/", {"reason": "customer asked"})
    assert response.status_code == 303
    order.refresh_from_db()
    assert order.status == Order.Status.RECEIVED  # not confirmed: nothing happens
    client.post(
        f"/desk/orders/{order.number}/cancel/", {"reason": "customer asked", "confirm": "on"}
    )
    order.refresh_from_db()
    assert order.status == Order.Status.CANCELLED
    assert order.events.filter(type=OrderEvent.Type.CANCELLED, user=agent).exists()


def test_cancel_after_shipping_is_refused_with_a_message(client, agent):
    order = OrderFactory(status=Order.Status.SHIPPED)
    client.force_login(agent)
    response = client.post(
        f"/desk/orders/{order.number}/cancel/",
        {"reason": "too late", "confirm": "on"},
        follow=True,
    )
    assert response.status_code == 200
    assert "can no longer be cancelled" in response.content.decode()
    order.refresh_from_db()
    assert order.status == Order.Status.SHIPPED


@pytest.mark.parametrize(
    ("role", "method", "url"),
    [
        ("agent", "post", "/warehouse/stock/{level}/count/"),
        ("agent", "get", "/warehouse/inbound/"),
        ("agent", "get", "/warehouse/inbound/{inbound}/"),
        ("agent", "post", "/warehouse/inbound/{inbound}/receive/"),
        ("agent", "post", "/warehouse/inbound/{inbound}/close/"),
        ("agent", "post", "/warehouse/shipments/{shipment}/retry/"),
        ("warehouse_user", "post", "/desk/orders/{order}/cancel/"),
    ],
)
def test_role_is_refused_403(client, request, role, method, url, inbound, failed_shipment):
    level = StockLevelFactory(on_hand=4)
    order = OrderFactory()
    url = url.format(
        level=level.pk, inbound=inbound.pk, shipment=failed_shipment.pk, order=order.number
    )
    movements = StockMovement.objects.count()
    client.force_login(request.getfixturevalue(role))
    data = {"counted": "1", "barcode": "SHIRT-M", "reason": "x", "confirm": "on"}
    response = getattr(client, method)(url, data)
    assert response.status_code == 403
    assert StockMovement.objects.count() == movements
    order.refresh_from_db()
    assert order.status == Order.Status.RECEIVED
    inbound.refresh_from_db()
    assert inbound.status != "closed"
    assert DispatchOutbox.objects.get(shipment=failed_shipment).status == "rejected"
