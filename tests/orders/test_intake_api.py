"""POST /api/v1/orders/: creation, every validation rule, duplicate external references."""

from decimal import Decimal

import pytest

from orders.models import Order, OrderEvent

URL = "/api/v1/orders/"

pytestmark = pytest.mark.usefixtures("api_world")


def _post(client, payload, **headers):
    return client.post(URL, payload, format="json", headers=headers)


def test_create_returns_201_with_full_order(api_client, order_payload):
    response = _post(api_client, order_payload)
    assert response.status_code == 201
    body = response.json()
    assert body["number"].startswith("CS-")
    # Allocation runs at intake; the api_world channel holds no stock, so it backorders.
    assert body["status"] == "backordered"
    assert body["external_reference"] == "SHOP-1001"
    assert body["total_amount"] == "84.4000"
    assert body["service_level"] == "apisandbox:standard"
    assert body["shipping_address"]["country"] == "GB"
    assert [(line["sku"], line["quantity"]) for line in body["lines"]] == [
        ("API-TSHIRT", 2),
        ("API-MUG", 1),
        ("API-CAP", 3),
    ]
    assert body["shipments"] == []
    assert response["Location"] == f"/api/v1/orders/{body['number']}/"


def test_create_stores_order_lines_and_received_event(api_client, order_payload, api_key):
    number = _post(api_client, order_payload).json()["number"]
    order = Order.objects.get(number=number)
    assert order.lines.count() == 3
    assert order.total_amount == Decimal("84.40")
    event = OrderEvent.objects.get(order=order, type=OrderEvent.Type.RECEIVED)
    assert event.actor == f"api:{api_key[0].prefix}"
    assert event.parameters["lines"] == 3


def test_create_hands_order_to_fulfilment_in_same_transaction(
    api_client, order_payload, monkeypatch
):
    from django.db import connection

    calls = []

    def spy(*, order, user=None, actor=None, new_order=False):
        calls.append((order.number, connection.in_atomic_block))
        return order

    monkeypatch.setattr("orders.services.intake.order_fulfil", spy)
    number = _post(api_client, order_payload).json()["number"]
    assert calls == [(number, True)]


def test_failure_in_fulfilment_rolls_back_the_order(api_client, order_payload, monkeypatch):
    def boom(**kwargs):
        raise RuntimeError("allocation crashed")

    monkeypatch.setattr("orders.services.intake.order_fulfil", boom)
    api_client.raise_request_exception = False
    response = _post(api_client, order_payload)
    assert response.status_code == 500
    assert response["Content-Type"] == "application/problem+json"
    assert not Order.objects.exists()


def test_service_level_is_optional(api_client, order_payload):
    del order_payload["service_level"]
    response = _post(api_client, order_payload)
    assert response.status_code == 201
    assert response.json()["service_level"] is None


def test_service_level_by_code_alone_when_unique(api_client, order_payload):
    order_payload["service_level"] = "standard"
    assert _post(api_client, order_payload).json()["service_level"] == "apisandbox:standard"


def test_zero_decimal_currency_accepts_whole_prices(api_client, order_payload):
    order_payload["currency"] = "JPY"
    for line in order_payload["lines"]:
        line["unit_price"] = "1500"
    assert _post(api_client, order_payload).status_code == 201


def _set(payload, path, value):
    target = payload
    *parents, last = path
    for key in parents:
        target = target[key]
    if value is _DELETE:
        del target[last]
    else:
        target[last] = value


class _Delete:
    def __repr__(self) -> str:
        return "<deleted>"


_DELETE = _Delete()

