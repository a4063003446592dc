"""Holds and cancels against the real worker, beat and LSP sandbox (< 60 s).

The sandbox's own shipment list proves which LSP calls happened.
"""

from __future__ import annotations

import time

import httpx
import pytest
from django.db import transaction

from inventory.models import StockLevel
from logistics.models import Shipment
from orders.models import Order
from orders.services.cancellation import order_cancel
from orders.services.holds import order_hold_place, order_hold_release
from orders.services.shipment_planning import shipments_plan_for_order
from tests.logistics.helpers import allocated_order, sandbox_provider
from tests.logistics.processes import processes_for_test

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
SECRET = "whsec_aW50ZWdyYXRpb24tdGVzdC1zZWNyZXQ="


@pytest.fixture
def procs(tmp_path, live_server):
    with processes_for_test(tmp_path) as processes:
        yield processes


def _sandbox(procs, shipment: Shipment) -> list[dict]:
    url = f"{procs.sandbox_url}/_sandbox/shipments?reference={shipment.idempotency_token}"
    return httpx.get(url, timeout=10).json()["shipments"]


def _wait(predicate, *, timeout: float, procs, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}\n{procs.logs()}")


def _planned(**kwargs) -> tuple[Order, Shipment]:
    order = allocated_order(**kwargs)
    (shipment,) = shipments_plan_for_order(order=order, actor="test")
    return order, shipment


def test_holds_and_cancels_with_real_worker_and_sandbox(procs, live_server, agent):
    url = procs.start_sandbox(
        consign_url=live_server.url, secret=SECRET, flags=["--step-seconds", "30", "--seed", "1"]
    )
    sandbox_provider(base_url=url, webhook_secret=SECRET)
    # Queued with their dispatch task already enqueued, then held / cancelled before
    # any worker runs: the gate must park / close them.
    with transaction.atomic():
        held_order, held = _planned()
        hold = order_hold_place(order=held_order, reason="customer_request", user=agent)
    with transaction.atomic():
        cancelled_order, cancelled = _planned()
        order_cancel(order=cancelled_order, user=agent, reason="test")
    with transaction.atomic():
        late_order, late = _planned()
    procs.start_worker(concurrency=2)
    procs.start_beat()

    # Cancel after LSP acceptance: the sandbox shipment is cancelled at the LSP.
    _wait(
        lambda: Shipment.objects.get(pk=late.pk).status == Shipment.Status.DISPATCHED,
        timeout=60,
        procs=procs,
        what="dispatch of the third order",
    )
    order_cancel(order=late_order, user=agent, reason="too late for the customer")
    _wait(
        lambda: Shipment.objects.get(pk=late.pk).status == Shipment.Status.CANCELLED,
        timeout=60,
        procs=procs,
        what="provider cancellation",
    )
    (lsp_late,) = _sandbox(procs, late)
    assert lsp_late["status"] == "CANCELLED"
    late_order.refresh_from_db()
    assert late_order.status == Order.Status.CANCELLED
    assert StockLevel.objects.get(warehouse=late.warehouse).reserved == 0

    # Several sweeps later, the held and the cancelled orders never reached the LSP.
    time.sleep(4)
    assert _sandbox(procs, held) == []
    assert _sandbox(procs, cancelled) == []
    assert Shipment.objects.get(pk=cancelled.pk).status == Shipment.Status.CANCELLED
    assert StockLevel.objects.get(warehouse=cancelled.warehouse).reserved == 0

    # Releasing the hold dispatches the parked shipment, exactly once.
    order_hold_release(hold=hold, user=agent)
    _wait(
        lambda: Shipment.objects.get(pk=held.pk).status == Shipment.Status.DISPATCHED,
        timeout=60,
        procs=procs,
        what="dispatch after hold release",
    )
    time.sleep(2)
    (lsp_held,) = _sandbox(procs, held)
    assert lsp_held["create_requests"] == 1
    assert _sandbox(procs, cancelled) == []
