"""End to end with real processes: LSP sandbox, Celery worker + beat, Redis, Postgres.

An order is delivered by the sandbox, a return is requested through the partner API,
the sandbox issues the return label and carries the parcel back (signed webhooks into
the same tracking pipeline), the warehouse receives it with one line restocked and
one quarantined, and the restocked unit goes to an order that was waiting for it.
"""

from __future__ import annotations

import time
from decimal import Decimal

import httpx
import pytest
from django.db import transaction
from django.db.models import Count

from inventory.models import Allocation, StockLevel, StockMovement
from inventory.selectors import stock_ledger_drift
from logistics.models import Shipment
from orders.models import ChannelWarehouse, Order, OrderEvent
from orders.services.fulfilment import order_fulfil
from partners.services import api_key_create
from returns.models import ReturnRequest
from returns.services import ReceivedLine, return_receive
from tests.inventory.factories import ProductFactory, StockLevelFactory
from tests.logistics.helpers import outbox_site, sandbox_provider
from tests.logistics.processes import Processes, make_env, purge_queues
from tests.orders.factories import ChannelFactory, OrderFactory, OrderLineFactory

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
SECRET = "whsec_cmV0dXJucy1pbnRlZ3JhdGlvbi1zZWNyZXQ="


@pytest.fixture
def procs(tmp_path, live_server):
    purge_queues()
    processes = Processes(tmp=tmp_path, env=make_env())
    yield processes
    processes.stop_all()
    purge_queues()


def _state() -> str:
    from logistics.models import InboundWebhook

    returns = list(ReturnRequest.objects.values_list("status", "label_attempts", "last_error"))
    shipments = list(
        Shipment.objects.values_list("pk", "direction", "status", "provider_reference")
    )
    inbound = list(InboundWebhook.objects.values_list("status").annotate(n=Count("id")))
    return f"returns={returns} shipments={shipments} inbound={inbound}"


def _wait(what: str, predicate, procs: Processes, timeout: float = 120.0):
    # Generous: the machine running CI may be busy; the sandbox steps every 0.2 s.
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.3)
    pytest.fail(f"timed out waiting for {what}: {_state()}\n{procs.logs()}")


def _order(channel, lines) -> Order:
    order = OrderFactory(channel=channel)
    for number, (product, quantity, price) in enumerate(lines, start=1):
        OrderLineFactory(
            order=order,
            line_number=number,
            product=product,
            quantity=quantity,
            unit_price=Decimal(price),
        )
    with transaction.atomic():
        order_fulfil(order=order, actor="test")
    order.refresh_from_db()
    return order


def _ledger_matches_levels(warehouse) -> None:
    # One statement, so one snapshot: the worker may ship the waiting order meanwhile,
    # and levels read before the movements would not match them.
    drift = [row for row in stock_ledger_drift() if row["warehouse"] == warehouse.code]
    assert drift == []