# (path in the payload, new value, field named in the error)
INVALID = [
    (("external_reference",), _DELETE, "external_reference"),
    (("external_reference",), "", "external_reference"),
    (("external_reference",), "x" * 101, "external_reference"),
    (("currency",), "EURO", "currency"),
    (("currency",), "eur", "currency"),
    (("currency",), "ABC", "currency"),
    (("currency",), "XAU", "currency"),
    (("currency",), _DELETE, "currency"),
    (("customer",), _DELETE, "customer"),
    (("customer", "email"), "not-an-email", "customer.email"),
    (("customer", "email"), _DELETE, "customer.email"),
    (("customer", "name"), "", "customer.name"),
    (("customer", "name"), "n" * 201, "customer.name"),
    (("customer", "phone"), "1" * 41, "customer.phone"),
    (("shipping_address",), _DELETE, "shipping_address"),
    (("shipping_address", "name"), _DELETE, "shipping_address.name"),
    (("shipping_address", "line1"), "", "shipping_address.line1"),
    (("shipping_address", "city"), _DELETE, "shipping_address.city"),
    (("shipping_address", "postcode"), "p" * 21, "shipping_address.postcode"),
    (("shipping_address", "country"), "XX", "shipping_address.country"),
    (("shipping_address", "country"), "gb", "shipping_address.country"),
    (("shipping_address", "country"), "GBR", "shipping_address.country"),
    (("shipping_address", "country"), _DELETE, "shipping_address.country"),
    (("lines",), [], "lines"),
    (("lines",), _DELETE, "lines"),
    (("lines",), "API-MUG", "lines"),
    (("lines", 0, "sku"), "NO-SUCH-SKU", "lines[0].sku"),
    (("lines", 1, "sku"), "API-RETIRED", "lines[1].sku"),
    (("lines", 0, "sku"), _DELETE, "lines[0].sku"),
    (("lines", 0, "quantity"), 0, "lines[0].quantity"),
    (("lines", 0, "quantity"), -1, "lines[0].quantity"),
    (("lines", 0, "quantity"), 10_001, "lines[0].quantity"),
    (("lines", 0, "quantity"), "two", "lines[0].quantity"),
    (("lines", 2, "quantity"), 1.5, "lines[2].quantity"),
    (("lines", 0, "unit_price"), "-0.01", "lines[0].unit_price"),
    (("lines", 0, "unit_price"), "19.999", "lines[0].unit_price"),
    (("lines", 0, "unit_price"), "abc", "lines[0].unit_price"),
    (("lines", 0, "unit_price"), "NaN", "lines[0].unit_price"),
    (("lines", 0, "unit_price"), _DELETE, "lines[0].unit_price"),
    (("service_level",), "carrier-pigeon", "service_level"),
    (("placed_at",), "0001-01-01T00:00:00Z", "placed_at"),
    (("placed_at",), "0001-01-01T00:00:00+01:00", "placed_at"),
    (("placed_at",), "9999-12-31T23:59:59Z", "placed_at"),
    (("placed_at",), "1999-12-31T23:59:59Z", "placed_at"),
]


@pytest.mark.parametrize(
    ("path", "value", "field"), INVALID, ids=[f"{f}={v!r}"[:60] for _, v, f in INVALID]
)
def test_invalid_field_is_422_naming_the_field(api_client, order_payload, path, value, field):
    _set(order_payload, path, value)
    response = _post(api_client, order_payload)
    assert response.status_code == 422, response.content
    assert response["Content-Type"] == "application/problem+json"
    fields = [error["field"] for error in response.json()["errors"]]
    assert field in fields
    assert not Order.objects.exists()


def test_more_than_500_lines_is_422(api_client, order_payload):
    order_payload["lines"] = [{"sku": "API-MUG", "quantity": 1, "unit_price": "1.00"}] * 501
    response = _post(api_client, order_payload)
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["lines"]


def test_500_lines_are_accepted(api_client, order_payload):
    order_payload["lines"] = [{"sku": "API-MUG", "quantity": 1, "unit_price": "1.00"}] * 500
    assert _post(api_client, order_payload).status_code == 201


def test_yen_price_with_decimals_is_422(api_client, order_payload):
    order_payload["currency"] = "JPY"
    order_payload["lines"][0]["unit_price"] = "1500.50"
    order_payload["lines"][1]["unit_price"] = "100"
    order_payload["lines"][2]["unit_price"] = "100"
    response = _post(api_client, order_payload)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "lines[0].unit_price"


def test_total_beyond_storable_amount_is_422_not_500(api_client, order_payload):
    order_payload["lines"][0]["unit_price"] = "9999999999.99"
    order_payload["lines"][0]["quantity"] = 10_000
    assert _post(api_client, order_payload).status_code == 422


def test_all_errors_are_reported_at_once(api_client, order_payload):
    order_payload["currency"] = "???"
    order_payload["customer"]["email"] = "nope"
    order_payload["lines"][1]["quantity"] = 0
    fields = {e["field"] for e in _post(api_client, order_payload).json()["errors"]}
    assert {"currency", "customer.email", "lines[1].quantity"} <= fields


