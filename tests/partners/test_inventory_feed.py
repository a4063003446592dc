"""GET /api/v1/inventory/ without `sku`: the paged inventory feed and its deltas."""

from __future__ import annotations

import base64
import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from inventory.services.stock import stock_adjust, stock_receive
from orders.models import ChannelWarehouse
from tests.inventory.factories import ProductFactory, StockLevelFactory, WarehouseFactory

URL = "/api/v1/inventory/"

pytestmark = pytest.mark.django_db


@pytest.fixture
def feed(api_channel, api_other_channel):
    """Two warehouses of the key's channel, one of the other channel's, and ten SKUs."""
    east, west = WarehouseFactory(code="east"), WarehouseFactory(code="west")
    theirs = WarehouseFactory(code="theirs")
    for warehouse in (east, west):
        ChannelWarehouse.objects.create(channel=api_channel, warehouse=warehouse)
    ChannelWarehouse.objects.create(channel=api_other_channel, warehouse=theirs)
    products = [ProductFactory(sku=f"FEED-{n:02d}") for n in range(10)]
    ProductFactory(sku="FEED-RETIRED", is_active=False)
    for n, product in enumerate(products):
        if n % 2 == 0:
            StockLevelFactory(product=product, warehouse=east, on_hand=n + 5, reserved=2)
        if n % 3 == 0:
            StockLevelFactory(product=product, warehouse=west, on_hand=10, reserved=0)
        StockLevelFactory(product=product, warehouse=theirs, on_hand=500, reserved=0)
    return {"east": east, "west": west, "theirs": theirs, "products": products}


def _expected(n: int) -> int:
    return (n + 3 if n % 2 == 0 else 0) + (10 if n % 3 == 0 else 0)


def _walk(client, **params):
    items, cursors, changes, pages = [], [], set(), 0
    query = dict(params)
    while True:
        response = client.get(URL, query)
        assert response.status_code == 200, response.content
        body = response.json()
        pages += 1
        items += body["results"]
        changes.add(body["changes_cursor"])
        if body["next_cursor"] is None:
            assert body["next"] is None
            return items, pages, changes
        assert f"cursor={body['next_cursor']}" in body["next"]
        cursors.append(body["next_cursor"])
        query["cursor"] = body["next_cursor"]


def _problem(response, status: int) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    return response.json()


def test_pages_cover_every_active_sku_once_in_order(api_client, feed):
    items, pages, changes = _walk(api_client, page_size=3)
    assert [item["sku"] for item in items] == [f"FEED-{n:02d}" for n in range(10)]
    assert [item["available"] for item in items] == [_expected(n) for n in range(10)]
    assert pages == 4
    assert len(changes) == 1  # every page of one walk hands out the walk's changes cursor
    assert all(set(item) == {"sku", "available"} for item in items)


def test_one_page_when_everything_fits(api_client, feed):
    body = api_client.get(URL).json()
    assert len(body["results"]) == 10
    assert body["next_cursor"] is None


def test_by_warehouse_lists_the_channels_warehouses(api_client, feed):
    items, _, _ = _walk(api_client, page_size=4, by_warehouse=1)
    assert items[0] == {
        "sku": "FEED-00",
        "available": 13,
        "warehouses": [
            {"warehouse": "east", "available": 3},
            {"warehouse": "west", "available": 10},
        ],
    }
    assert items[1]["warehouses"] == [
        {"warehouse": "east", "available": 0},
        {"warehouse": "west", "available": 0},
    ]
    for item in items:
        assert sum(w["available"] for w in item["warehouses"]) == item["available"]


def test_a_channel_sees_only_its_own_warehouses(other_api_client, feed):
    items, _, _ = _walk(other_api_client, by_warehouse="true")
    assert {item["available"] for item in items} == {500}
    assert {w["warehouse"] for item in items for w in item["warehouses"]} == {"theirs"}


def test_a_channel_without_warehouses_sees_every_sku_at_zero(api_client, db):
    ProductFactory(sku="LONELY")
    body = api_client.get(URL, {"by_warehouse": 1}).json()
    assert body["results"] == [{"sku": "LONELY", "available": 0, "warehouses": []}]


def test_closed_warehouse_counts_nothing(api_client, feed):
    feed["west"].is_active = False
    feed["west"].save(update_fields=["is_active"])
    items, _, _ = _walk(api_client, by_warehouse=1)
    assert items[3] == {
        "sku": "FEED-03",
        "available": 0,
        "warehouses": [{"warehouse": "east", "available": 0}],
    }


def test_delta_returns_only_what_changed_since_the_cursor(api_client, feed):
    _, _, (changes,) = _walk(api_client)
    products = feed["products"]
    stock_receive(product=products[7], warehouse=feed["east"], quantity=4)
    stock_adjust(product=products[2], warehouse=feed["west"], delta=6, reason="found")
    stock_receive(product=products[5], warehouse=feed["theirs"], quantity=4)  # not ours
    items, _, (next_changes,) = _walk(api_client, updated_after=changes, page_size=1)
    # The test's own transaction is still open, so the stock written by the fixture comes
    # back too (a repeat, never a miss): what must be there, with current availability.
    by_sku = {item["sku"]: item["available"] for item in items}
    assert by_sku["FEED-07"] == 4
    assert by_sku["FEED-02"] == 5 + 6
    assert "FEED-05" not in by_sku
    assert next_changes


