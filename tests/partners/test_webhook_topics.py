"""Each webhook topic fires where its event happens, with the documented shape, and only then.

What the producers publish is caught at the one door (logistics.services.partner_events,
passed through so that deliveries are still stored) and validated against the topic's
envelope component under `x-webhooks` (partners/webhook_schema.py); deliveries that a
channel's endpoint receives are sent and their bodies validated too.
"""

from __future__ import annotations

import datetime as dt
import json

import httpx
import pytest
from django.test import Client
from openapi_schema_validator import OAS30Validator, validate

from inventory.models import AdjustmentReason
from inventory.services.stock import stock_adjust, stock_thresholds_set
from logistics import webhook_signing
from logistics.adapters.base import TrackingUpdate
from logistics.models import PartnerWebhookDelivery, Shipment, TrackingStatus, WebhookEndpoint
from logistics.services import partner_events, partner_webhooks, tracking
from logistics.webhook_topics import Topic
from orders.models import ChannelWarehouse, Hold, Order
from orders.services import edits, partner_notifications, stock_events
from orders.services.holds import order_hold_place
from orders.services.shipment_planning import shipments_plan_for_order
from returns.models import ReturnRequest
from returns.services import (
    ReceivedLine,
    RequestedLine,
    return_label_issue,
    return_receive,
    return_request_create,
)
from tests.inventory.factories import ProductFactory, StockLevelFactory, WarehouseFactory
from tests.logistics.helpers import allocated_order, outbox_site, sandbox_provider
from tests.orders.factories import ChannelFactory
from tests.returns.helpers import FakeReturnAdapter, delivered_order

SECRET = webhook_signing.secret_generate()
T0 = dt.datetime.now(tz=dt.UTC).replace(microsecond=0) - dt.timedelta(hours=1)


@pytest.fixture(scope="module")
def schema() -> dict:
    response = Client().get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    return json.loads(response.content)


def _check(schema: dict, body: dict) -> None:
    """`body` is valid against its topic's envelope, as `x-webhooks` names it."""
    ref = schema["x-webhooks"][body["type"]]["post"]["requestBody"]["content"]["application/json"][
        "schema"
    ]["$ref"]
    validate(body, {"$ref": ref, "components": schema["components"]}, cls=OAS30Validator)
    validate(
        body,
        {"$ref": "#/components/schemas/WebhookEvent", "components": schema["components"]},
        cls=OAS30Validator,
    )


@pytest.fixture
def published(monkeypatch) -> list[partner_events.PartnerEvent]:
    """Every event the producers publish, in order (still published for real)."""
    seen: list[partner_events.PartnerEvent] = []
    real = partner_events.partner_events_publish_many

    def spy(*, events):
        seen.extend(events)
        return real(events=events)

    def spy_one(*, channel_id, topic, data, order_id=None):
        return spy(
            events=[
                partner_events.PartnerEvent(
                    channel_id=channel_id, topic=topic, data=data, order_id=order_id
                )
            ]
        )

    for module in (partner_notifications, stock_events):
        monkeypatch.setattr(module, "partner_events_publish_many", spy)
    for module in (partner_notifications, edits):
        monkeypatch.setattr(module, "partner_event_publish", spy_one)
    return seen


def _bodies(schema, events, *topics) -> list[dict]:
    """The bodies of the events of these topics, each checked against the schema."""
    bodies = [
        partner_events.envelope(topic=str(event.topic), data=event.data)
        for event in events
        if str(event.topic) in topics
    ]
    for body in bodies:
        _check(schema, body)
    return bodies


def _subscribe(channel) -> None:
    """An endpoint of the channel subscribed to every topic."""
    WebhookEndpoint.objects.create(
        channel=channel, url="https://partner.test/hook", topics=list(Topic.values), secret=SECRET
    )


def _sent_body(delivery: PartnerWebhookDelivery) -> dict:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    client = httpx.Client(transport=httpx.MockTransport(handler))
    partner_webhooks.partner_webhook_send(delivery_id=delivery.pk, client=client)
    (request,) = seen
    assert webhook_signing.verify(secret=SECRET, headers=request.headers, body=request.content)
    return json.loads(request.content)


# --- order.created ------------------------------------------------------------------
@pytest.fixture
def stocked(api_world, api_channel):
    warehouse = WarehouseFactory(country="GB")
    ChannelWarehouse.objects.create(channel=api_channel, warehouse=warehouse)
    for product in api_world["products"]:
        StockLevelFactory(product=product, warehouse=warehouse, on_hand=100)
    return warehouse


