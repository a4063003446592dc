"""End-to-end with real processes: LSP sandbox, Celery worker + beat, Redis, Postgres.

The sandbox runs in fast mode (0.2 s per tracking step) and posts its signed
webhooks to the live_server; the worker and beat processes use the test database.
"""

from __future__ import annotations

import time
from collections import Counter

import httpx
import pytest
from django.db.models import Count

from inventory.models import StockLevel
from logistics.models import ServiceLevel, Shipment, TrackingEvent
from orders.models import ChannelWarehouse, Order, OrderEvent
from partners.services import api_key_create
from tests.inventory.factories import ProductFactory, StockLevelFactory
from tests.logistics.helpers import outbox_site, planned_orders, sandbox_provider
from tests.logistics.processes import Processes, processes_for_test
from tests.orders.factories import ChannelFactory

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
SECRET = "whsec_aW50ZWdyYXRpb24tdGVzdC1zZWNyZXQ="
TROUBLE = {"EXCEPTION": "exception", "DELIVERY_FAILED": "failed_attempt"}


@pytest.fixture
def procs(tmp_path, live_server):
    with processes_for_test(tmp_path) as processes:
        yield processes


def _start(procs: Processes, live_server, flags: list[str]):
    url = procs.start_sandbox(consign_url=live_server.url, secret=SECRET, flags=flags)
    provider = sandbox_provider(base_url=url, webhook_secret=SECRET)
    procs.start_worker()
    procs.start_beat()
    return provider


def _wait_delivered(order_ids, timeout: float, procs: Processes, on_tick=None) -> None:
    deadline = time.monotonic() + timeout
    start = time.monotonic()
    last_report = 0.0
    while time.monotonic() < deadline:
        if time.monotonic() - last_report > 10:
            last_report = time.monotonic()
            statuses = Counter(
                Order.objects.filter(pk__in=order_ids).values_list("status", flat=True)
            )
            print(f"t+{last_report - start:.0f}s {dict(statuses)}")  # noqa: T201
        if on_tick:
            on_tick(time.monotonic() - start)
        done = Order.objects.filter(pk__in=order_ids, status=Order.Status.DELIVERED).count()
        if done == len(order_ids):
            return
        time.sleep(0.5)
    statuses = Counter(Order.objects.filter(pk__in=order_ids).values_list("status", flat=True))
    pytest.fail(f"not all delivered within {timeout}s: {dict(statuses)}\n{procs.logs()}")


def _wait_polls_finished(order_ids, timeout: float = 90) -> None:
    """Delivered shipments get one reconciliation poll; wait for those to run.

    A shipment whose webhooks overtook its create (the provider's answer was lost) is
    delivered before its create is recorded; recording it schedules the poll. So wait
    until every create is recorded and no poll is pending, twice in a row.
    """
    shipments = Shipment.objects.filter(order_id__in=order_ids)
    deadline = time.monotonic() + timeout
    quiet = 0
    while time.monotonic() < deadline:
        pending = shipments.filter(next_poll_at__isnull=False).count()
        unrecorded = shipments.filter(provider_reference="").count()
        quiet = quiet + 1 if pending == unrecorded == 0 else 0
        if quiet == 2:
            return
        time.sleep(0.5)
    pytest.fail(f"{pending} polls pending, {unrecorded} creates unrecorded after {timeout}s")


def test_order_posted_through_the_api_reaches_delivered_within_60s(procs, live_server):
    provider = _start(
        procs, live_server, ["--step-seconds", "0.2", "--return-rate", "0", "--seed", "7"]
    )
    ServiceLevel.objects.create(provider=provider, code="standard", name="Standard")
    channel = ChannelFactory(code="webshop")
    warehouse = outbox_site()
    ChannelWarehouse.objects.create(channel=channel, warehouse=warehouse, priority=1)
    product = ProductFactory(sku="E2E-SHIRT")
    StockLevelFactory(product=product, warehouse=warehouse, on_hand=10)
    _, raw_key = api_key_create(channel=channel, name="e2e")
    api = httpx.Client(
        base_url=live_server.url, headers={"Authorization": f"Bearer {raw_key}"}, timeout=30
    )
    payload = {
        "external_reference": "E2E-1",
        "currency": "EUR",
        "customer": {"email": "ada@example.com", "name": "Ada Lovelace", "phone": ""},
        "shipping_address": {
            "name": "Ada Lovelace",
            "line1": "12 St James's Square",
            "line2": "",
            "city": "London",
            "postcode": "SW1Y 4JH",
            "region": "",
            "country": "GB",
        },
        "lines": [{"sku": "E2E-SHIRT", "quantity": 2, "unit_price": "19.95"}],
        "service_level": "sandbox:standard",
    }
    started = time.monotonic()
    response = api.post("/api/v1/orders/", json=payload)
    assert response.status_code == 201, response.text
    order = Order.objects.get(number=response.json()["number"])
    _wait_delivered([order.pk], timeout=60, procs=procs)
    assert time.monotonic() - started < 60

    shipment = Shipment.objects.get(order=order)
    timeline = list(shipment.tracking_events.values_list("status", flat=True))
    assert timeline[0] == "pre_transit"
    assert timeline[-1] == "delivered"
    assert {"in_transit", "out_for_delivery"} <= set(timeline)
    assert shipment.status == Shipment.Status.DELIVERED
    assert shipment.tracking_number.startswith("SBX")
    assert order.lines.get().quantity_delivered == 2
    path = [
        e.parameters["new_status"]
        for e in order.events.filter(type=OrderEvent.Type.STATUS_CHANGED).order_by("id")
    ]
    assert path[-3:] == ["in_fulfilment", "shipped", "delivered"]
    level = StockLevel.objects.get(product=product, warehouse=warehouse)
    assert (level.on_hand, level.reserved) == (8, 0)
    assert api.get(f"/api/v1/orders/{order.number}/").json()["status"] == "delivered"
    shipments = api.get(f"/api/v1/orders/{order.number}/shipments/")
    assert shipments.status_code == 200
    assert shipment.tracking_number in shipments.text