def test_delta_by_time(api_client, feed):
    from django.utils import timezone

    before = timezone.now()
    stock_receive(product=feed["products"][4], warehouse=feed["west"], quantity=1)
    body = api_client.get(URL, {"updated_after": before.isoformat()}).json()
    assert body["results"] == [{"sku": "FEED-04", "available": 7 + 1}]
    later = api_client.get(URL, {"updated_after": "2999-01-01T00:00:00Z"}).json()
    assert later["results"] == []
    assert later["next_cursor"] is None


def test_delta_by_warehouse_pages(api_client, feed):
    from django.utils import timezone

    before = timezone.now()
    for n in (1, 3, 8):
        stock_receive(product=feed["products"][n], warehouse=feed["east"], quantity=2)
    items, pages, _ = _walk(
        api_client, updated_after=before.isoformat(), by_warehouse=1, page_size=2
    )
    assert [item["sku"] for item in items] == ["FEED-01", "FEED-03", "FEED-08"]
    assert pages == 2
    assert items[1]["warehouses"] == [
        {"warehouse": "east", "available": 2},
        {"warehouse": "west", "available": 10},
    ]


def _b64(value) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "not-a-cursor",
        _b64(["FEED-01"]),
        _b64(["FEED-01", 5]),
        _b64(["FEED-01", -1, []]),
        _b64(["FEED-01", 2**64, []]),
        _b64(["FEED-01", 5, [5]]),
        _b64(["FEED-01", 5, [0]]),
        _b64(["FEED-01", 5, 3]),
        _b64(["FEED-01", 500, list(range(1, 102))]),
        _b64(["", 5, []]),
        _b64(["x" * 65, 5, []]),
        _b64([1, 5, []]),
        _b64(["FEED-01", True, []]),
        _b64({"a": 1, "b": 2}),
        _b64("[" * 1000),
        "[" * 1000,
        "A" * 600,
        "%ZZ",
    ],
)
def test_bad_cursor_is_a_400_problem(api_client, feed, cursor):
    body = _problem(api_client.get(URL, {"cursor": cursor}), 400)
    assert body["errors"] == [{"field": "cursor", "message": "Invalid cursor."}]


@pytest.mark.parametrize(
    "value",
    [
        "yesterday",
        "2024-02-30T00:00:00Z",
        _b64(["changes", 0, []]),
        _b64(["changes", "12", []]),
        _b64(["changes", 12]),
        _b64(["changes", 12, [12]]),
        _b64(["other", 12, []]),
        _b64(["FEED-01", 12, []]),  # a page cursor is not a changes cursor
        "A" * 3000,
        "0001-01-01T00:00:00+23:59",
    ],
)
def test_bad_updated_after_is_a_400_problem(api_client, feed, value):
    body = _problem(api_client.get(URL, {"updated_after": value}), 400)
    assert body["errors"][0]["field"] == "updated_after"


@pytest.mark.parametrize("size", ["0", "1001", "-1", "abc", "1.5", "99999999999"])
def test_page_size_outside_1_to_1000_is_400(api_client, feed, size):
    body = _problem(api_client.get(URL, {"page_size": size}), 400)
    assert body["errors"][0]["field"] == "page_size"


def test_page_size_1000_is_allowed(api_client, feed):
    assert api_client.get(URL, {"page_size": 1000}).status_code == 200


def test_by_warehouse_takes_only_a_flag(api_client, feed):
    body = _problem(api_client.get(URL, {"by_warehouse": "yes"}), 400)
    assert body["errors"][0]["field"] == "by_warehouse"
    assert "warehouses" not in api_client.get(URL, {"by_warehouse": 0}).json()["results"][0]


@pytest.mark.parametrize("name", ["cursor", "page_size", "by_warehouse", "updated_after"])
def test_feed_parameters_do_not_mix_with_sku(api_client, feed, name):
    body = _problem(api_client.get(URL, {"sku": "FEED-01", name: "1"}), 400)
    assert [error["field"] for error in body["errors"]] == [name]


def test_sku_lookup_still_answers_a_list(api_client, feed):
    response = api_client.get(URL, {"sku": ["FEED-00", "NOPE"]})
    assert response.json() == [{"sku": "FEED-00", "available": 13}, {"sku": "NOPE", "available": 0}]


def test_feed_needs_a_key(client, feed):
    _problem(client.get(URL), 401)


@pytest.mark.parametrize("by_warehouse", ["0", "1"])
def test_a_page_costs_the_same_queries_at_any_size(
    api_client, api_channel, by_warehouse, django_assert_max_num_queries
):
    warehouses = [WarehouseFactory(code=f"q-{n}") for n in range(3)]
    for warehouse in warehouses:
        ChannelWarehouse.objects.create(channel=api_channel, warehouse=warehouse)

    def make(count: int) -> None:
        for n in range(count):
            product = ProductFactory(sku=f"Q-{count}-{n:04d}")
            for warehouse in warehouses:
                StockLevelFactory(product=product, warehouse=warehouse, on_hand=3)

    def page_queries() -> tuple[int, int]:
        with CaptureQueriesContext(connection) as queries:
            body = api_client.get(URL, {"page_size": 1000, "by_warehouse": by_warehouse}).json()
        return len(queries), len(body["results"])

    make(2)
    small, served = page_queries()
    assert served == 2
    make(300)
    with django_assert_max_num_queries(small):
        assert page_queries()[1] == 302
    assert small <= 4  # the key, the channel's warehouses, the page