@pytest.mark.django_db
def test_order_created_carries_the_order_as_get_shows_it_then_its_shipments(
    schema, api_client, api_channel, order_payload, stocked, published
):
    _subscribe(api_channel)
    response = api_client.post("/api/v1/orders/", order_payload, format="json")
    assert response.status_code == 201
    number = response.json()["number"]
    order = Order.objects.get(number=number)
    assert order.status == Order.Status.IN_FULFILMENT
    # The moves made while it was created are in order.created's status, not events.
    assert [str(e.topic) for e in published] == ["order.created", "shipment.created"]
    created, shipment = _bodies(schema, published, "order.created", "shipment.created")
    assert created["data"] == api_client.get(f"/api/v1/orders/{number}/").json()
    assert created["data"] == response.json()
    assert shipment["data"]["number"] == number
    assert shipment["data"]["shipment"]["id"] == created["data"]["shipments"][0]["id"]
    assert shipment["data"]["shipment"]["status"] == "pending"
    # Delivered as documented to the channel's endpoint.
    delivery = PartnerWebhookDelivery.objects.get(order=order, event="order.created")
    body = _sent_body(delivery)
    _check(schema, body)
    assert body["data"] == created["data"]


@pytest.mark.django_db
def test_batch_intake_publishes_order_created_per_order_then_their_shipments(
    schema, api_client, order_payload, stocked, published
):
    second = {**order_payload, "external_reference": "SHOP-BATCH-2"}
    duplicate = dict(order_payload)
    response = api_client.post(
        "/api/v1/orders/batch", {"orders": [order_payload, second, duplicate]}, format="json"
    )
    assert response.status_code == 200, response.content
    results = response.json()["results"]
    assert [r["status"] for r in results] == [201, 201, 409]
    assert [str(e.topic) for e in published] == [
        "order.created",
        "order.created",
        "shipment.created",
        "shipment.created",
    ]
    bodies = _bodies(schema, published, "order.created", "shipment.created")
    assert [b["data"] for b in bodies[:2]] == [r["order"] for r in results[:2]]
    assert [b["data"]["number"] for b in bodies[2:]] == [r["order"]["number"] for r in results[:2]]


@pytest.mark.django_db
def test_refused_orders_publish_nothing(api_client, api_channel, order_payload, stocked, published):
    _subscribe(api_channel)
    assert api_client.post("/api/v1/orders/", order_payload, format="json").status_code == 201
    published.clear()
    deliveries = PartnerWebhookDelivery.objects.count()
    duplicate = api_client.post("/api/v1/orders/", order_payload, format="json")
    assert duplicate.status_code == 409
    invalid = {**order_payload, "external_reference": "SHOP-2", "lines": [{"sku": "NOPE"}]}
    assert api_client.post("/api/v1/orders/", invalid, format="json").status_code == 422
    unknown = {
        **order_payload,
        "external_reference": "SHOP-3",
        "lines": [{"sku": "UNKNOWN", "quantity": 1, "unit_price": "1.00"}],
    }
    assert api_client.post("/api/v1/orders/", unknown, format="json").status_code == 422
    assert published == []
    assert PartnerWebhookDelivery.objects.count() == deliveries


@pytest.mark.django_db
def test_order_updated_matches_its_documented_payload(
    schema, api_client, order_payload, stocked, published
):
    number = api_client.post("/api/v1/orders/", order_payload, format="json").json()["number"]
    published.clear()
    response = api_client.patch(
        f"/api/v1/orders/{number}/",
        {"customer": {**order_payload["customer"], "name": "Ada King"}},
        format="json",
    )
    assert response.status_code == 200, response.content
    (body,) = _bodies(schema, published, "order.updated")
    assert body["data"]["customer"]["name"] == "Ada King"
    assert body["data"]["changes"]["customer"]["name"] == {
        "old": "Ada Lovelace",
        "new": "Ada King",
    }


# --- order.status_changed -------------------------------------------------------------
@pytest.mark.django_db
def test_a_status_move_publishes_status_and_previous_status(schema, published):
    channel = ChannelFactory()
    _subscribe(channel)
    order = allocated_order(channel=channel)
    order_hold_place(order=order, reason=Hold.Reason.MANUAL, note="check", actor="test")
    (body,) = _bodies(schema, published, "order.status_changed")
    assert body["data"]["number"] == order.number
    assert body["data"]["status"] == "on_hold"
    assert body["data"]["previous_status"] == "allocated"
    delivery = PartnerWebhookDelivery.objects.get(order=order, event="order.status_changed")
    assert _sent_body(delivery)["data"] == body["data"]


