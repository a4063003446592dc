"""No oversell under real concurrency: parallel Postgres connections racing for the last units."""

import queue
import threading

import pytest
from django.core.management import call_command
from django.db import connection

from inventory.models import Allocation, StockLevel, StockMovement
from orders.models import Order, OrderEvent
from orders.services.fulfilment import order_fulfil
from tests.inventory.factories import WarehouseFactory
from tests.inventory.helpers import channel_with_warehouses, order_with_lines, product, stock

THREADS = 16


def _race(order_ids: list[int]) -> tuple[dict[int, str], list[BaseException]]:
    """Fulfil every order from THREADS threads, each on its own database connection."""
    work: queue.Queue[int] = queue.Queue()
    for order_id in order_ids:
        work.put(order_id)
    statuses: dict[int, str] = {}
    errors: list[BaseException] = []
    start = threading.Barrier(THREADS)

    def worker():
        try:
            start.wait()
            while True:
                try:
                    order_id = work.get_nowait()
                except queue.Empty:
                    return
                try:
                    order = order_fulfil(order=Order.objects.get(pk=order_id), actor="test")
                    statuses[order_id] = order.status
                except BaseException as exc:  # noqa: BLE001 - every failure is reported
                    errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return statuses, errors


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_hundred_parallel_orders_for_ten_units_allocate_exactly_ten():
    # The 10 units sit in two warehouses that the channels rank in opposite
    # orders, so the transactions also prove the pk lock order prevents deadlocks.
    east, west = WarehouseFactory(code="east"), WarehouseFactory(code="west")
    sku = product("LAST-UNITS")
    stock(sku, east, 6)
    stock(sku, west, 4)
    channels = [
        channel_with_warehouses("webshop", [east, west]),
        channel_with_warehouses("marketplace", [west, east]),
        channel_with_warehouses("wholesale", [east, west]),
        channel_with_warehouses("retail", [west, east]),
    ]
    orders = [order_with_lines(channels[i % 4], [(sku, 1)]) for i in range(100)]
    connection.close()  # the threads open their own connections

    statuses, errors = _race([o.pk for o in orders])

    assert errors == []
    assert len(statuses) == 100
    assert sorted(statuses.values()).count(Order.Status.ALLOCATED) == 10
    assert sorted(statuses.values()).count(Order.Status.BACKORDERED) == 90
    assert Order.objects.filter(status=Order.Status.ALLOCATED).count() == 10
    assert Order.objects.filter(status=Order.Status.BACKORDERED).count() == 90
    levels = {lv.warehouse.code: lv for lv in StockLevel.objects.select_related("warehouse")}
    assert (levels["east"].reserved, levels["west"].reserved) == (6, 4)
    assert Allocation.objects.filter(status=Allocation.Status.ACTIVE).count() == 10
    assert StockMovement.objects.filter(type=StockMovement.Type.RESERVATION).count() == 10
    assert OrderEvent.objects.filter(type=OrderEvent.Type.BACKORDERED).count() == 90
    call_command("verify_stock_ledger")
