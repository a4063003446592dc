"""A channel's whole integration, driven by a client generated from /api/schema/, over HTTP.

This is the interoperability check of the partner API (issue 18): what a partner
builds from the published schema with openapi-python-client (the configuration
docs/api.md gives them) must work against the real server (gunicorn, production
settings) for every resource a channel uses, in the order docs/api.md walks them.
"""

from __future__ import annotations

import pytest

from inventory.models import AdjustmentReason, Product
from inventory.services.stock import stock_adjust
from logistics.models import Shipment
from orders.models import ChannelWarehouse
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


def test_catalogue_and_the_stock_feed_with_its_deltas(flow, api_world, api_channel):
    g, client = flow
    api_channel.catalogue_write = True
    api_channel.save(update_fields=["catalogue_write"])
    warehouse = WarehouseFactory(code="feed-wh")
    ChannelWarehouse.objects.create(channel=api_channel, warehouse=warehouse)
    upsert = g.models.ProductUpsertRequest.from_dict(
        {"name": "Flow mug", "barcodes": ["8712345000017"], "weight_grams": 320}
    )

    created = g.op("products_upsert").sync_detailed("FLOW-MUG", client=client, body=upsert)
    changed = g.op("products_upsert").sync_detailed(
        "FLOW-MUG",
        client=client,
        body=g.models.ProductUpsertRequest.from_dict({"weight_grams": 330}),
    )
    batch = g.op("products_batch").sync(
        client=client,
        body=g.models.ProductBatchRequest.from_dict(
            {"products": [{"sku": "FLOW-CAP", "name": "Flow cap"}, {"sku": "FLOW-NONAME"}]}
        ),
        idempotency_key="pb-1",
    )

    assert (created.status_code, changed.status_code) == (201, 200)
    assert changed.parsed.weight_grams == 330
    assert [(r.sku, int(r.status)) for r in batch.results] == [
        ("FLOW-CAP", 201),
        ("FLOW-NONAME", 422),
    ]
    listed = g.op("products_list").sync(client=client, page_size=100)
    assert {"FLOW-MUG", "FLOW-CAP"} <= {product.sku for product in listed.results}

    feed = g.op("inventory_list")
    seen, cursor = [], g.types.UNSET
    while True:
        page = feed.sync(client=client, page_size=2, cursor=cursor)
        seen += [item.sku for item in page.results]
        if not page.next_cursor:
            break
        cursor = page.next_cursor
    assert len(seen) == len(set(seen))
    assert {"API-TSHIRT", "API-MUG", "API-CAP", "FLOW-MUG", "FLOW-CAP"} <= set(seen)

    since = feed.sync(client=client, page_size=1).changes_cursor
    assert feed.sync(client=client, updated_after=since).results == []
    stock_adjust(
        product=Product.objects.get(sku="FLOW-MUG"),
        warehouse=warehouse,
        delta=12,
        reason=AdjustmentReason.FOUND,
    )
    delta = feed.sync(client=client, updated_after=since)
    assert [(item.sku, item.available) for item in delta.results] == [("FLOW-MUG", 12)]


def test_batch_orders_and_webhook_endpoints(flow, api_world, order_payload):
    g, client = flow
    second = {**order_payload, "external_reference": "SHOP-2002"}
    body = g.models.OrderBatchCreateRequest.from_dict({"orders": [order_payload, second, second]})

    answered = g.op("orders_batch_create").sync(client=client, body=body, idempotency_key="ob-1")
    replayed = g.op("orders_batch_create").sync_detailed(
        client=client, body=body, idempotency_key="ob-1"
    )

    assert [int(result.status) for result in answered.results] == [201, 201, 409]
    assert replayed.headers["Idempotent-Replayed"] == "true"
    subscribe = g.models.WebhookEndpointCreateRequest.from_dict(
        {"url": "https://127.0.0.1:9/hooks", "topics": ["order.shipped", "stock.changed"]}
    )
    endpoint = g.op("webhook_endpoints_create").sync(
        client=client, body=subscribe, idempotency_key="we-1"
    )
    assert endpoint.secret.startswith("whsec_")
    read = g.op("webhook_endpoints_retrieve").sync(endpoint.id, client=client)
    assert "secret" not in read.to_dict()
    rotated = g.op("webhook_endpoints_rotate_secret").sync(endpoint.id, client=client)
    assert rotated.secret.startswith("whsec_")
    assert rotated.secret != endpoint.secret
    assert rotated.previous_secret_expires_at is not None
    deliveries = g.op("webhook_endpoints_deliveries_list").sync(endpoint.id, client=client)
    assert deliveries.results == []
    gone = g.op("webhook_endpoints_destroy").sync_detailed(endpoint.id, client=client)
    assert gone.status_code == 204
    listed = g.op("webhook_endpoints_list").sync(client=client)
    assert listed.results == []