def test_faults_and_killed_workers_lose_and_double_nothing(procs, live_server):
    _start(
        procs,
        live_server,
        [
            "--step-seconds",
            "0.2",
            "--fail-rate",
            "0.3",
            "--duplicate-rate",
            "0.2",
            "--reorder-rate",
            "0.2",
            "--drop-webhook-rate",
            "0.1",
            "--return-rate",
            "0",
            "--seed",
            "11",
        ],
    )
    order_ids = planned_orders(200)
    planned = time.monotonic()
    kills = []

    def kill_worker_twice(elapsed: float) -> None:
        if (len(kills) == 0 and elapsed > 2) or (len(kills) == 1 and elapsed > 7):
            procs.kill("worker")
            kills.append(elapsed)
            procs.start_worker()

    _wait_delivered(order_ids, timeout=240, procs=procs, on_tick=kill_worker_twice)
    print(f"200 orders delivered {time.monotonic() - planned:.1f}s after planning")  # noqa: T201
    assert len(kills) == 2
    _wait_polls_finished(order_ids)

    # Exactly one sandbox shipment per Consign shipment.
    sandbox = httpx.get(procs.sandbox_url + "/_sandbox/shipments", timeout=10).json()
    shipments = {
        str(s.idempotency_token): s for s in Shipment.objects.filter(order_id__in=order_ids)
    }
    assert len(shipments) == 200
    assert sandbox["count"] == 200
    by_reference = {s["reference"]: s for s in sandbox["shipments"]}
    assert set(by_reference) == set(shipments)
    for token, shipment in shipments.items():
        assert shipment.provider_reference == by_reference[token]["id"]

    # No tracking event stored twice, and every event the sandbox produced is stored.
    duplicates = (
        TrackingEvent.objects.values("shipment_id", "status", "occurred_at")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
    )
    assert list(duplicates) == []
    stored = Counter(TrackingEvent.objects.values_list("shipment_id", flat=True))
    for token, shipment in shipments.items():
        assert stored[shipment.pk] == len(by_reference[token]["plan"])

    # No order event missing (and none doubled).
    for order in Order.objects.filter(pk__in=order_ids).prefetch_related("events"):
        types = Counter(e.type for e in order.events.all())
        plan = by_reference[str(order.shipments.get().idempotency_token)]["plan"]
        assert types[OrderEvent.Type.SHIPMENT_CREATED] == 1
        assert types[OrderEvent.Type.SHIPMENT_DISPATCHED] == 1
        assert types[OrderEvent.Type.SHIPPED] == 1
        assert types[OrderEvent.Type.DELIVERED] == 1
        assert types[OrderEvent.Type.TRACKING_EXCEPTION] == sum(s in TROUBLE for s in plan)
        path = [
            e.parameters["new_status"]
            for e in sorted(order.events.all(), key=lambda e: e.pk)
            if e.type == OrderEvent.Type.STATUS_CHANGED
        ]
        assert path == ["in_fulfilment", "shipped", "delivered"]

    # The faults really happened.
    stats = httpx.get(procs.sandbox_url + "/_sandbox/stats", timeout=10).json()
    assert stats["faults_before"] + stats["faults_after"] > 0
    assert stats["webhooks_duplicated"] > 0
    assert stats["webhooks_dropped"] > 0
    assert stats["webhooks_reordered"] > 0
