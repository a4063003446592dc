"""PATCH /api/v1/orders/{number}/: editing an order before dispatch through the partner API."""

from __future__ import annotations

import pytest

from logistics.models import Shipment
from logistics.services import dispatch
from orders.models import ChannelWarehouse, Order, OrderEvent
from tests.inventory.helpers import stock
from tests.logistics.helpers import FakeAdapter, outbox_site, sandbox_provider

pytestmark = pytest.mark.usefixtures("api_world")


@pytest.fixture
def stocked(api_channel, api_world):
    """The API channel ships from one warehouse holding 10 of each API product."""
    sandbox_provider()
    warehouse = outbox_site(code="api-wh")  # dispatches through the outbox
    ChannelWarehouse.objects.create(channel=api_channel, warehouse=warehouse, priority=10)
    for product in api_world["products"][:3]:
        stock(product, warehouse, 10)
    return warehouse


@pytest.fixture
def order(api_client, order_payload, stocked) -> Order:
    # Within the EU: no customs gate between the warehouse and the customer.
    order_payload["shipping_address"].update(city="Amsterdam", postcode="1012 LG", country="NL")
    response = api_client.post("/api/v1/orders/", order_payload, format="json")
    assert response.status_code == 201, response.content
    return Order.objects.get(number=response.json()["number"])


def _url(order):
    return f"/api/v1/orders/{order.number}/"


def _patch(client, order, body, **headers):
    return client.patch(_url(order), body, format="json", headers=headers)


def _state(order):
    order.refresh_from_db()
    return (
        order.status,
        order.total_amount,
        order.updated_at,
        order.customer_email,
        order.shipping_city,
        list(order.lines.order_by("line_number").values_list("sku", "quantity", "unit_price")),
        list(order.lines.values_list("quantity_cancelled", flat=True)),
        order.events.count(),
        sorted(Shipment.objects.filter(order=order).values_list("pk", "status")),
    )


def test_patch_returns_the_edited_order(api_client, order):
    body = {
        "lines": [
            {"sku": "API-TSHIRT", "quantity": 3},
            {"sku": "API-CAP", "quantity": 3, "unit_price": "11.00"},
        ],
        "customer": {"email": "ada@example.org", "name": "Ada King"},
    }
    response = _patch(api_client, order, body)
    assert response.status_code == 200, response.content
    got = response.json()
    assert got["number"] == order.number
    assert got["status"] == "in_fulfilment"
    assert got["customer"] == {"email": "ada@example.org", "name": "Ada King", "phone": ""}
    assert [
        (line["sku"], line["quantity"], line["quantity_cancelled"]) for line in got["lines"]
    ] == [
        ("API-TSHIRT", 3, 0),
        ("API-MUG", 1, 1),
        ("API-CAP", 3, 0),
    ]
    assert got["lines"][2]["unit_price"] == "11.0000"
    assert got["total_amount"] == "92.8500"
    statuses = sorted(s["status"] for s in got["shipments"])
    assert statuses == ["cancelled", "pending"]
    assert got == api_client.get(_url(order)).json()
    event = order.events.get(type=OrderEvent.Type.EDITED)
    assert event.actor.startswith("api:")


def test_empty_or_unchanged_body_is_200_and_records_nothing(api_client, order, order_payload):
    before = _state(order)
    assert _patch(api_client, order, {}).status_code == 200
    same = {key: order_payload[key] for key in ("customer", "shipping_address", "lines")}
    response = _patch(api_client, order, same)
    assert response.status_code == 200
    assert _state(order) == before
    assert not order.events.filter(type=OrderEvent.Type.EDITED).exists()


def test_another_channels_order_is_404(other_api_client, order):
    before = _state(order)
    response = _patch(other_api_client, order, {"lines": [{"sku": "API-MUG", "quantity": 1}]})
    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "order_not_found"
    assert _state(order) == before