@pytest.mark.django_db
def test_no_status_change_no_event(published):
    order = allocated_order()
    order_hold_place(order=order, reason=Hold.Reason.MANUAL, actor="test")
    published.clear()
    # A second hold: the order stays on hold, its status does not move.
    order_hold_place(order=order, reason=Hold.Reason.FRAUD_REVIEW, actor="test")
    assert [str(e.topic) for e in published] == []


# --- shipment.created / shipment.tracking_updated -----------------------------------------
@pytest.mark.django_db
def test_planning_publishes_one_shipment_created_per_new_shipment(schema, published):
    sandbox_provider()
    first, second = outbox_site(), outbox_site()
    order = allocated_order(warehouses=[first, second], quantities=(1, 2))
    shipments = shipments_plan_for_order(order=order)
    assert len(shipments) == 2
    bodies = _bodies(schema, published, "shipment.created")
    assert [b["data"]["shipment"]["id"] for b in bodies] == [s.pk for s in shipments]
    assert {b["data"]["shipment"]["provider"] for b in bodies} == {"sandbox"}
    moved = _bodies(schema, published, "order.status_changed")
    assert [(b["data"]["previous_status"], b["data"]["status"]) for b in moved] == [
        ("allocated", "in_fulfilment")
    ]
    published.clear()
    # Planned again: nothing new to plan, nothing published.
    assert shipments_plan_for_order(order=order) == []
    assert published == []


@pytest.mark.django_db
def test_each_new_tracking_event_publishes_tracking_updated_and_duplicates_do_not(
    schema, published
):
    sandbox_provider()
    order = allocated_order()
    (shipment,) = shipments_plan_for_order(order=order)
    published.clear()
    update = TrackingUpdate(
        status=TrackingStatus.IN_TRANSIT,
        provider_status="DEPARTED",
        occurred_at=T0,
        event_id="e-1",
        tracking_number="SBX1",
        description="Left the depot",
        location="Utrecht",
    )
    tracking.tracking_update_apply(shipment_id=shipment.pk, update=update)
    (body,) = _bodies(schema, published, "shipment.tracking_updated")
    assert body["data"]["shipment"]["id"] == shipment.pk
    assert body["data"]["shipment"]["status"] == "in_transit"
    assert body["data"]["shipment"]["tracking_number"] == "SBX1"
    assert body["data"]["tracking_event"] == {
        "status": "in_transit",
        "provider_status": "DEPARTED",
        "description": "Left the depot",
        "location": "Utrecht",
        "occurred_at": T0.isoformat(),
    }
    # The roll-up's moves and milestone came in the same batch, in order.
    topics = [str(e.topic) for e in published]
    assert topics == [
        "shipment.tracking_updated",
        "order.status_changed",
        "order.shipped",
    ]
    (moved,) = _bodies(schema, published, "order.status_changed")
    assert (moved["data"]["previous_status"], moved["data"]["status"]) == (
        "in_fulfilment",
        "shipped",
    )
    published.clear()
    assert tracking.tracking_update_apply(shipment_id=shipment.pk, update=update) is None
    assert published == []


# --- return.created / return.received ------------------------------------------------------
@pytest.mark.django_db
def test_return_created_label_and_received(schema, published):
    channel = ChannelFactory()
    _subscribe(channel)
    order = delivered_order(channel=channel)
    line = order.lines.get(line_number=1)
    return_request = return_request_create(
        order=order,
        lines=[RequestedLine(line_number=line.line_number, quantity=1, reason="size_fit")],
        actor="test",
    )
    created = _sent_body(PartnerWebhookDelivery.objects.get(order=order, event="return.created"))
    _check(schema, created)
    assert created["data"]["return"]["number"] == return_request.number
    assert created["data"]["return"]["status"] == ReturnRequest.Status.REQUESTED
    assert created["data"]["return"]["lines"][0]["quantity"] == 1
    # The return label is a shipment (direction return) the partner can follow.
    published.clear()
    assert return_label_issue(return_id=return_request.pk, adapter=FakeReturnAdapter()).outcome == (
        "issued"
    )
    (label,) = _bodies(schema, published, "shipment.created")
    assert label["data"]["shipment"]["direction"] == "return"
    return_request.refresh_from_db()
    assert label["data"]["shipment"]["id"] == return_request.return_shipment_id
    assert label["data"]["shipment"]["tracking_number"].startswith("RT-")
    return_line = return_request.lines.get()
    return_receive(
        return_request=ReturnRequest.objects.get(pk=return_request.pk),
        lines=[
            ReceivedLine(
                return_line_id=return_line.pk,
                quantity=1,
                condition="as_new",
                disposition="restock",
            )
        ],
        actor="test",
    )
    received = _sent_body(PartnerWebhookDelivery.objects.get(order=order, event="return.received"))
    _check(schema, received)
    assert received["data"]["return"]["status"] == ReturnRequest.Status.RECEIVED


