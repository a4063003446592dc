"""The delivery promise on orders and shipments: planning, the order's refresh, API, webhooks."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.db import IntegrityError, connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from inventory.models import Allocation
from logistics.models import DispatchOutbox, Shipment, TransitTime
from logistics.promise import promise_for
from logistics.promise_tables import promise_tables
from logistics.services import partner_events
from logistics.services.reroute import shipment_dispatch_reroute
from logistics.webhook_topics import Topic
from orders.models import ChannelWarehouse, Order
from orders.services import partner_notifications
from orders.services.promise import order_promise_refresh
from orders.services.shipment_planning import shipments_plan_for_order
from tests.inventory.factories import StockLevelFactory, WarehouseFactory
from tests.logistics.factories import ProviderFactory, ShipmentFactory
from tests.logistics.helpers import allocated_order, sandbox_provider
from tests.orders.factories import OrderFactory

pytestmark = pytest.mark.django_db

D = dt.date


@pytest.fixture
def provider():
    return sandbox_provider()


@pytest.fixture
def published(monkeypatch) -> list[partner_events.PartnerEvent]:
    seen: list[partner_events.PartnerEvent] = []
    real = partner_events.partner_events_publish_many

    def spy(*, events):
        seen.extend(events)
        return real(events=events)

    monkeypatch.setattr(partner_notifications, "partner_events_publish_many", spy)
    return seen


def _expected(warehouse, provider, at, country="NL"):
    tables = promise_tables()
    return promise_for(
        tables.calendar(warehouse.pk), at, tables.transit_days(provider.pk, None, country)
    )


# --- Planning ------------------------------------------------------------------------


def test_each_planned_shipment_gets_the_promise_of_its_site_and_provider(provider):
    berlin = WarehouseFactory(timezone="Europe/Berlin", working_days=[1, 2, 3, 4, 5])
    tokyo = WarehouseFactory(timezone="Asia/Tokyo", working_days=[1, 2, 3, 4, 5, 6, 7])
    TransitTime.objects.create(provider=provider, countries=["NL"], days=4)
    order = allocated_order(warehouses=[berlin, tokyo], quantities=[1, 1])
    before = timezone.now()
    shipments = shipments_plan_for_order(order=order, actor="test")
    after = timezone.now()
    by_site = {s.warehouse_id: s for s in Shipment.objects.filter(order=order)}
    assert len(shipments) == 2
    for site in (berlin, tokyo):
        shipment = by_site[site.pk]
        promise = (shipment.ship_by, shipment.promised_delivery_date)
        assert promise in {
            (p.ship_by, p.promised_delivery_date)
            for p in (_expected(site, provider, before), _expected(site, provider, after))
        }
    order.refresh_from_db()
    assert order.ship_by == min(s.ship_by for s in by_site.values())
    assert order.promised_delivery_date == max(s.promised_delivery_date for s in by_site.values())


def test_the_caller_s_order_instance_gets_the_promise_too(provider):
    order = allocated_order()
    shipments_plan_for_order(order=order, actor="test")
    assert order.ship_by is not None
    assert order.ship_by == Order.objects.get(pk=order.pk).ship_by


# --- order_promise_refresh -----------------------------------------------------------


def _shipment(order, ship_by, promised, **kwargs):
    return ShipmentFactory(order=order, ship_by=ship_by, promised_delivery_date=promised, **kwargs)


def test_refresh_takes_the_earliest_ship_by_and_the_latest_delivery():
    order = OrderFactory(status=Order.Status.IN_FULFILMENT)
    _shipment(order, D(2026, 12, 8), D(2026, 12, 10))
    _shipment(order, D(2026, 12, 9), D(2026, 12, 14))
    _shipment(order, D(2026, 12, 1), D(2026, 12, 20), status=Shipment.Status.CANCELLED)
    assert order_promise_refresh(order=order) is True
    order.refresh_from_db()
    assert (order.ship_by, order.promised_delivery_date) == (D(2026, 12, 8), D(2026, 12, 14))


def test_refresh_counts_the_waiting_shipments_ship_by_once_one_has_left():
    order = OrderFactory(status=Order.Status.IN_FULFILMENT)
    _shipment(order, D(2026, 12, 1), D(2026, 12, 3), status=Shipment.Status.IN_TRANSIT)
    _shipment(order, D(2026, 12, 9), D(2026, 12, 11))
    order_promise_refresh(order=order)
    order.refresh_from_db()
    assert (order.ship_by, order.promised_delivery_date) == (D(2026, 12, 9), D(2026, 12, 11))


def test_refresh_writes_nothing_when_the_promise_is_unchanged(django_assert_num_queries):
    order = OrderFactory(
        status=Order.Status.IN_FULFILMENT,
        ship_by=D(2026, 12, 8),
        promised_delivery_date=D(2026, 12, 10),
    )
    shipments = [_shipment(order, D(2026, 12, 8), D(2026, 12, 10))]
    with django_assert_num_queries(0):
        assert order_promise_refresh(order=order, shipments=shipments) is False


def test_refresh_keeps_the_order_s_promise_without_promising_shipments():
    order = OrderFactory(ship_by=D(2026, 12, 8), promised_delivery_date=D(2026, 12, 10))
    _shipment(order, None, None)
    assert order_promise_refresh(order=order) is False
    order.refresh_from_db()
    assert order.ship_by == D(2026, 12, 8)


def test_the_database_refuses_an_order_shipping_after_its_delivery_date():
    with pytest.raises(IntegrityError), transaction.atomic():
        OrderFactory(ship_by=D(2026, 12, 9), promised_delivery_date=D(2026, 12, 8))


def test_the_database_refuses_a_shipment_shipping_after_its_delivery_date():
    order = OrderFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        _shipment(order, D(2026, 12, 9), D(2026, 12, 8))


# --- Partner API ---------------------------------------------------------------------


def test_order_detail_and_list_show_the_promise_as_iso_dates(api_client, api_channel):
    promised = OrderFactory(
        channel=api_channel, ship_by=D(2026, 12, 8), promised_delivery_date=D(2026, 12, 10)
    )
    OrderFactory(channel=api_channel)  # no promise yet
    detail = api_client.get(f"/api/v1/orders/{promised.number}/").json()
    assert (detail["ship_by"], detail["promised_delivery_date"]) == ("2026-12-08", "2026-12-10")
    listed = {o["number"]: o for o in api_client.get("/api/v1/orders/").json()["results"]}
    assert listed[promised.number]["ship_by"] == "2026-12-08"
    assert [
        (o["ship_by"], o["promised_delivery_date"])
        for n, o in listed.items()
        if n != promised.number
    ] == [(None, None)]


def test_every_shipment_shows_warehouse_provider_and_promise(api_client, api_channel):
    order = OrderFactory(channel=api_channel)
    shipment = _shipment(order, D(2026, 12, 8), D(2026, 12, 10))
    (row,) = api_client.get(f"/api/v1/orders/{order.number}/shipments/").json()
    assert row["warehouse"] == shipment.warehouse.code
    assert row["provider"] == shipment.provider.code
    assert (row["ship_by"], row["promised_delivery_date"]) == ("2026-12-08", "2026-12-10")


def test_the_order_list_reads_a_constant_number_of_queries(
    api_client, api_channel, django_assert_max_num_queries
):
    for day in range(1, 6):
        OrderFactory(
            channel=api_channel, ship_by=D(2026, 12, day), promised_delivery_date=D(2026, 12, 9)
        )
    api_client.get("/api/v1/orders/")  # warm the key cache
    with django_assert_max_num_queries(6):
        assert api_client.get("/api/v1/orders/").status_code == 200


@pytest.fixture
def stocked_channel(api_world, api_channel):
    site = WarehouseFactory(timezone="Europe/London", country="GB")
    ChannelWarehouse.objects.create(channel=api_channel, warehouse=site, priority=1)
    for product in api_world["products"]:
        StockLevelFactory(product=product, warehouse=site, on_hand=50)
    return site


def test_an_order_taken_through_the_api_answers_with_its_promise(
    api_client, order_payload, stocked_channel, published
):
    with CaptureQueriesContext(connection) as queries:
        body = api_client.post("/api/v1/orders/", order_payload, format="json").json()
    # The promise rides on the status write of planning: no UPDATE of its own.
    assert not [q for q in queries.captured_queries if q["sql"].startswith('UPDATE "orders_order"')]
    assert body["status"] == "in_fulfilment"
    assert body["ship_by"] is not None
    assert body["ship_by"] <= body["promised_delivery_date"]
    (shipment,) = body["shipments"]
    assert shipment["warehouse"] == stocked_channel.code
    assert shipment["provider"] == "apisandbox"
    assert shipment["promised_delivery_date"] == body["promised_delivery_date"]
    created = [e for e in published if e.topic == Topic.ORDER_CREATED]
    assert created[0].data["ship_by"] == body["ship_by"]
    assert (
        created[0].data["shipments"][0]["promised_delivery_date"]
        == shipment["promised_delivery_date"]
    )


def test_the_schema_documents_the_promise_as_nullable_dates():
    schema = json.loads(Client().get("/api/schema/", {"format": "json"}).content)
    components = schema["components"]["schemas"]
    for name in ("Order", "OrderDetail", "Shipment"):
        for field in ("ship_by", "promised_delivery_date"):
            prop = components[name]["properties"][field]
            assert (prop["type"], prop["format"], prop.get("nullable")) == (
                "string",
                "date",
                True,
            ), (name, field)
            assert field in components[name]["required"]
    for name in ("WebhookOrder", "WebhookShipment", "WebhookShipmentDetail"):
        assert components[name]["properties"]["promised_delivery_date"]["format"] == "date"


# --- Partner webhooks ----------------------------------------------------------------


def test_shipment_created_carries_the_shipment_s_promise(provider, published):
    order = allocated_order()
    (shipment,) = shipments_plan_for_order(order=order, actor="test")
    (event,) = [e for e in published if e.topic == Topic.SHIPMENT_CREATED]
    assert event.data["shipment"]["ship_by"] == shipment.ship_by.isoformat()
    assert event.data["shipment"]["promised_delivery_date"] == (
        shipment.promised_delivery_date.isoformat()
    )


def test_order_events_carry_the_order_s_promise():
    order = OrderFactory(ship_by=D(2026, 12, 8), promised_delivery_date=D(2026, 12, 10))
    _shipment(order, D(2026, 12, 8), D(2026, 12, 10))
    data = partner_notifications.order_data(order=order)
    assert (data["ship_by"], data["promised_delivery_date"]) == ("2026-12-08", "2026-12-10")
    assert data["shipments"][0]["promised_delivery_date"] == "2026-12-10"


def test_an_order_without_a_promise_says_null():
    data = partner_notifications.order_data(order=OrderFactory(), shipments=[])
    assert (data["ship_by"], data["promised_delivery_date"]) == (None, None)


def test_batch_intake_promises_like_planning(api_client, order_payload, stocked_channel):
    orders = []
    for n in range(3):
        payload = dict(order_payload, external_reference=f"BATCH-{n}")
        orders.append(payload)
    response = api_client.post("/api/v1/orders/batch", {"orders": orders}, format="json")
    assert response.status_code in (200, 201, 207), response.content
    created = Order.objects.filter(external_reference__startswith="BATCH-")
    assert created.count() == 3
    for order in created:
        shipment = Shipment.objects.get(order=order)
        assert shipment.ship_by is not None
        assert (order.ship_by, order.promised_delivery_date) == (
            shipment.ship_by,
            shipment.promised_delivery_date,
        )
    assert not Allocation.objects.filter(order_line__order__in=created, status="released").exists()


def test_a_reroute_promises_again_with_the_new_provider_s_transit_time():
    site = WarehouseFactory(working_days=[1, 2, 3, 4, 5, 6, 7])
    slow, fast = ProviderFactory(), ProviderFactory()
    TransitTime.objects.create(provider=fast, days=0)
    order = OrderFactory(
        status=Order.Status.IN_FULFILMENT,
        ship_by=D(2026, 1, 5),
        promised_delivery_date=D(2026, 1, 20),
    )
    shipment = _shipment(
        order,
        D(2026, 1, 5),
        D(2026, 1, 20),
        warehouse=site,
        provider=slow,
        status=Shipment.Status.DISPATCH_FAILED,
    )
    DispatchOutbox.objects.create(
        shipment=shipment,
        status=DispatchOutbox.Status.REJECTED,
        attempts=1,
        last_status_code=422,
        next_attempt_at=timezone.now(),
    )
    shipment_dispatch_reroute(shipment=shipment, provider=fast, actor="test")
    shipment.refresh_from_db()
    order.refresh_from_db()
    assert shipment.ship_by == shipment.promised_delivery_date  # 0 days with `fast`
    assert shipment.ship_by >= timezone.now().date() - dt.timedelta(days=1)
    assert (order.ship_by, order.promised_delivery_date) == (
        shipment.ship_by,
        shipment.promised_delivery_date,
    )
