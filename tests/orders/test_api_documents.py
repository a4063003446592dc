"""The JSON Postgres renders (orders/sql.py) is what the documented serializers give.

The serializers are the reference (the OpenAPI schema is built from them); the
reference side loads model instances with the ORM and runs them through DRF.
"""

import json
from datetime import UTC, datetime

import pytest
from django.db import connection
from django.db.models import Prefetch
from rest_framework.renderers import JSONRenderer

from inventory.models import Allocation
from logistics.models import Parcel, Shipment, ShipmentLine, TrackingEvent
from orders import sql as orders_sql
from orders.models import Order, OrderLine
from orders.serializers import OrderDetailSerializer, OrderSerializer, ShipmentSerializer
from tests.inventory.factories import WarehouseFactory
from tests.logistics.factories import ServiceLevelFactory, ShipmentFactory, TrackingEventFactory
from tests.orders.factories import OrderFactory, OrderLineFactory

pytestmark = pytest.mark.django_db

_SHIPMENTS = Shipment.objects.select_related(
    "provider", "warehouse", "service_level__provider"
).prefetch_related(
    Prefetch("lines", queryset=ShipmentLine.objects.select_related("order_line").order_by("id")),
    Prefetch("parcels", queryset=Parcel.objects.order_by("id")),
    Prefetch("tracking_events", queryset=TrackingEvent.objects.order_by("occurred_at", "id")),
)


def _reference_detail(order: Order) -> dict:
    loaded = (
        Order.objects.select_related("channel", "service_level__provider")
        .prefetch_related(
            Prefetch("lines", queryset=OrderLine.objects.order_by("line_number")),
            Prefetch(
                "lines__allocations",
                queryset=Allocation.objects.select_related("warehouse").order_by("id"),
            ),
            Prefetch("shipments", queryset=_SHIPMENTS.order_by("id")),
        )
        .get(pk=order.pk)
    )
    return _as_json(OrderDetailSerializer(loaded).data)


def _as_json(data) -> object:
    """What a client parses from DRF's rendering of `data`."""
    return json.loads(JSONRenderer().render(data))


@pytest.fixture
def full_order(api_channel):
    """An order with every kind of value: nulls, microseconds and none, escapes, two shipments."""
    level = ServiceLevelFactory(provider__code="fastlsp", code="express")
    level.provider.tracking_url_template = "https://track.example/{tracking_number}?q={x}"
    level.provider.save()
    order = OrderFactory(
        channel=api_channel,
        service_level=level,
        status="cancelled",
        cancelled_at=datetime(2026, 3, 1, 12, 30, 15, 123456, tzinfo=UTC),
        placed_at=datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC),
        total_amount="1234.5",
        customer_name='Zoë "Quote" O\'Brien \\ ünïcødé 名前',
        shipping_line2="Tab\there\nnewline",
    )
    first = OrderLineFactory(
        order=order, quantity=3, unit_price="0.1", quantity_shipped=2, quantity_cancelled=1
    )
    second = OrderLineFactory(order=order, quantity=1, unit_price="1000000")
    warehouse = WarehouseFactory(code="fast-wh")
    other = WarehouseFactory(code="other-wh")
    Allocation.objects.create(order_line=first, warehouse=other, quantity=1, status="active")
    Allocation.objects.create(order_line=first, warehouse=warehouse, quantity=3, status="released")
    shipment = ShipmentFactory(
        order=order,
        warehouse=warehouse,
        provider=level.provider,
        service_level=level,
        tracking_number="TRK 1/2",
        dispatched_at=datetime(2026, 3, 2, 8, 0, 0, 500000, tzinfo=UTC),
    )
    shipment.lines.create(order_line=second, quantity=1)
    shipment.lines.create(order_line=first, quantity=2)
    shipment.parcels.create(weight_grams=450, tracking_number="P2")
    shipment.parcels.create(weight_grams=10, tracking_number="P1")
    same = datetime(2026, 3, 3, 9, 0, tzinfo=UTC)
    TrackingEventFactory(shipment=shipment, status="in_transit", occurred_at=same)
    TrackingEventFactory(
        shipment=shipment, status="exception", description="Damaged", occurred_at=same
    )
    TrackingEventFactory(
        shipment=shipment, status="info_received", occurred_at=datetime(2026, 3, 2, tzinfo=UTC)
    )
    ShipmentFactory(order=order, warehouse=other, provider=level.provider, service_level=None)
    return order


def test_order_detail_matches_the_serializer(api_channel, full_order):
    text = orders_sql.order_detail_json(channel_id=api_channel.pk, number=full_order.number)
    assert json.loads(text) == _reference_detail(full_order)


def test_order_detail_keeps_the_serializers_field_order(api_channel, full_order):
    document = json.loads(
        orders_sql.order_detail_json(channel_id=api_channel.pk, number=full_order.number)
    )
    reference = _reference_detail(full_order)
    assert list(document) == list(reference)
    assert list(document["shipments"][0]) == list(reference["shipments"][0])
    assert list(document["lines"][0]) == list(reference["lines"][0])


def test_bare_order_matches_the_serializer(api_channel):
    order = OrderFactory(channel=api_channel, service_level=None)
    document = json.loads(orders_sql.order_detail_json_by_id(order_id=order.pk))
    assert document == _reference_detail(order)
    assert document["lines"] == []
    assert document["shipments"] == []
    assert document["service_level"] is None


def test_list_matches_the_serializer_in_the_order_asked(api_channel, full_order):
    others = [OrderFactory(channel=api_channel) for _ in range(2)]
    for order in others:
        OrderLineFactory(order=order)
    ids = [others[1].pk, full_order.pk, others[0].pk]
    loaded = Order.objects.select_related("channel", "service_level__provider").prefetch_related(
        Prefetch("lines", queryset=OrderLine.objects.order_by("line_number"))
    )
    by_id = {order.pk: order for order in loaded.filter(pk__in=ids)}
    reference = _as_json(OrderSerializer([by_id[pk] for pk in ids], many=True).data)
    assert json.loads(_page(ids)) == reference


def test_empty_list_is_an_empty_array(db):
    assert json.loads(_page([])) == []


def _page(order_ids: list[int]) -> str:
    # The list endpoint runs ORDER_PAGE_SQL over the page core.pagination selects;
    # here the page is a literal list of ids in the order asked.
    page = "WITH page(pk, n) AS (SELECT * FROM unnest(%s::bigint[]) WITH ORDINALITY) "
    with connection.cursor() as cursor:
        cursor.execute(page + orders_sql.ORDER_PAGE_SQL, [order_ids])
        return cursor.fetchone()[0]


def test_shipments_match_the_serializer(full_order):
    reference = _as_json(
        ShipmentSerializer(_SHIPMENTS.filter(order=full_order).order_by("id"), many=True).data
    )
    document = json.loads(orders_sql.shipments_json(order_id=full_order.pk))
    assert document == reference
    assert len(document) == 2
    assert document[0]["tracking_url"] == "https://track.example/TRK 1/2?q={x}"


def test_another_channels_order_is_not_found(full_order):
    other = OrderFactory()
    assert (
        orders_sql.order_detail_json(channel_id=other.channel_id, number=full_order.number) is None
    )
