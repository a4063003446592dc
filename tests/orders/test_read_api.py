"""GET /api/v1/orders/ (filters, cursor pagination), order detail, shipments, inventory."""

from datetime import timedelta

import pytest
from django.utils import timezone

from orders.models import Order
from tests.inventory.factories import ProductFactory, StockLevelFactory, WarehouseFactory
from tests.logistics.factories import ShipmentFactory, TrackingEventFactory
from tests.orders.factories import OrderFactory, OrderLineFactory

URL = "/api/v1/orders/"


def _numbers(response):
    assert response.status_code == 200, response.content
    return [o["number"] for o in response.json()["results"]]


def _make_orders(channel, count, **kwargs):
    return [OrderFactory(channel=channel, **kwargs) for _ in range(count)]


def test_list_newest_first(api_client, api_channel):
    orders = _make_orders(api_channel, 3)
    assert _numbers(api_client.get(URL)) == [o.number for o in reversed(orders)]


def test_filter_by_status(api_client, api_channel):
    OrderFactory(channel=api_channel)
    held = OrderFactory(channel=api_channel, status="on_hold")
    assert _numbers(api_client.get(URL, {"status": "on_hold"})) == [held.number]


def test_filter_by_several_statuses(api_client, api_channel):
    a = OrderFactory(channel=api_channel, status="on_hold")
    b = OrderFactory(channel=api_channel, status="backordered")
    OrderFactory(channel=api_channel)
    numbers = _numbers(api_client.get(f"{URL}?status=on_hold&status=backordered"))
    assert sorted(numbers) == sorted([a.number, b.number])


def test_filter_by_external_reference(api_client, api_channel):
    OrderFactory(channel=api_channel)
    wanted = OrderFactory(channel=api_channel, external_reference="ERP-77")
    assert _numbers(api_client.get(URL, {"external_reference": "ERP-77"})) == [wanted.number]


def test_filter_by_email_is_case_insensitive(api_client, api_channel):
    OrderFactory(channel=api_channel)
    wanted = OrderFactory(channel=api_channel, customer_email="Grace@Example.com")
    assert _numbers(api_client.get(URL, {"email": "grace@example.COM"})) == [wanted.number]


def test_filter_by_updated_and_created_ranges(api_client, api_channel):
    old, new = _make_orders(api_channel, 2)
    long_ago = timezone.now() - timedelta(days=3)
    Order.objects.filter(pk=old.pk).update(updated_at=long_ago, created_at=long_ago)
    since = (timezone.now() - timedelta(days=1)).isoformat()
    assert _numbers(api_client.get(URL, {"updated_after": since})) == [new.number]
    assert _numbers(api_client.get(URL, {"created_before": since})) == [old.number]
    assert _numbers(api_client.get(URL, {"created_after": since})) == [new.number]
    assert _numbers(api_client.get(URL, {"updated_before": since})) == [old.number]


@pytest.mark.parametrize(
    "query",
    [
        {"status": "nonsense"},
        {"updated_after": "yesterday"},
        {"cursor": "garbage"},
        {"ordering": "number"},
        {"page_size": "0"},
        {"page_size": "201"},
    ],
)
def test_bad_query_parameter_is_400_problem(api_client, query):
    response = api_client.get(URL, query)
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["errors"][0]["field"] == next(iter(query))


def test_cursor_pagination_walks_every_order_once(api_client, api_channel):
    orders = _make_orders(api_channel, 7)
    seen, url = [], f"{URL}?page_size=3"
    while url:
        body = api_client.get(url).json()
        seen += [o["number"] for o in body["results"]]
        url = body["next"]
    assert seen == [o.number for o in reversed(orders)]


def test_cursor_is_stable_under_inserts(api_client, api_channel):
    orders = _make_orders(api_channel, 4)
    first = api_client.get(URL, {"page_size": 2}).json()
    _make_orders(api_channel, 3)  # arrive while the partner pages
    second = api_client.get(URL, {"page_size": 2, "cursor": first["next_cursor"]}).json()
    assert [o["number"] for o in second["results"]] == [orders[1].number, orders[0].number]
    assert second["next"] is None


