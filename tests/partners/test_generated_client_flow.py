"""A channel's whole integration, driven by a client generated from /api/schema/, over HTTP.

This is the interoperability check of the partner API (issue 18): what a partner
builds from the published schema with openapi-python-client (the configuration
docs/api.md gives them) must work against the real server (gunicorn, production
settings) for every resource a channel uses, in the order docs/api.md walks them.
"""

from __future__ import annotations

import pytest

from logistics.models import Shipment
from tests.inventory.factories import WarehouseFactory
from tests.returns.helpers import delivered_order

pytestmark = pytest.mark.integration


@pytest.fixture
def flow(gunicorn_url, generated_client, api_key):
    """(generated parts, an authenticated client against gunicorn)."""
    return generated_client, generated_client.client(base_url=gunicorn_url, token=api_key[1])


def test_orders_create_replay_read_list_cancel(flow, api_world, order_payload):
    g, client = flow
    body = g.models.OrderCreateRequest.from_dict(order_payload)

    created = g.op("orders_create").sync_detailed(client=client, body=body, idempotency_key="f-1")
    replayed = g.op("orders_create").sync_detailed(client=client, body=body, idempotency_key="f-1")

    assert created.status_code == 201
    assert replayed.status_code == 201
    assert replayed.headers["Idempotent-Replayed"] == "true"
    number = created.parsed.number
    assert replayed.parsed.number == number
    read = g.op("orders_retrieve").sync(number, client=client)
    assert [line.sku for line in read.lines] == ["API-TSHIRT", "API-MUG", "API-CAP"]
    assert read.external_reference == order_payload["external_reference"]
    page = g.op("orders_list").sync(
        client=client, external_reference=order_payload["external_reference"]
    )
    assert [order.number for order in page.results] == [number]
    edit = g.models.PatchedOrderEditRequest.from_dict(
        {"lines": [{"sku": "API-TSHIRT", "quantity": 2}, {"sku": "API-MUG", "quantity": 3}]}
    )
    edited = g.op("orders_update").sync(number, client=client, body=edit, idempotency_key="e-1")
    assert [(line.sku, line.quantity - line.quantity_cancelled) for line in edited.lines] == [
        ("API-TSHIRT", 2),
        ("API-MUG", 3),
        ("API-CAP", 0),
    ]
    cancel_body = g.models.OrderCancelRequest.from_dict({"reason": "customer changed mind"})
    cancelled = g.op("orders_cancel").sync(number, client=client, body=cancel_body)
    assert cancelled.status == g.models.OrderStatusEnum.CANCELLED
    assert cancelled.cancelled_at is not None


def test_stock_shipments_documents_and_returns(flow, api_world, api_channel):
    g, client = flow
    stock = g.op("inventory_list").sync(client=client, sku=["API-MUG", "NOT-A-SKU"])
    assert [(item.sku, item.available) for item in stock] == [("API-MUG", 0), ("NOT-A-SKU", 0)]
    order = delivered_order(channel=api_channel)
    expected_ids = list(Shipment.objects.filter(order=order).values_list("pk", flat=True))

    shipments = g.op("orders_shipments").sync(order.number, client=client)
    assert sorted(shipment.id for shipment in shipments) == sorted(expected_ids)
    document = g.op("orders_shipment_document").sync_detailed(
        order.number,
        shipments[0].id,
        g.models.OrdersShipmentDocumentKind.PACKING_SLIP,
        client=client,
    )
    assert document.status_code == 200
    assert document.parsed.payload.read().startswith(b"%PDF")
    request = g.models.OrdersReturnsCreateBody.from_dict(
        {"lines": [{"line_number": 1, "quantity": 1, "reason": "size_fit"}]}
    )
    created = g.op("orders_returns_create").sync(
        order.number, client=client, body=request, idempotency_key="r-1"
    )
    assert created.order == order.number
    assert [(line.line_number, line.quantity) for line in created.lines] == [(1, 1)]
    listed = g.op("orders_returns_list").sync(order.number, client=client)
    assert [item.number for item in listed] == [created.number]


def test_inbound_shipments_create_list_read_cancel(flow, api_world):
    g, client = flow
    warehouse = WarehouseFactory(code="api-own")
    body = g.models.InboundShipmentCreateRequest.from_dict(
        {
            "reference": "PO-4711",
            "warehouse": warehouse.code,
            "expected_at": "2026-12-20T09:00:00Z",
            "lines": [{"sku": "API-MUG", "quantity": 40}, {"sku": "API-CAP", "quantity": 12}],
            "carrier": "DHL",
            "tracking_number": "JD0001",
        }
    )

    created = g.op("inbound_shipments_create").sync_detailed(
        client=client, body=body, idempotency_key="asn-1"
    )
    replayed = g.op("inbound_shipments_create").sync_detailed(
        client=client, body=body, idempotency_key="asn-1"
    )

    assert created.status_code == replayed.status_code == 201
    number = created.parsed.number
    assert replayed.parsed.number == number
    assert created.parsed.status == g.models.InboundShipmentStatusEnum.SENT
    page = g.op("inbound_shipments_list").sync(client=client, warehouse=warehouse.code)
    assert [item.number for item in page.results] == [number]
    read = g.op("inbound_shipments_retrieve").sync(number, client=client)
    assert [(line.sku, line.expected, line.received, line.discrepancy) for line in read.lines] == [
        ("API-MUG", 40, 0, -40),
        ("API-CAP", 12, 0, -12),
    ]
    cancelled = g.op("inbound_shipments_cancel").sync(number, client=client)
    assert cancelled.status == g.models.InboundShipmentStatusEnum.CANCELLED