def test_unknown_order_is_404(api_client):
    response = api_client.patch("/api/v1/orders/CS-999999/", {}, format="json")
    assert response.status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"lines": [{"sku": "API-TSHIRT", "quantity": 0}]}, "lines[0].quantity"),
        ({"lines": []}, "lines"),
        ({"lines": [{"sku": "API-NEW", "quantity": 1, "unit_price": "1.00"}]}, "lines[0].sku"),
        ({"lines": [{"sku": "API-RETIRED", "quantity": 1, "unit_price": "1"}]}, "lines[0].sku"),
        ({"lines": [{"sku": "API-TSHIRT", "quantity": "2"}]}, "lines[0].quantity"),
        (
            {"lines": [{"sku": "API-TSHIRT", "quantity": 1, "unit_price": "1.001"}]},
            "lines[0].unit_price",
        ),
        (
            {"shipping_address": {"name": "A", "line1": "B", "city": "C"}},
            "shipping_address.country",
        ),
        (
            {"shipping_address": {"name": "A", "line1": "B", "city": "C", "country": "XX"}},
            "shipping_address.country",
        ),
        ({"customer": {"email": "not-an-email", "name": "A"}}, "customer.email"),
        ({"status": "shipped"}, "status"),
    ],
)
def test_bad_input_is_422_and_changes_nothing(api_client, order, body, field):
    before = _state(order)
    response = _patch(
        api_client,
        order,
        {**body, "customer": body.get("customer", {"email": "x@example.com", "name": "X"})},
    )
    assert response.status_code == 422, response.content
    assert response["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == "invalid_order"
    assert field in [error["field"] for error in problem["errors"]]
    assert _state(order) == before


def test_after_dispatch_is_409_naming_the_shipment(api_client, order):
    (shipment,) = Shipment.objects.filter(order=order)
    dispatch.shipment_dispatch(shipment_id=shipment.pk, adapter=FakeAdapter(["ok"]))
    before = _state(order)
    response = _patch(api_client, order, {"lines": [{"sku": "API-MUG", "quantity": 1}]})
    assert response.status_code == 409
    problem = response.json()
    assert problem["code"] == "order_not_editable"
    assert f"shipment {shipment.pk} is with the LSP (dispatched)" in problem["detail"]
    assert problem["shipment_ids"] == [shipment.pk]
    assert problem["order_status"] == "in_fulfilment"
    assert _state(order) == before


def test_cancelled_order_is_409(api_client, order):
    assert api_client.post(f"{_url(order)}cancel/").status_code == 200
    response = _patch(api_client, order, {"customer": {"email": "a@b.example", "name": "A"}})
    assert response.status_code == 409
    assert "order is cancelled" in response.json()["detail"]


def test_idempotent_replay_applies_the_edit_once(api_client, order):
    body = {"lines": [{"sku": "API-TSHIRT", "quantity": 4}]}
    first = _patch(api_client, order, body, **{"Idempotency-Key": "edit-1"})
    assert first.status_code == 200
    after_first = _state(order)
    again = _patch(api_client, order, body, **{"Idempotency-Key": "edit-1"})
    assert again.status_code == 200
    assert again["Idempotent-Replayed"] == "true"
    assert again.content == first.content
    assert _state(order) == after_first
    assert order.events.filter(type=OrderEvent.Type.EDITED).count() == 1
    reused = _patch(
        api_client,
        order,
        {"lines": [{"sku": "API-TSHIRT", "quantity": 5}]},
        **{"Idempotency-Key": "edit-1"},
    )
    assert reused.status_code == 422
    assert reused.json()["code"] == "idempotency_key_reused"
    assert _state(order) == after_first


def test_key_used_for_a_post_is_422_for_a_patch(api_client, order, order_payload):
    payload = {**order_payload, "external_reference": "SHOP-2"}
    created = api_client.post(
        "/api/v1/orders/", payload, format="json", headers={"Idempotency-Key": "k-1"}
    )
    assert created.status_code == 201
    response = _patch(api_client, order, {}, **{"Idempotency-Key": "k-1"})
    assert response.status_code == 422
    assert response.json()["code"] == "idempotency_key_reused"


def test_schema_documents_the_patch(api_client):
    schema = api_client.get("/api/schema/?format=json").json()
    operation = schema["paths"]["/api/v1/orders/{number}/"]["patch"]
    assert operation["operationId"] == "orders_update"
    assert {"200", "404", "409", "422"} <= set(operation["responses"])
    assert "Idempotent-Replayed" in operation["responses"]["200"]["headers"]
    names = [parameter["name"] for parameter in operation["parameters"]]
    assert "Idempotency-Key" in names
    body = schema["components"]["schemas"]["PatchedOrderEditRequest"]
    assert set(body["properties"]) == {"customer", "shipping_address", "lines"}
    assert "required" not in body
    line = schema["components"]["schemas"]["OrderLineEditRequest"]
    assert sorted(line["required"]) == ["quantity", "sku"]