def test_ascending_updated_at_ordering_for_sync(api_client, api_channel):
    a, b = _make_orders(api_channel, 2)
    Order.objects.filter(pk=a.pk).update(updated_at=timezone.now() + timedelta(seconds=5))
    assert _numbers(api_client.get(URL, {"ordering": "updated_at"})) == [b.number, a.number]


def test_list_uses_constant_number_of_queries(
    api_client, api_channel, django_assert_max_num_queries
):
    for order in _make_orders(api_channel, 3):
        OrderLineFactory(order=order)
    with django_assert_max_num_queries(4):
        api_client.get(URL)
    for order in _make_orders(api_channel, 20):
        OrderLineFactory(order=order)
        OrderLineFactory(order=order)
    with django_assert_max_num_queries(4):
        assert len(api_client.get(URL).json()["results"]) == 23


def test_detail_has_lines_allocations_shipments_and_tracking(
    api_client, api_channel, django_assert_max_num_queries
):
    from inventory.models import Allocation

    order = OrderFactory(channel=api_channel)
    line = OrderLineFactory(order=order, quantity=2)
    warehouse = WarehouseFactory(code="ams")
    Allocation.objects.create(order_line=line, warehouse=warehouse, quantity=2)
    shipment = ShipmentFactory(order=order, warehouse=warehouse, tracking_number="TRK1")
    shipment.lines.create(order_line=line, quantity=2)
    TrackingEventFactory(shipment=shipment, status="in_transit")
    with django_assert_max_num_queries(12):
        body = api_client.get(f"{URL}{order.number}/").json()
    assert body["lines"][0]["allocations"] == [
        {"warehouse": "ams", "quantity": 2, "status": "active"}
    ]
    [shipped] = body["shipments"]
    assert shipped["tracking_number"] == "TRK1"
    assert shipped["lines"] == [{"line_number": line.line_number, "sku": line.sku, "quantity": 2}]
    assert [t["status"] for t in shipped["tracking"]] == ["in_transit"]


def test_shipments_endpoint_lists_tracking(api_client, api_channel):
    order = OrderFactory(channel=api_channel)
    shipment = ShipmentFactory(order=order, tracking_number="TRK2")
    TrackingEventFactory(shipment=shipment, status="delivered")
    body = api_client.get(f"{URL}{order.number}/shipments/").json()
    assert [(s["tracking_number"], [t["status"] for t in s["tracking"]]) for s in body] == [
        ("TRK2", ["delivered"])
    ]


def test_inventory_sums_available_over_channel_warehouses(api_client, api_channel):
    from orders.models import ChannelWarehouse

    product = ProductFactory(sku="INV-1")
    mine_a, mine_b, other = WarehouseFactory(), WarehouseFactory(), WarehouseFactory()
    for warehouse in (mine_a, mine_b):
        ChannelWarehouse.objects.create(channel=api_channel, warehouse=warehouse)
    StockLevelFactory(product=product, warehouse=mine_a, on_hand=10, reserved=3)
    StockLevelFactory(product=product, warehouse=mine_b, on_hand=5, reserved=0)
    StockLevelFactory(product=product, warehouse=other, on_hand=100, reserved=0)
    response = api_client.get("/api/v1/inventory/", {"sku": ["INV-1", "UNKNOWN"]})
    assert response.status_code == 200
    assert response.json() == [
        {"sku": "INV-1", "available": 12},
        {"sku": "UNKNOWN", "available": 0},
    ]


# Without `sku` at all it is the inventory feed (tests/partners/test_inventory_feed.py).
@pytest.mark.parametrize("query", ["?sku=", "?sku=A&sku="])
def test_inventory_with_a_blank_sku_is_400(api_client, query):
    response = api_client.get(f"/api/v1/inventory/{query}")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "sku"


def test_datetime_filter_with_offset_postgres_refuses_is_normalised(api_client, api_channel):
    order = OrderFactory(channel=api_channel)
    response = api_client.get(URL, {"created_after": "2000-01-01T00:00:00+22:40"})
    assert _numbers(response) == [order.number]
