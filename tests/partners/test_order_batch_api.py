"""POST /api/v1/orders/batch: per-order results in input order, whole-request errors, replays."""

from __future__ import annotations

import copy

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from inventory.models import StockLevel
from orders.models import Order, OrderLine
from tests.inventory.helpers import channel_with_warehouses, stock, warehouses

URL = "/api/v1/orders/batch"
SINGLE = "/api/v1/orders/"

pytestmark = pytest.mark.usefixtures("api_world")


def _order(order_payload, reference, **changes):
    payload = copy.deepcopy(order_payload)
    payload["external_reference"] = reference
    payload.update(changes)
    return payload


def _post(client, body, **headers):
    return client.post(URL, body, format="json", headers=headers)


def test_results_one_per_order_in_input_order(api_client, order_payload):
    bad_sku = [{"sku": "NOPE", "quantity": 1, "unit_price": "1.00"}]
    body = {
        "orders": [
            _order(order_payload, "B-1"),
            _order(order_payload, "B-2", lines=bad_sku),
            _order(order_payload, "B-1"),
            _order(order_payload, "B-3", currency="EURO"),
            _order(order_payload, "B-4"),
        ]
    }
    response = _post(api_client, body)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    results = response.json()["results"]
    assert [r["status"] for r in results] == [201, 422, 409, 422, 201]
    assert [r["order"]["external_reference"] for r in results if r["status"] == 201] == [
        "B-1",
        "B-4",
    ]
    assert all(set(r) == {"status", "order"} for r in results if r["status"] == 201)
    assert all(set(r) == {"status", "problem"} for r in results if r["status"] != 201)
    assert results[2]["problem"]["existing_order"] == results[0]["order"]["number"]
    assert set(Order.objects.values_list("external_reference", flat=True)) == {"B-1", "B-4"}


def test_a_created_order_reads_as_the_detail_endpoint_shows_it(api_client, order_payload):
    result = _post(api_client, {"orders": [order_payload]}).json()["results"][0]
    detail = api_client.get(f"/api/v1/orders/{result['order']['number']}/").json()
    assert result["order"] == detail


@pytest.mark.parametrize(
    "change",
    [
        {"lines": [{"sku": "NOPE", "quantity": 1, "unit_price": "1.00"}]},
        {"lines": [{"sku": "API-RETIRED", "quantity": 1, "unit_price": "1.00"}]},
        {"service_level": "nobody:express"},
        {"currency": "EURO"},
        {"lines": []},
        {"customer": {"email": "not-an-email", "name": "x"}},
    ],
)
def test_a_refused_order_has_the_single_create_s_problem(api_client, order_payload, change):
    item = _order(order_payload, "P-1", **change)
    single = api_client.post(SINGLE, item, format="json")
    assert single.status_code == 422
    Order.objects.all().delete()
    result = _post(api_client, {"orders": [item]}).json()["results"][0]
    assert result == {"status": 422, "problem": single.json()}
    assert not Order.objects.exists()
    assert not OrderLine.objects.exists()


def test_a_duplicate_has_the_single_create_s_409(api_client, order_payload):
    api_client.post(SINGLE, order_payload, format="json")
    single = api_client.post(SINGLE, order_payload, format="json")
    assert single.status_code == 409
    result = _post(api_client, {"orders": [order_payload]}).json()["results"][0]
    assert result == {"status": 409, "problem": single.json()}
    assert Order.objects.count() == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ([], ""),
        ({}, "orders"),
        ({"orders": []}, "orders"),
        ({"orders": "SHOP-1"}, "orders"),
    ],
)
def test_a_malformed_body_is_one_422_for_the_whole_request(api_client, body, field):
    response = _post(api_client, body)
    assert response.status_code == 422
    assert response["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == "invalid_order"
    assert field in [error["field"] for error in problem["errors"]]
    assert not Order.objects.exists()


def test_more_than_500_orders_is_refused_whole(api_client, order_payload):
    body = {"orders": [_order(order_payload, f"M-{i}") for i in range(501)]}
    response = _post(api_client, body)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "orders"
    assert not Order.objects.exists()


def test_an_idempotent_replay_returns_the_same_body_and_creates_nothing(api_client, order_payload):
    body = {"orders": [_order(order_payload, "I-1"), _order(order_payload, "I-2")]}
    first = _post(api_client, body, **{"Idempotency-Key": "batch-1"})
    again = _post(api_client, body, **{"Idempotency-Key": "batch-1"})
    assert first.status_code == again.status_code == 200
    assert again.content == first.content
    assert again["Idempotent-Replayed"] == "true"
    assert Order.objects.count() == 2
    other = _post(api_client, {"orders": [order_payload]}, **{"Idempotency-Key": "batch-1"})
    assert other.status_code == 422
    assert other.json()["code"] == "idempotency_key_reused"


def test_a_value_of_the_wrong_json_type_refuses_the_whole_batch(api_client, order_payload):
    """A broken client, not a bad order: nothing is written (like products/batch)."""
    wrong_type = {**order_payload, "external_reference": "T-2", "currency": 978}
    response = _post(api_client, {"orders": [order_payload, 7, wrong_type]})
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"field": "orders[1]", "message": "Expected an object, got an integer."},
        {"field": "orders[2].currency", "message": "Expected a string, got an integer."},
    ]
    assert not Order.objects.exists()


def test_an_order_that_breaks_a_rule_is_that_order_s_422_only(api_client, order_payload):
    unknown = {
        **order_payload,
        "external_reference": "U-1",
        "lines": [{"sku": "NOPE", "quantity": 1, "unit_price": "1.00"}],
    }
    results = _post(api_client, {"orders": [order_payload, unknown]}).json()["results"]
    assert [r["status"] for r in results] == [201, 422]
    assert results[1]["problem"]["code"] == "invalid_order"