def test_return_from_api_request_to_restock_releases_a_backorder(
    procs, live_server, warehouse_user
):
    url = procs.start_sandbox(
        consign_url=live_server.url,
        secret=SECRET,
        flags=[
            "--step-seconds",
            "0.2",
            "--return-rate",
            "0",
            "--failed-attempt-rate",
            "0",
            "--exception-rate",
            "0",
            "--seed",
            "3",
        ],
    )
    sandbox_provider(base_url=url, webhook_secret=SECRET)
    procs.start_worker(concurrency=2)
    procs.start_beat()

    channel = ChannelFactory(code="webshop")
    warehouse = outbox_site()
    ChannelWarehouse.objects.create(channel=channel, warehouse=warehouse, priority=1)
    shirt, mug = ProductFactory(), ProductFactory()
    # Stock goes in through the ledger, so that ledger and levels agree from the start.
    from inventory.services.stock import stock_receive

    StockLevelFactory(product=shirt, warehouse=warehouse, on_hand=0)
    StockLevelFactory(product=mug, warehouse=warehouse, on_hand=0)
    stock_receive(product=shirt, warehouse=warehouse, quantity=1, reference="test")
    stock_receive(product=mug, warehouse=warehouse, quantity=1, reference="test")

    order = _order(channel, [(shirt, 1, "19.95"), (mug, 1, "8.50")])
    assert order.status == Order.Status.IN_FULFILMENT
    waiting = _order(channel, [(shirt, 1, "19.95")])
    assert waiting.status == Order.Status.BACKORDERED

    _wait(
        "the order to be delivered",
        lambda: Order.objects.get(pk=order.pk).status == Order.Status.DELIVERED,
        procs,
    )

    # A return through the partner API (idempotent POST).
    _, raw_key = api_key_create(channel=channel, name="e2e")
    response = httpx.post(
        f"{live_server.url}/api/v1/orders/{order.number}/returns/",
        json={
            "lines": [
                {"line_number": 1, "quantity": 1, "reason": "size_fit"},
                {"line_number": 2, "quantity": 1, "reason": "damaged"},
            ]
        },
        headers={"Authorization": f"Bearer {raw_key}", "Idempotency-Key": "e2e-return-1"},
        timeout=10,
    )
    assert response.status_code == 201, response.text
    number = response.json()["number"]
    return_request = ReturnRequest.objects.get(order=order)

    # The worker asks the sandbox for the label; the sandbox carries the parcel back.
    _wait(
        "the return to arrive",
        lambda: (
            ReturnRequest.objects.get(pk=return_request.pk).status == ReturnRequest.Status.DELIVERED
        ),
        procs,
    )
    return_request.refresh_from_db()
    shipment = return_request.return_shipment
    assert shipment.direction == Shipment.Direction.RETURN
    assert shipment.status == Shipment.Status.DELIVERED
    assert shipment.tracking_number.startswith("RSBX")
    assert shipment.tracking_events.filter(status="delivered").count() == 1
    listed = httpx.get(
        f"{live_server.url}/api/v1/orders/{order.number}/returns/",
        headers={"Authorization": f"Bearer {raw_key}"},
        timeout=10,
    ).json()
    assert listed[0]["label"]["tracking_number"] == shipment.tracking_number
    sandbox_view = httpx.get(f"{url}/_sandbox/shipments", timeout=10).json()
    assert [s["kind"] for s in sandbox_view["shipments"]].count("return") == 1

    # The warehouse receives it: the shirt is restocked, the mug quarantined.
    shirt_line, mug_line = return_request.lines.order_by("order_line__line_number")
    return_receive(
        return_request=return_request,
        lines=[
            ReceivedLine(shirt_line.pk, 1, "as_new", "restock"),
            ReceivedLine(mug_line.pk, 1, "damaged", "quarantine"),
        ],
        user=warehouse_user,
    )

    # The restocked shirt is allocated to the order that was waiting for it.
    _wait(
        "the backorder to be allocated",
        lambda: Allocation.objects.filter(
            order_line__order=waiting, status__in=["active", "fulfilled"]
        ).exists(),
        procs,
    )
    waiting.refresh_from_db()
    assert waiting.status != Order.Status.BACKORDERED

    order.refresh_from_db()
    assert order.status == Order.Status.RETURNED
    assert [line.quantity_returned for line in order.lines.order_by("line_number")] == [1, 1]
    return_request.refresh_from_db()
    assert return_request.refund_amount_due == Decimal("28.4500")

    returns = StockMovement.objects.filter(type=StockMovement.Type.RETURN)
    assert [(m.product_id, m.on_hand_delta) for m in returns] == [(shirt.pk, 1)]
    assert returns.get().reference == f"return:{number}"
    assert StockLevel.objects.get(product=mug, warehouse=warehouse).on_hand == 0
    _ledger_matches_levels(warehouse)

    types = list(order.events.order_by("id").values_list("type", "parameters"))
    names = [t for t, _ in types]
    assert names.index(OrderEvent.Type.RETURN_REQUESTED) < names.index(
        OrderEvent.Type.RETURN_RECEIVED
    )
    return_legs = [t for t, p in types if p.get("direction") == "return"]
    assert return_legs == [OrderEvent.Type.SHIPMENT_CREATED, OrderEvent.Type.DELIVERED]
    path = [p["new_status"] for t, p in types if t == OrderEvent.Type.STATUS_CHANGED]
    assert path[-3:] == ["shipped", "delivered", "returned"]