def test_duplicate_external_reference_is_409_naming_existing_order(api_client, order_payload):
    first = _post(api_client, order_payload).json()["number"]
    response = _post(api_client, order_payload)
    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "duplicate_external_reference"
    assert body["existing_order"] == first
    assert first in body["detail"]
    assert Order.objects.count() == 1


def test_same_external_reference_in_another_channel_is_allowed(
    api_client, other_api_client, order_payload
):
    assert _post(api_client, order_payload).status_code == 201
    assert _post(other_api_client, order_payload).status_code == 201


def test_create_response_equals_the_order_as_read_back(api_client, order_payload):
    created = _post(api_client, order_payload).json()
    assert api_client.get(f"{URL}{created['number']}/").json() == created


@pytest.fixture
def stocked(api_world, api_channel):
    """Stock for every payload SKU in a warehouse of the channel, in country `country`."""
    from orders.models import ChannelWarehouse
    from tests.inventory.factories import StockLevelFactory, WarehouseFactory

    def make(country):
        warehouse = WarehouseFactory(country=country)
        ChannelWarehouse.objects.create(channel=api_channel, warehouse=warehouse)
        for product in api_world["products"]:
            StockLevelFactory(product=product, warehouse=warehouse, on_hand=100)
        return warehouse

    return make


@pytest.mark.parametrize(
    ("country", "status"),
    [
        ("GB", "in_fulfilment"),  # same country as the address: planned and queued
        # NL -> GB crosses a customs border: the declaration is built for the new shipment.
        ("NL", "in_fulfilment"),
    ],
)
def test_created_response_with_shipments_equals_the_order_as_read_back(
    api_client, order_payload, stocked, country, status
):
    stocked(country)
    created = _post(api_client, order_payload).json()
    assert created["status"] == status
    assert len(created["shipments"]) == 1
    assert [line["allocations"][0]["quantity"] for line in created["lines"]] == [2, 1, 3]
    assert api_client.get(f"{URL}{created['number']}/").json() == created


def test_created_response_is_rendered_in_one_statement(
    api_client, order_payload, stocked, monkeypatch
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    import orders.services.partner_notifications
    import partners.api.orders

    stocked("GB")
    counts = []
    rendered = []
    original = partners.api.orders.order_detail_json
    render = orders.services.partner_notifications.orders_detail_json_by_ids

    def spy(*, order):
        with CaptureQueriesContext(connection) as queries:
            text = original(order=order)
        counts.append(len(queries.captured_queries))
        return text

    def render_spy(*, order_ids):
        with CaptureQueriesContext(connection) as queries:
            texts = render(order_ids=order_ids)
        rendered.append(len(queries.captured_queries))
        return texts

    monkeypatch.setattr(partners.api.orders, "order_detail_json", spy)
    monkeypatch.setattr(
        orders.services.partner_notifications, "orders_detail_json_by_ids", render_spy
    )
    response = _post(api_client, order_payload)
    assert response.status_code == 201
    assert response.json()["lines"][0]["allocations"]
    # Intake renders it once, for order.created; the 201 response reuses that text.
    assert rendered == [1]
    assert counts == [0]


def test_placed_at_is_accepted_within_its_window_and_refused_just_outside(
    api_client, order_payload
):
    from datetime import UTC, datetime, timedelta

    now = datetime.now(UTC)
    cases = [
        ("2000-01-01T00:00:00Z", 201),
        ((now + timedelta(hours=23)).isoformat(), 201),
        ((now + timedelta(hours=25)).isoformat(), 422),
    ]
    for index, (placed_at, expected) in enumerate(cases):
        order_payload["external_reference"] = f"SHOP-PLACED-{index}"
        order_payload["placed_at"] = placed_at
        response = _post(api_client, order_payload)
        assert response.status_code == expected, (placed_at, response.content)
        if expected == 422:
            assert [e["field"] for e in response.json()["errors"]] == ["placed_at"]
    stored = Order.objects.get(external_reference="SHOP-PLACED-0").placed_at
    assert stored == datetime(2000, 1, 1, tzinfo=UTC)
