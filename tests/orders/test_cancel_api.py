"""POST /api/v1/orders/{number}/cancel/ and the order_cancel service."""

import pytest

from core.errors import Conflict
from orders.models import Order, OrderEvent
from orders.services.cancellation import order_cancel
from tests.orders.factories import OrderFactory


def _url(order):
    return f"/api/v1/orders/{order.number}/cancel/"


def test_cancel_received_order(api_client, api_channel):
    order = OrderFactory(channel=api_channel)
    response = api_client.post(_url(order), {"reason": "customer changed mind"}, format="json")
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    order.refresh_from_db()
    assert order.status == Order.Status.CANCELLED
    assert order.cancelled_at is not None


def test_cancel_records_events_with_reason(api_client, api_channel, api_key):
    order = OrderFactory(channel=api_channel)
    api_client.post(_url(order), {"reason": "fraud"}, format="json")
    cancelled = OrderEvent.objects.get(order=order, type=OrderEvent.Type.CANCELLED)
    assert cancelled.parameters == {"reason": "fraud", "previous_status": "received"}
    assert cancelled.actor == f"api:{api_key[0].prefix}"
    assert OrderEvent.objects.filter(order=order, type=OrderEvent.Type.STATUS_CHANGED).exists()


def test_cancel_without_body_is_accepted(api_client, api_channel):
    order = OrderFactory(channel=api_channel)
    assert api_client.post(_url(order)).status_code == 200


def test_cancel_releases_stock(api_client, api_channel, monkeypatch):
    released = []
    monkeypatch.setattr(
        "orders.services.allocation.order_deallocate",
        lambda *, order, user=None, actor=None: released.append(order.number),
    )
    order = OrderFactory(channel=api_channel)
    api_client.post(_url(order))
    assert released == [order.number]


@pytest.mark.parametrize("status", ["shipped", "partially_shipped", "delivered", "returned"])
def test_cancel_after_shipping_is_409_with_status(api_client, api_channel, status):
    order = OrderFactory(channel=api_channel, status=status)
    response = api_client.post(_url(order))
    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "order_already_shipped"
    assert body["order_status"] == status
    assert status in body["detail"]
    order.refresh_from_db()
    assert order.status == status


def test_cancel_twice_returns_the_cancelled_order_unchanged(api_client, api_channel):
    order = OrderFactory(channel=api_channel)
    api_client.post(_url(order))
    response = api_client.post(_url(order))
    assert response.status_code == 200
    assert OrderEvent.objects.filter(order=order, type=OrderEvent.Type.CANCELLED).count() == 1


def test_cancel_reason_too_long_is_422(api_client, api_channel):
    order = OrderFactory(channel=api_channel)
    response = api_client.post(_url(order), {"reason": "x" * 501}, format="json")
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "reason"


def test_unknown_order_is_404(api_client):
    assert api_client.post("/api/v1/orders/CS-999999999/cancel/").status_code == 404


def test_service_refuses_shipped_order(db):
    order = OrderFactory(status=Order.Status.SHIPPED)
    with pytest.raises(Conflict) as caught:
        order_cancel(order=order, actor="test", reason="late")
    assert caught.value.code == "order_already_shipped"
