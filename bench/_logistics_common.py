"""Shared plumbing of the logistics benchmarks: Django setup, processes, bulk fixtures."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DJANGO_DEBUG", "true")  # a development tool: production is the default

import django  # noqa: E402

django.setup()

import logging  # noqa: E402

import httpx  # noqa: E402
import redis  # noqa: E402
from django.conf import settings  # noqa: E402

logging.getLogger("httpx").setLevel(logging.WARNING)
# `timeout` and Ctrl-C must still run the benches' finally blocks, which stop the
# web, worker and sandbox processes they started.
signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


# The web and worker processes a bench starts run with production settings.
PROC_ENV = {
    "DJANGO_DEBUG": "False",
    # This process's key (the development one under DJANGO_DEBUG=true): the web and worker
    # processes read the provider secrets it stores.
    "CONSIGN_SECRETS_KEY": ",".join(settings.CONSIGN_SECRETS_KEY),
    "DJANGO_SECURE_SSL_REDIRECT": "False",
    "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
    "LOG_LEVEL": "WARNING",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def spawn(args: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.Popen(
        args,
        cwd=ROOT,
        env=full_env,
        stdout=open(log, "wb"),  # noqa: SIM115
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def stop(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=15)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        proc.wait(timeout=15)


def wait_http(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


def purge_queues() -> None:
    redis.Redis.from_url(settings.CELERY_BROKER_URL).delete(
        "dispatch", "tracking", "default", "unacked", "unacked_index"
    )


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def bulk_shipments(*, count: int, provider, status: str = "dispatched", tag: str):
    """`count` in_fulfilment orders, one line each, allocated and on a dispatched shipment.

    Built with bulk_create (the services would take minutes for 10k orders); the rows
    are what shipments_plan_for_order + a successful dispatch would have written.
    """
    from django.db import transaction
    from django.utils import timezone

    from inventory.models import Allocation, Product, StockLevel, Warehouse
    from logistics.models import DispatchOutbox, Shipment, ShipmentLine
    from orders.models import Channel, Order, OrderLine
    from orders.numbers import order_numbers_next

    now = timezone.now()
    with transaction.atomic():
        channel, _ = Channel.objects.get_or_create(code=f"bench-{tag}", defaults={"name": tag})
        warehouse, _ = Warehouse.objects.get_or_create(
            code=f"bench-{tag}", defaults={"name": tag, "country": "NL"}
        )
        products = []
        for i in range(50):
            product, _ = Product.objects.get_or_create(
                sku=f"BENCH-{tag}-{i}", defaults={"name": f"bench {i}", "weight_grams": 300}
            )
            products.append(product)
            StockLevel.objects.update_or_create(
                product=product,
                warehouse=warehouse,
                defaults={"on_hand": 10_000_000, "reserved": 1_000_000},
            )
        numbers = order_numbers_next(count=count)
        orders = Order.objects.bulk_create(
            [
                Order(
                    number=numbers[i],
                    channel=channel,
                    external_reference=f"{tag}-{now.timestamp()}-{i}",
                    status=Order.Status.IN_FULFILMENT,
                    currency="EUR",
                    customer_email=f"bench{i}@example.com",
                    customer_name="Bench Customer",
                    shipping_name="Bench Customer",
                    shipping_line1="1 Bench Street",
                    shipping_city="Amsterdam",
                    shipping_country="NL",
                    placed_at=now,
                )
                for i in range(count)
            ],
            batch_size=2000,
        )
        lines = OrderLine.objects.bulk_create(
            [
                OrderLine(
                    order=o,
                    line_number=1,
                    product=products[i % 50],
                    sku=products[i % 50].sku,
                    quantity=1,
                    unit_price=10,
                )
                for i, o in enumerate(orders)
            ],
            batch_size=2000,
        )
        Allocation.objects.bulk_create(
            [Allocation(order_line=line, warehouse=warehouse, quantity=1) for line in lines],
            batch_size=2000,
        )
        shipments = Shipment.objects.bulk_create(
            [
                Shipment(
                    order=o,
                    warehouse=warehouse,
                    provider=provider,
                    status=status,
                    provider_reference=f"{tag}-{now.timestamp()}-{i}"
                    if status != "pending"
                    else "",
                    tracking_number=f"BT{i:09d}" if status != "pending" else "",
                    dispatched_at=now if status != "pending" else None,
                )
                for i, o in enumerate(orders)
            ],
            batch_size=2000,
        )
        ShipmentLine.objects.bulk_create(
            [
                ShipmentLine(shipment=s, order_line=line, quantity=1)
                for s, line in zip(shipments, lines, strict=True)
            ],
            batch_size=2000,
        )
        DispatchOutbox.objects.bulk_create(
            [
                DispatchOutbox(
                    shipment=s,
                    next_attempt_at=now,
                    status="pending" if status == "pending" else "sent",
                )
                for s in shipments
            ],
            batch_size=2000,
        )
    return shipments
