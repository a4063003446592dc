"""POST /api/v1/orders/{number}/returns/: a return is opened, or refused with problem+json."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from orders.models import OrderEvent
from returns.models import ReturnRequest
from tests.returns.helpers import delivered_order

pytestmark = pytest.mark.django_db

PROBLEM = "application/problem+json"


def _url(order) -> str:
    return f"/api/v1/orders/{order.number}/returns/"


def _post(client, order, lines, **headers):
    return client.post(_url(order), {"lines": lines}, format="json", headers=headers)


@pytest.fixture
def order(api_channel):
    return delivered_order(channel=api_channel, quantities=(2, 1))


def test_return_is_created_with_lines_refund_and_timeline_event(api_client, order):
    response = _post(
        api_client,
        order,
        [
            {"line_number": 1, "quantity": 1, "reason": "size_fit", "note": "Too small"},
            {"line_number": 2, "quantity": 1, "reason": "damaged"},
        ],
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["number"].startswith("RMA-")
    assert body["status"] == "requested"
    assert body["refund_amount_requested"] == "28.4500"  # 19.95 + 8.50
    assert [(line["line_number"], line["reason"]) for line in body["lines"]] == [
        (1, "size_fit"),
        (2, "damaged"),
    ]
    event = order.events.get(type=OrderEvent.Type.RETURN_REQUESTED)
    assert event.parameters["return_number"] == body["number"]
    assert event.actor.startswith("api:")


def test_same_idempotency_key_replays_and_creates_one_return(api_client, order):
    lines = [{"line_number": 1, "quantity": 1, "reason": "defective"}]
    first = _post(api_client, order, lines, **{"Idempotency-Key": "ret-1"})
    again = _post(api_client, order, lines, **{"Idempotency-Key": "ret-1"})
    assert first.status_code == again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert ReturnRequest.objects.filter(order=order).count() == 1


def test_unknown_line_is_refused(api_client, order):
    response = _post(api_client, order, [{"line_number": 9, "quantity": 1, "reason": "other"}])
    assert response.status_code == 422
    assert response.headers["Content-Type"].startswith(PROBLEM)
    body = response.json()
    assert body["code"] == "return_line_unknown"
    assert body["errors"] == [
        {"field": "lines[0].line_number", "message": "No such line on this order."}
    ]
    assert "no line 9" in body["detail"]


def test_unshipped_quantity_is_refused(api_client, order):
    response = _post(api_client, order, [{"line_number": 2, "quantity": 2, "reason": "other"}])
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "return_quantity_unshipped"
    assert "only 1 of 1 shipped" in body["detail"]
    assert body["errors"][0]["field"] == "lines[0].quantity"


def test_unshipped_order_is_refused(api_client, api_channel):
    from tests.logistics.helpers import allocated_order

    order = allocated_order(channel=api_channel, quantities=[1])
    response = _post(api_client, order, [{"line_number": 1, "quantity": 1, "reason": "other"}])
    assert response.status_code == 422
    assert response.json()["code"] == "return_quantity_unshipped"


def test_over_return_across_requests_is_refused(api_client, order):
    ok = _post(api_client, order, [{"line_number": 1, "quantity": 2, "reason": "size_fit"}])
    assert ok.status_code == 201
    response = _post(api_client, order, [{"line_number": 1, "quantity": 1, "reason": "size_fit"}])
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "return_quantity_already_returned"
    assert "2 of 2 shipped unit(s) are already returned or on an open return" in body["detail"]
    assert ReturnRequest.objects.filter(order=order).count() == 1


def test_already_received_quantity_cannot_be_returned_again(api_client, order):
    line = order.lines.get(line_number=2)
    line.quantity_returned = 1
    line.save(update_fields=["quantity_returned"])
    response = _post(api_client, order, [{"line_number": 2, "quantity": 1, "reason": "other"}])
    assert response.status_code == 422
    assert response.json()["code"] == "return_quantity_already_returned"


def test_request_outside_the_return_window_is_refused(api_client, api_channel):
    api_channel.return_window_days = 14
    api_channel.save(update_fields=["return_window_days"])
    order = delivered_order(
        channel=api_channel, delivered_at=timezone.now() - dt.timedelta(days=15)
    )
    response = _post(api_client, order, [{"line_number": 1, "quantity": 1, "reason": "other"}])
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "return_window_closed"
    assert "return window of 14 day(s)" in body["detail"]
    assert ReturnRequest.objects.count() == 0


def test_request_inside_the_return_window_is_accepted(api_client, api_channel):
    api_channel.return_window_days = 14
    api_channel.save(update_fields=["return_window_days"])
    order = delivered_order(
        channel=api_channel, delivered_at=timezone.now() - dt.timedelta(days=13)
    )
    response = _post(api_client, order, [{"line_number": 1, "quantity": 1, "reason": "other"}])
    assert response.status_code == 201


def test_another_channels_order_is_404(other_api_client, order):
    response = _post(
        other_api_client, order, [{"line_number": 1, "quantity": 1, "reason": "other"}]
    )
    assert response.status_code == 404
    assert response.headers["Content-Type"].startswith(PROBLEM)
    assert ReturnRequest.objects.count() == 0


def test_unknown_reason_and_bad_quantity_are_field_errors(api_client, order):
    response = _post(
        api_client,
        order,
        [
            {"line_number": 1, "quantity": 0, "reason": "other"},
            {"line_number": 2, "quantity": 1, "reason": "bored"},
        ],
    )
    assert response.status_code == 422
    fields = {error["field"] for error in response.json()["errors"]}
    assert fields == {"lines[0].quantity", "lines[1].reason"}


def test_line_given_twice_is_refused(api_client, order):
    line = {"line_number": 1, "quantity": 1, "reason": "other"}
    response = _post(api_client, order, [line, line])
    assert response.status_code == 422
    assert response.json()["code"] == "return_line_duplicate"


def test_empty_lines_are_refused(api_client, order):
    response = _post(api_client, order, [])
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "lines"


def test_returns_are_listed_with_their_label(api_client, order):
    _post(api_client, order, [{"line_number": 1, "quantity": 1, "reason": "other"}])
    response = api_client.get(_url(order))
    assert response.status_code == 200
    (only,) = response.json()
    assert only["label"] is None
    assert only["status"] == "requested"
