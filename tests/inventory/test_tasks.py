"""Backorders: enqueued after commit, allocated by a worker in priority then arrival order."""

import datetime as dt
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from inventory.services import stock as stock_service
from orders.models import Order, OrderEvent
from orders.services.allocation import order_allocate
from orders.tasks import backorders_allocate_task, backorders_sweep_task
from tests.inventory.factories import WarehouseFactory
from tests.inventory.helpers import channel_with_warehouses, order_with_lines, product, stock

S = Order.Status
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def world(db):
    wh = WarehouseFactory(code="wh-a")
    channel = channel_with_warehouses("webshop", [wh])
    return channel, wh, product("SHIRT")


def _backordered(channel, sku, *, priority=0, minutes_ago=0):
    order = order_with_lines(
        channel,
        [(sku, 1)],
        priority=priority,
        placed_at=timezone.now() - dt.timedelta(minutes=minutes_ago),
    )
    order_allocate(order=order)
    assert order.status == S.BACKORDERED
    return order


def test_receipt_enqueues_backorder_allocation_only_after_commit(
    world, monkeypatch, django_capture_on_commit_callbacks
):
    _, wh, shirt = world
    sent = []
    monkeypatch.setattr(
        backorders_allocate_task, "apply_async", lambda **kwargs: sent.append(kwargs)
    )

    with django_capture_on_commit_callbacks() as callbacks:
        stock(shirt, wh, 3)
        assert sent == []  # nothing leaves before commit

    assert len(callbacks) == 1
    callbacks[0]()
    assert sent == [{"kwargs": {"product_ids": [shirt.pk]}, "retry": False}]


def test_reserving_stock_enqueues_nothing(world, django_capture_on_commit_callbacks):
    channel, wh, shirt = world
    stock(shirt, wh, 3)
    order = order_with_lines(channel, [(shirt, 1)])

    with django_capture_on_commit_callbacks() as callbacks:
        order_allocate(order=order)

    assert callbacks == []


def test_broker_outage_does_not_fail_the_receipt(world, monkeypatch, caplog):
    def down(**kwargs):
        raise ConnectionError("redis down")

    monkeypatch.setattr(backorders_allocate_task, "apply_async", down)

    stock_service.backorders_enqueue_now(product_ids=[1])

    assert "Could not enqueue backorder allocation" in caplog.text


def test_backorders_are_allocated_by_priority_then_arrival(world):
    channel, wh, shirt = world
    oldest = _backordered(channel, shirt, minutes_ago=30)
    newest = _backordered(channel, shirt, minutes_ago=1)
    urgent = _backordered(channel, shirt, priority=5, minutes_ago=0)
    stock(shirt, wh, 2)

    backorders_allocate_task.apply(kwargs={"product_ids": [shirt.pk]}).get()

    statuses = dict(Order.objects.values_list("pk", "status"))
    assert statuses[urgent.pk] == S.ALLOCATED
    assert statuses[oldest.pk] == S.ALLOCATED
    assert statuses[newest.pk] == S.BACKORDERED


def test_sweep_without_stock_adds_no_events(world):
    channel, _, shirt = world
    order = _backordered(channel, shirt)
    before = order.events.count()

    backorders_sweep_task.apply().get()

    assert order.events.count() == before


def _worker_env() -> dict[str, str]:
    db = connection.settings_dict
    env = dict(os.environ)
    env["DATABASE_URL"] = (
        f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    )
    return env


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_real_worker_allocates_backorder_when_stock_arrives():
    wh = WarehouseFactory(code="wh-a")
    channel = channel_with_warehouses("webshop", [wh])
    shirt = product("SHIRT")
    order = _backordered(channel, shirt)
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--pool=solo",
            "-Q",
            "default",
            "--without-heartbeat",
            "--without-gossip",
            "--without-mingle",
            "-l",
            "WARNING",
        ],
        cwd=ROOT,
        env=_worker_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        stock(shirt, wh, 1)  # commits (transaction=True) and enqueues on commit
        deadline = time.monotonic() + 45
        while time.monotonic() < deadline:
            order.refresh_from_db()
            if order.status != S.BACKORDERED:
                break
            time.sleep(0.3)
        assert order.status == S.ALLOCATED, worker.stderr.read1().decode() if worker.poll() else ""
        event = order.events.filter(type=OrderEvent.Type.ALLOCATED).get()
        assert event.actor == "system:backorders"
    finally:
        worker.terminate()
        worker.wait(timeout=20)