def test_without_a_key_a_retry_answers_409_per_order(api_client, order_payload):
    body = {"orders": [_order(order_payload, "R-1")]}
    _post(api_client, body)
    assert [r["status"] for r in _post(api_client, body).json()["results"]] == [409]


def test_another_channel_s_references_and_orders_stay_apart(
    api_client, other_api_client, order_payload
):
    mine = _post(api_client, {"orders": [order_payload]}).json()["results"][0]
    theirs = _post(other_api_client, {"orders": [order_payload]}).json()["results"][0]
    assert mine["status"] == theirs["status"] == 201
    assert theirs["order"]["channel"] == "marketplace"
    number = mine["order"]["number"]
    assert other_api_client.get(f"/api/v1/orders/{number}/").status_code == 404


def test_unauthenticated_is_401(order_payload):
    from rest_framework.test import APIClient

    response = APIClient().post(URL, {"orders": [order_payload]}, format="json")
    assert response.status_code == 401
    assert not Order.objects.exists()


def test_batch_reserves_stock_in_input_order(api_client, api_channel, order_payload):
    (east,) = warehouses("east")
    channel_with_warehouses(api_channel.code, [east])
    from inventory.models import Product

    stock(Product.objects.get(sku="API-MUG"), east, 2)
    line = [{"sku": "API-MUG", "quantity": 1, "unit_price": "8.50"}]
    body = {"orders": [_order(order_payload, f"S-{i}", lines=line) for i in range(3)]}
    results = _post(api_client, body).json()["results"]
    assert [r["order"]["status"] for r in results] == [
        "in_fulfilment",
        "in_fulfilment",
        "backordered",
    ]
    assert StockLevel.objects.get(warehouse=east).reserved == 2


def _queries_for(client, order_payload, prefix, count):
    body = {"orders": [_order(order_payload, f"{prefix}-{i}") for i in range(count)]}
    with CaptureQueriesContext(connection) as captured:
        response = _post(client, body)
    assert response.status_code == 200
    assert [r["status"] for r in response.json()["results"]] == [201] * count
    return len(captured)


def test_queries_do_not_grow_with_the_batch(api_client, order_payload):
    # Backordered orders (the api_world channel has no stock): intake, allocation and the
    # response are set-based, so ten orders and fifty cost the same number of statements.
    _queries_for(api_client, order_payload, "W", 1)  # the key's first use is recorded
    small = _queries_for(api_client, order_payload, "Q", 10)
    large = _queries_for(api_client, order_payload, "L", 50)
    assert large == small
    # 15, plus the partner events' one look-up of who subscribes (order.created for all).
    assert small <= 16


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_concurrent_batches_never_oversell(gunicorn_url):
    """Eight clients post batches at once for 3 SKUs with 10 units each in two warehouses."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    import httpx
    from django.core.management import call_command

    from partners.services import api_key_create
    from tests.fixtures.api import ORDER_PAYLOAD
    from tests.inventory.helpers import product
    from tests.logistics.factories import ServiceLevelFactory

    east, west = warehouses("east", "west")
    skus = [product(f"RACE-{i}") for i in range(3)]
    for sku in skus:
        stock(sku, east, 6)
        stock(sku, west, 4)
    ServiceLevelFactory(provider__code="apisandbox", code="standard")
    keys = [
        api_key_create(channel=channel_with_warehouses(code, ranked), name="load")[1]
        for code, ranked in [("webshop", [east, west]), ("marketplace", [west, east])]
    ]
    clients, batches, size = 8, 3, 10

    def body(slot: int, batch: int) -> dict:
        orders = []
        for i in range(size):
            payload = copy.deepcopy(ORDER_PAYLOAD)
            payload["external_reference"] = f"RACE-{slot}-{batch}-{i}"
            payload["lines"] = [
                {"sku": skus[(slot + i) % 3].sku, "quantity": 1, "unit_price": "10.00"},
                {"sku": skus[(slot + i + 1) % 3].sku, "quantity": 1, "unit_price": "10.00"},
            ]
            orders.append(payload)
        return {"orders": orders}

    barrier = threading.Barrier(clients)

    def run(slot: int) -> list[httpx.Response]:
        out = []
        with httpx.Client(base_url=gunicorn_url, timeout=120) as client:
            barrier.wait()
            for batch in range(batches):
                out.append(
                    client.post(
                        "/api/v1/orders/batch",
                        json=body(slot, batch),
                        headers={"Authorization": f"Bearer {keys[slot % 2]}"},
                    )
                )
        return out

    with ThreadPoolExecutor(max_workers=clients) as pool:
        responses = [r for chunk in pool.map(run, range(clients)) for r in chunk]
    assert {r.status_code for r in responses} == {200}, [r.text[:200] for r in responses]
    results = [item for r in responses for item in r.json()["results"]]
    assert len(results) == clients * batches * size
    assert {item["status"] for item in results} == {201}
    statuses = [item["order"]["status"] for item in results]
    complete = sum(s in {"allocated", "in_fulfilment"} for s in statuses)
    # 30 units in all, 480 asked for: every unit is reserved, none twice.
    reserved = sum(StockLevel.objects.values_list("reserved", flat=True))
    assert reserved == 30
    assert all(level.reserved <= level.on_hand for level in StockLevel.objects.all())
    assert complete <= 15
    assert statuses.count("backordered") == len(statuses) - complete
    call_command("verify_stock_ledger")