# --- inbound.received -------------------------------------------------------------------
@pytest.mark.django_db
def test_inbound_received_matches_its_documented_payload(schema, monkeypatch):
    from inventory.services.receiving import ExpectedLine, inbound_receive
    from logistics.services import asn

    seen: list[dict] = []
    real = asn.partner_event_publish

    def spy(**kwargs):
        seen.append(kwargs)
        return real(**kwargs)

    monkeypatch.setattr(asn, "partner_event_publish", spy)
    ProductFactory(sku="IN-A")
    WarehouseFactory(code="own")
    channel = ChannelFactory()
    inbound = asn.asn_create(
        warehouse_code="own",
        reference="PO-1",
        lines=[ExpectedLine("IN-A", 3)],
        channel_id=channel.pk,
    )
    inbound_receive(inbound=inbound, code="IN-A", quantity=2)
    assert seen == []  # receiving, not received
    asn.asn_close(inbound=inbound)
    (event,) = seen
    body = partner_events.envelope(topic=str(event["topic"]), data=event["data"])
    _check(schema, body)
    assert body["data"]["lines"] == [
        {"sku": "IN-A", "expected": 3, "received": 2, "discrepancy": -1}
    ]


# --- stock.low ------------------------------------------------------------------------
@pytest.mark.django_db
def test_stock_low_goes_to_every_channel_selling_from_the_warehouse_once(schema, published):
    warehouse, elsewhere = WarehouseFactory(code="AMS"), WarehouseFactory()
    selling = [ChannelFactory(), ChannelFactory()]
    for channel in selling:
        ChannelWarehouse.objects.create(channel=channel, warehouse=warehouse)
    ChannelWarehouse.objects.create(channel=ChannelFactory(), warehouse=elsewhere)
    product = ProductFactory(sku="TSHIRT-BLK-M")
    StockLevelFactory(product=product, warehouse=warehouse, on_hand=10)
    stock_thresholds_set(thresholds={(product.pk, warehouse.pk): 5})
    assert published == []  # 10 available is not low
    stock_adjust(product=product, warehouse=warehouse, delta=-6, reason=AdjustmentReason.DAMAGED)
    bodies = _bodies(schema, published, "stock.low")
    assert sorted(e.channel_id for e in published) == sorted(c.pk for c in selling)
    assert {json.dumps(b["data"], sort_keys=True) for b in bodies} == {
        json.dumps(
            {"sku": "TSHIRT-BLK-M", "warehouse": "AMS", "available": 4, "threshold": 5},
            sort_keys=True,
        )
    }
    published.clear()
    # Still low after another change: not again.
    stock_adjust(product=product, warehouse=warehouse, delta=-1, reason=AdjustmentReason.DAMAGED)
    assert published == []


@pytest.mark.django_db
def test_a_threshold_raised_over_the_stock_makes_it_low(published):
    warehouse = WarehouseFactory()
    channel = ChannelFactory()
    ChannelWarehouse.objects.create(channel=channel, warehouse=warehouse)
    product = ProductFactory()
    StockLevelFactory(product=product, warehouse=warehouse, on_hand=3)
    stock_thresholds_set(thresholds={(product.pk, warehouse.pk): 5})
    assert [(str(e.topic), e.channel_id, e.data["available"]) for e in published] == [
        ("stock.low", channel.pk, 3)
    ]
    published.clear()
    stock_thresholds_set(thresholds={(product.pk, warehouse.pk): 4})  # still low
    assert published == []


@pytest.mark.django_db
def test_allocating_an_order_into_low_stock_publishes_stock_low_with_order_created(
    api_client, api_channel, order_payload, stocked, published
):
    from inventory.models import StockLevel

    StockLevel.objects.filter(warehouse=stocked).update(low_stock_threshold=99)
    response = api_client.post("/api/v1/orders/", order_payload, format="json")
    assert response.status_code == 201
    topics = [str(e.topic) for e in published]
    assert topics[0] == "order.created"
    # One per SKU the order reserved (each fell from 100 to 99 or below).
    assert topics.count("stock.low") == 3


# --- every topic is produced somewhere -------------------------------------------------
def test_every_topic_has_a_documented_envelope(schema):
    for topic in Topic.values:
        body = schema["x-webhooks"][topic]["post"]["requestBody"]
        assert body["content"]["application/json"]["schema"]["$ref"].startswith(
            "#/components/schemas/Webhook"
        )
    assert set(Shipment.Direction.values) <= set(
        schema["components"]["schemas"]["DirectionEnum"]["enum"]
    )
