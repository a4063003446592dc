"""The no-oversell acceptance test through the partner API: 100 simultaneous POSTs, 10 units."""

import copy
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from django.core.management import call_command

from inventory.models import StockLevel
from orders.models import Order
from partners.services import api_key_create
from tests.fixtures.api import ORDER_PAYLOAD
from tests.inventory.factories import WarehouseFactory
from tests.inventory.helpers import channel_with_warehouses, product, stock
from tests.logistics.factories import ServiceLevelFactory

pytestmark = pytest.mark.integration

ORDERS = 100
CLIENTS = 25


@pytest.mark.django_db(transaction=True)
def test_hundred_simultaneous_api_orders_for_ten_units(gunicorn_url):
    east, west = WarehouseFactory(code="east"), WarehouseFactory(code="west")
    sku = product("LAST-UNITS")
    stock(sku, east, 6)
    stock(sku, west, 4)
    ServiceLevelFactory(provider__code="apisandbox", code="standard")
    keys = []
    for code, ranked in [
        ("webshop", [east, west]),
        ("marketplace", [west, east]),
        ("wholesale", [east, west]),
        ("retail", [west, east]),
    ]:
        channel = channel_with_warehouses(code, ranked)
        keys.append(api_key_create(channel=channel, name="load")[1])

    def body(i: int) -> dict:
        payload = copy.deepcopy(ORDER_PAYLOAD)
        payload["external_reference"] = f"RACE-{i:03d}"
        payload["lines"] = [{"sku": "LAST-UNITS", "quantity": 1, "unit_price": "10.00"}]
        return payload

    barrier = threading.Barrier(CLIENTS)

    def client_run(slot: int) -> list[httpx.Response]:
        out = []
        with httpx.Client(base_url=gunicorn_url, timeout=120) as client:
            barrier.wait()
            for i in range(slot, ORDERS, CLIENTS):
                out.append(
                    client.post(
                        "/api/v1/orders/",
                        json=body(i),
                        headers={"Authorization": f"Bearer {keys[i % 4]}"},
                    )
                )
        return out

    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        responses = [r for chunk in pool.map(client_run, range(CLIENTS)) for r in chunk]

    assert sorted({r.status_code for r in responses}) == [201], [
        (r.status_code, r.text[:200]) for r in responses if r.status_code != 201
    ]
    statuses = [r.json()["status"] for r in responses]
    reserved = {"allocated", "in_fulfilment"}  # planning may already have taken it on
    assert sum(s in reserved for s in statuses) == 10
    assert statuses.count("backordered") == 90
    assert Order.objects.filter(status__in=reserved).count() == 10
    assert sum(StockLevel.objects.values_list("reserved", flat=True)) == 10
    call_command("verify_stock_ledger")
