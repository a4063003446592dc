"""Back office: a CS agent requests a return at the desk; the warehouse receives it."""

from __future__ import annotations

import pytest

from inventory.models import StockMovement
from orders.models import Order
from returns.models import ReturnRequest
from returns.services import RequestedLine, return_label_issue, return_request_create
from tests.returns.helpers import FakeReturnAdapter, delivered_order

pytestmark = pytest.mark.django_db


def test_agent_requests_a_return_from_the_order_page(client, agent):
    order = delivered_order(quantities=(2, 1))
    client.force_login(agent)
    page = client.get(f"/desk/orders/{order.number}/")
    assert 'id="return-form"' in page.content.decode()
    response = client.post(
        f"/desk/orders/{order.number}/returns/",
        {"qty_1": "1", "reason_1": "defective", "qty_2": "0", "reason_2": "other"},
    )
    assert response.status_code == 303
    return_request = ReturnRequest.objects.get(order=order)
    assert [(line.quantity, line.reason) for line in return_request.lines.all()] == [
        (1, "defective")
    ]
    assert return_request.requested_by == agent


def test_refused_desk_return_shows_the_reason(client, agent):
    order = delivered_order(quantities=(1,), prices=("5.00",))
    client.force_login(agent)
    response = client.post(
        f"/desk/orders/{order.number}/returns/",
        {"qty_1": "3", "reason_1": "defective"},
        follow=True,
    )
    assert "only 1 of 1 shipped" in response.content.decode()
    assert not ReturnRequest.objects.exists()


def test_warehouse_cannot_request_and_agent_cannot_receive(client, agent, warehouse_user):
    order = delivered_order(quantities=(1,), prices=("5.00",))
    client.force_login(warehouse_user)
    denied = client.post(
        f"/desk/orders/{order.number}/returns/", {"qty_1": "1", "reason_1": "other"}
    )
    assert denied.status_code == 403
    client.force_login(agent)
    assert client.get("/warehouse/returns/").status_code == 403


def _labelled_return() -> tuple[Order, ReturnRequest]:
    """A delivered order of two lines (2 and 1 units) with a labelled return of one unit each."""
    order = delivered_order(quantities=(2, 1))
    return_request = return_request_create(
        order=order,
        lines=[
            RequestedLine(line_number=1, quantity=1, reason="size_fit"),
            RequestedLine(line_number=2, quantity=1, reason="damaged"),
        ],
        actor="test",
    )
    return_label_issue(return_id=return_request.pk, adapter=FakeReturnAdapter())
    return order, return_request


def test_warehouse_receives_a_return_line_by_line(client, warehouse_user):
    order, return_request = _labelled_return()
    client.force_login(warehouse_user)
    queue = client.get("/warehouse/returns/")
    assert return_request.number in queue.content.decode()
    line1, line2 = return_request.lines.order_by("order_line__line_number")
    response = client.post(
        f"/warehouse/returns/{return_request.pk}/",
        {
            f"qty_{line1.pk}": "1",
            f"condition_{line1.pk}": "as_new",
            f"disposition_{line1.pk}": "restock",
            f"qty_{line2.pk}": "1",
            f"condition_{line2.pk}": "damaged",
            f"disposition_{line2.pk}": "quarantine",
        },
    )
    assert response.status_code == 303
    return_request.refresh_from_db()
    assert return_request.status == ReturnRequest.Status.RECEIVED
    assert return_request.received_by == warehouse_user
    assert StockMovement.objects.filter(type="return").count() == 1
    order.refresh_from_db()
    assert order.status == Order.Status.PARTIALLY_RETURNED
    page = client.get(f"/warehouse/returns/{return_request.pk}/").content.decode()
    assert "Refund due: 28.45 EUR" in page


def test_receiving_with_an_empty_form_is_refused_and_leaves_the_return_open(client, warehouse_user):
    order, return_request = _labelled_return()
    client.force_login(warehouse_user)
    line1, line2 = return_request.lines.order_by("order_line__line_number")
    response = client.post(
        f"/warehouse/returns/{return_request.pk}/",
        {f"qty_{line1.pk}": "", f"qty_{line2.pk}": " "},
        follow=True,
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert "is missing from the receipt" in page
    assert 'name="qty_' in page  # the form is shown again
    return_request.refresh_from_db()
    assert return_request.status != ReturnRequest.Status.RECEIVED
    assert return_request.received_at is None
    order.refresh_from_db()
    assert order.status == Order.Status.DELIVERED
