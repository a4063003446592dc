"""Partner API throughput and latency under gunicorn, against >= 1,000,000 orders.

Usage:

    uv run python bench/api_intake.py [--duration 30] [--concurrency 16] [--workers 4]

It uses its own database (BENCH_DATABASE_URL, default consign_api_bench on the
local Postgres; created and migrated if missing) and fills it up to --orders
orders with INSERT ... SELECT generate_series (one line each) the first time,
and runs VACUUM (ANALYZE) before every run (this machine's Postgres has autovacuum
off; without it the tables earlier runs grew keep stale statistics).
Then it starts gunicorn on 127.0.0.1 with production settings (DJANGO_DEBUG=false,
access logging off) and, at --concurrency clients for --duration seconds each:

  intake  POST /api/v1/orders/           3 lines, unique external_reference and
                                         Idempotency-Key; full path incl. allocation
                                         and shipment planning
  floor   POST /bench/floor/orders/      every row intake writes (order, lines, events, stock,
                                         allocations, shipment, parcel, outbox, idempotency
                                         record), one hand-written SQL statement per table
                                         (bench/api_intake_urls.py)
  floor_order POST /bench/floor-order/orders/  the floor before allocation and shipment planning
                                         joined intake: order, lines, `received` event only
  intake_nofulfil                        intake with order_fulfil stubbed out (own gunicorn):
                                         the API's own cost, like for like with floor_order
  batch   POST /api/v1/orders/batch      --batch-size orders of 3 lines per request (unique
                                         references, Idempotency-Key); every result must be
                                         201; reported in orders/s (requests/s x batch size)
  pgbench pgbench -M prepared            the raw-SQL floor of one "create order" transaction
                                         (bench/sql/create_order.sql: order, 3 lines, 3 ledger
                                         rows, 3 locked stock updates), same DB, same
                                         concurrency, in the same rounds; transactions/s
  read    GET  /api/v1/orders/{number}/  random existing orders
  list    GET  /api/v1/orders/?...       first pages, a status filter, an updated_after filter

(interleaved in --rounds slices, so load drift on a shared machine hits
every phase alike) and prints requests/s and p50/p95/p99 per phase, the intake/floor ratio,
the batch/pgbench and batch/intake ratios in orders/s, and the number of queries of a list
page of 10 and of 50 orders (must be equal).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/consign_api_bench"
SKUS = [f"BENCH-{i:04d}" for i in range(1, 301)]
TARGETS = {
    "intake_vs_floor": 0.5,
    "intake_p99_ms": 250,
    "read_p95_ms": 30,
    "list_p95_ms": 50,
    "batch_vs_pgbench": 0.3,
    "batch_vs_intake": 3.0,
}
PGBENCH_SCRIPT = ROOT / "bench" / "sql" / "create_order.sql"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=30.0, help="Seconds per phase.")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers.")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="Threads per gunicorn worker; above 1 gunicorn runs gthread workers.",
    )
    parser.add_argument("--orders", type=int, default=1_000_000, help="Orders in the database.")
    parser.add_argument("--port", type=int, default=8791, help="And the next one.")
    parser.add_argument(
        "--rounds", type=int, default=6, help="Phases are interleaved in this many slices."
    )
    parser.add_argument(
        "--batch-size", type=int, default=100, help="Orders per request of the batch phase."
    )
    parser.add_argument(
        "--phases",
        default="intake,floor,floor_order,read,list,intake_nofulfil",
        help="Comma-separated phases to run.",
    )
    return parser.parse_args()


def database_url() -> str:
    return os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB)


def ensure_database(url: str) -> None:
    import psycopg

    parts = urlparse(url)
    name = parts.path.lstrip("/")
    admin = parts._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--verbosity", "0"],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": url},
        check=True,
    )


def setup_world(order_count: int) -> tuple[str, str]:
    """Channel, stock and service level for intake; bulk orders; a fresh API key."""
    from django.db import connection, transaction

    from inventory.models import Product, StockLevel, Warehouse
    from logistics.models import Provider, ServiceLevel
    from orders.models import Channel, ChannelWarehouse
    from partners.services import api_key_create

    with transaction.atomic():
        channel, _ = Channel.objects.get_or_create(code="bench", defaults={"name": "Bench"})
        provider, _ = Provider.objects.get_or_create(
            code="benchlsp", defaults={"name": "Bench LSP", "base_url": "http://127.0.0.1:9"}
        )
        ServiceLevel.objects.get_or_create(
            provider=provider, code="standard", defaults={"name": "Standard"}
        )
        warehouse, _ = Warehouse.objects.get_or_create(
            code="bench-wh", defaults={"name": "Bench warehouse", "country": "NL"}
        )
        ChannelWarehouse.objects.get_or_create(channel=channel, warehouse=warehouse)
        existing = set(Product.objects.filter(sku__in=SKUS).values_list("sku", flat=True))
        Product.objects.bulk_create(
            Product(sku=sku, name=f"Bench product {sku}", weight_grams=300)
            for sku in SKUS
            if sku not in existing
        )
        for product in Product.objects.filter(sku__in=SKUS):
            # Plenty for every run: intake reserves, nothing ever ships.
            StockLevel.objects.get_or_create(
                product=product, warehouse=warehouse, defaults={"on_hand": 1_000_000_000}
            )

    have = connection.cursor()
    have.execute("SELECT count(*) FROM orders_order")
    count = have.fetchone()[0]
    if count < order_count:
        fill_orders(channel.pk, count, order_count)
    vacuum_analyze()
    _, raw_key = api_key_create(channel=channel, name=f"bench {uuid.uuid4().hex[:6]}")
    return channel.code, raw_key


def vacuum_analyze() -> None:
    """What autovacuum would have done since the last run (this machine's Postgres runs
    with autovacuum off): without it the tables earlier runs grew (shipments, parcels,
    lines, events) keep the statistics of when they were small, and the planner
    picks sequential scans that make every order read slower run after run."""
    from django.db import connection

    started = time.monotonic()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE)")
    print(f"VACUUM (ANALYZE): {time.monotonic() - started:.1f} s", flush=True)


def fill_orders(channel_id: int, have: int, want: int) -> None:
    from django.db import connection, transaction

    from inventory.models import Product

    product_id = Product.objects.get(sku=SKUS[0]).pk
    print(f"filling orders {have:,} -> {want:,} (once) ...", flush=True)
    started = time.monotonic()
    step = 200_000
    for start in range(have + 1, want + 1, step):
        end = min(start + step - 1, want)
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                """
                INSERT INTO orders_order (number, channel_id, external_reference, status,
                    currency, total_amount, priority, customer_email, customer_name,
                    customer_phone, customer_phone_key, shipping_name, shipping_line1,
                    shipping_line2, shipping_city, shipping_postcode, shipping_postcode_key,
                    shipping_region, shipping_country, placed_at, created_at, updated_at,
                    cancelled_at)
                SELECT 'BN-' || lpad(g::text, 9, '0'), %s, 'SEED-' || g, s.status, 'EUR', 19.95,
                    0, 'customer' || g || '@example.com', 'Customer ' || g, '+31 6 ' || g,
                    reverse(g::text || '613'), 'Customer ' || g, g || ' Bench Street', '',
                    'Amsterdam', '1011 AB', '1011AB', '', 'NL', t.at, t.at, t.at,
                    CASE WHEN s.status = 'cancelled' THEN t.at END
                FROM generate_series(%s, %s) g
                CROSS JOIN LATERAL (SELECT (ARRAY['received', 'allocated', 'in_fulfilment',
                    'shipped', 'delivered', 'cancelled'])[1 + g %% 6] AS status) s
                CROSS JOIN LATERAL (
                    SELECT now() - make_interval(secs => (%s - g) * 30) AS at
                ) t
                """,
                [channel_id, start, end, want],
            )
            cursor.execute(
                """
                INSERT INTO orders_orderline (order_id, line_number, product_id, sku, quantity,
                    unit_price, quantity_shipped, quantity_delivered, quantity_returned)
                SELECT o.id, 1, %s, %s, 1, 19.95, 0, 0, 0
                FROM orders_order o
                WHERE o.number BETWEEN 'BN-' || lpad(%s::text, 9, '0')
                    AND 'BN-' || lpad(%s::text, 9, '0')
                """,
                [product_id, SKUS[0], start, end],
            )
        print(f"  {end:,} orders ({time.monotonic() - started:.0f} s)", flush=True)


def sample_numbers(n: int) -> list[str]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT number FROM orders_order TABLESAMPLE SYSTEM (1) WHERE number LIKE 'BN-%%' "
            "LIMIT %s",
            [n],
        )
        return [row[0] for row in cursor.fetchall()]


def list_query_counts(raw_key: str) -> dict[int, int]:
    """Queries of one list page of 10 and of 50 orders, through the real stack in-process."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    counts = {}
    for size in (10, 50):
        client.get(f"/api/v1/orders/?page_size={size}")  # warm the key's last_used_at
        with CaptureQueriesContext(connection) as queries:
            response = client.get(f"/api/v1/orders/?page_size={size}")
        if response.status_code != 200:
            raise SystemExit(f"list page failed: {response.content[:300]!r}")
        counts[size] = len(queries)
    return counts


def order_body(prefix: str = "B") -> dict:
    ref = uuid.uuid4().hex
    return {
        "external_reference": f"{prefix}-{ref}",
        "currency": "EUR",
        "customer": {"email": f"{ref[:12]}@example.com", "name": "Bench Customer", "phone": ""},
        "shipping_address": {
            "name": "Bench Customer",
            "line1": "1 Bench Street",
            "city": "Amsterdam",
            "postcode": "1011 AB",
            "country": "NL",
        },
        "lines": [
            {"sku": sku, "quantity": random.randint(1, 3), "unit_price": "19.95"}
            for sku in random.sample(SKUS, 3)
        ],
        "service_level": "benchlsp:standard",
    }


def batch_check(size: int):
    """A batch response is good only when every one of its `size` results is a 201."""
    marker = b'{"status": 201, "order": '

    def check(content: bytes) -> bool:
        return content.count(marker) == size

    return check


def pgbench_ids() -> dict[str, int]:
    """The ids create_order.sql takes as pgbench variables."""
    from inventory.models import Warehouse
    from logistics.models import ServiceLevel
    from orders.models import Channel

    return {
        "channel": Channel.objects.get(code="bench").pk,
        "level": ServiceLevel.objects.get(provider__code="benchlsp", code="standard").pk,
        "wh": Warehouse.objects.get(code="bench-wh").pk,
    }


def run_pgbench(url: str, ids: dict[str, int], concurrency: int, duration: float) -> dict:
    """pgbench with create_order.sql for `duration` seconds (whole seconds, at least 1)."""
    import re

    seconds = max(1, round(duration))
    command = [
        "pgbench", "--no-vacuum", "--protocol=prepared", f"--client={concurrency}",
        f"--jobs={min(concurrency, os.cpu_count() or 1)}", f"--time={seconds}",
        f"--file={PGBENCH_SCRIPT}", "--report-per-command",
        *[f"--define={name}={value}" for name, value in ids.items()],
        url,
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"pgbench failed:\n{done.stdout}\n{done.stderr}")
    transactions = int(
        re.search(r"number of transactions actually processed: (\d+)", done.stdout)[1]
    )
    failed = re.search(r"number of failed transactions: (\d+)", done.stdout)
    latency = float(re.search(r"latency average = ([\d.]+) ms", done.stdout)[1])
    tps = float(re.search(r"tps = ([\d.]+) \(without initial connection time\)", done.stdout)[1])
    return {
        "count": transactions,
        "failed": int(failed[1]) if failed else 0,
        "latency_ms": latency,
        "wall": transactions / tps if tps else float(seconds),
    }


async def drive(base: str, make_request, concurrency: int, duration: float, check=None) -> dict:
    from lean_http import HttpError, LeanClient

    latencies: list[float] = []
    errors: dict[int | str, int] = {}
    deadline = time.monotonic() + duration
    async with LeanClient(base, size=concurrency) as client:

        async def worker() -> None:
            while time.monotonic() < deadline:
                method, url, kwargs, expected = make_request()
                started = time.perf_counter()
                try:
                    response = await client.request(
                        method, url, headers=kwargs.get("headers"), json_body=kwargs.get("json")
                    )
                    status: int | str = response.status_code
                except HttpError as exc:
                    status = str(exc).split(":")[0]
                elapsed = time.perf_counter() - started
                if status == expected and check is not None and not check(response.content):
                    status = "bad body"
                if status == expected:
                    latencies.append(elapsed)
                else:
                    errors[status] = errors.get(status, 0) + 1

        started = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.monotonic() - started
    return {"latencies": latencies, "errors": errors, "wall": wall}


def quantiles(latencies: list[float]) -> tuple[float, float, float]:
    if len(latencies) < 2:
        return (float("nan"),) * 3
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    return cuts[49] * 1000, cuts[94] * 1000, cuts[98] * 1000


def start_gunicorn(
    port: int, workers: int, url: str, skip_fulfil: bool, threads: int = 1
) -> subprocess.Popen:
    import httpx

    env = {
        **os.environ,
        "BENCH_SKIP_FULFIL": "1" if skip_fulfil else "0",
        "DATABASE_URL": url,
        "DJANGO_SETTINGS_MODULE": "bench.api_intake_settings",
        "DJANGO_DEBUG": "false",
        "DJANGO_SECURE_SSL_REDIRECT": "false",
        "API_THROTTLE_RATE": "10000000/minute",
        "LOG_LEVEL": "ERROR",
    }
    process = subprocess.Popen(
        [
            sys.executable, "-m", "gunicorn", "bench.api_intake_wsgi:application",
            "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
            "--threads", str(threads),
            "--log-level", "warning", "--backlog", "256",
        ],
        cwd=ROOT,
        env=env,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.3)
    process.kill()
    raise SystemExit("gunicorn did not start")


def main() -> None:
    args = parse_args()
    url = database_url()
    # Production settings refuse to start without a secrets key (DJANGO_DEBUG is off here);
    # the bench's own database holds only made-up provider secrets, so the development
    # key serves, and stays the same from one run to the next.
    from config.env import DEVELOPMENT_SECRETS_KEY

    os.environ.setdefault("CONSIGN_SECRETS_KEY", DEVELOPMENT_SECRETS_KEY)
    # Filling a million orders takes minutes per statement, past production's 30 s cap.
    os.environ.setdefault("DATABASE_STATEMENT_TIMEOUT_MS", "0")
    ensure_database(url)
    os.environ["DATABASE_URL"] = url
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.api_intake_settings"
    os.environ.setdefault("DJANGO_DEBUG", "false")
    os.environ.setdefault("DJANGO_SECURE_SSL_REDIRECT", "false")
    os.environ.setdefault("API_THROTTLE_RATE", "10000000/minute")
    import logging

    import django

    django.setup()
    logging.getLogger("httpx").setLevel(logging.WARNING)
    from django.db import connection

    channel_code, raw_key = setup_world(args.orders)
    numbers = sample_numbers(5000)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM orders_order")
        total_orders = cursor.fetchone()[0]
    query_counts = list_query_counts(raw_key)
    ids = pgbench_ids()
    connection.close()

    auth = {"Authorization": f"Bearer {raw_key}"}
    list_urls = [
        "/api/v1/orders/?page_size=50",
        "/api/v1/orders/?page_size=50&status=shipped",
        "/api/v1/orders/?page_size=50&ordering=updated_at&updated_after=2026-01-01T00:00:00Z",
    ]
    phases = {
        "intake": lambda: (
            "POST",
            "/api/v1/orders/",
            {"json": order_body(), "headers": {**auth, "Idempotency-Key": uuid.uuid4().hex}},
            201,
        ),
        "floor": lambda: (
            "POST",
            "/bench/floor/orders/",
            {
                "json": order_body(),
                "headers": {"X-Channel": channel_code, "Idempotency-Key": uuid.uuid4().hex},
            },
            201,
        ),
        "floor_order": lambda: (
            "POST",
            "/bench/floor-order/orders/",
            {"json": order_body(), "headers": {"X-Channel": channel_code}},
            201,
        ),
        "intake_nofulfil": lambda: (
            "POST",
            "/api/v1/orders/",
            {"json": order_body(), "headers": {**auth, "Idempotency-Key": uuid.uuid4().hex}},
            201,
        ),
        "read": lambda: (
            "GET",
            f"/api/v1/orders/{random.choice(numbers)}/",
            {"headers": auth},
            200,
        ),
        "list": lambda: ("GET", random.choice(list_urls), {"headers": auth}, 200),
        "batch": lambda: (
            "POST",
            "/api/v1/orders/batch",
            {
                "json": {"orders": [order_body("BB") for _ in range(args.batch_size)]},
                "headers": {**auth, "Idempotency-Key": uuid.uuid4().hex},
            },
            200,
        ),
    }
    checks = {"batch": batch_check(args.batch_size)}
    # Orders per successful request (the batch phase's requests carry --batch-size each).
    per_request = {"batch": args.batch_size}
    wanted = [name for name in args.phases.split(",") if name]
    # Both servers run side by side (an idle one costs nothing) so that the phases
    # can be interleaved in rounds: on a shared machine whose load drifts, every
    # phase then sees the same mix of quiet and busy moments.
    bases = {False: f"http://127.0.0.1:{args.port}", True: f"http://127.0.0.1:{args.port + 1}"}
    needs = {name == "intake_nofulfil" for name in wanted if name != "pgbench"}
    processes = [
        start_gunicorn(args.port + skip, args.workers, url, skip, args.threads) for skip in needs
    ]
    results = {name: {"latencies": [], "errors": {}, "wall": 0.0} for name in wanted}
    pg = {"count": 0, "failed": 0, "wall": 0.0, "latency_ms": []}
    try:
        for name in wanted:
            # A short warm-up so every worker has its connections and caches.
            if name == "pgbench":
                run_pgbench(url, ids, args.concurrency, 2.0)
                continue
            base = bases[name == "intake_nofulfil"]
            asyncio.run(drive(base, phases[name], args.concurrency, 2.0, checks.get(name)))
        for _ in range(args.rounds):
            for name in wanted:
                if name == "pgbench":
                    part = run_pgbench(url, ids, args.concurrency, args.duration / args.rounds)
                    pg["count"] += part["count"]
                    pg["failed"] += part["failed"]
                    pg["wall"] += part["wall"]
                    pg["latency_ms"].append(part["latency_ms"])
                    continue
                base = bases[name == "intake_nofulfil"]
                part = asyncio.run(
                    drive(
                        base,
                        phases[name],
                        args.concurrency,
                        args.duration / args.rounds,
                        checks.get(name),
                    )
                )
                results[name]["latencies"] += part["latencies"]
                results[name]["wall"] += part["wall"]
                for status, count in part["errors"].items():
                    results[name]["errors"][status] = results[name]["errors"].get(status, 0) + count
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=20)

    print()
    print(
        f"orders in database: {total_orders:,}; gunicorn {args.workers} "
        f"{'sync workers' if args.threads == 1 else f'gthread workers x {args.threads} threads'}; "
        f"concurrency {args.concurrency}; {args.duration:.0f} s per phase in {args.rounds} "
        f"interleaved rounds; {os.cpu_count()} CPUs"
    )
    print(f"{'phase':16} {'ok':>7} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}  errors")
    rates = {}
    for name, result in results.items():
        if name == "pgbench":
            rates[name] = pg["count"] / pg["wall"] if pg["wall"] else 0.0
            mean = statistics.fmean(pg["latency_ms"]) if pg["latency_ms"] else float("nan")
            print(
                f"{name:16} {pg['count']:7d} {rates[name]:8.1f}   (tx/s; mean latency "
                f"{mean:.1f} ms)  {pg['failed'] or '-'}"
            )
            continue
        rates[name] = len(result["latencies"]) / result["wall"]
        p50, p95, p99 = quantiles(result["latencies"])
        print(
            f"{name:16} {len(result['latencies']):7d} {rates[name]:8.1f} {p50:8.1f} {p95:8.1f} "
            f"{p99:8.1f}  {result['errors'] or '-'}"
        )
    print(f"list page queries: {query_counts} (page_size -> queries)")
    print()
    if "intake" in results and "floor" in results:
        ratio = rates["intake"] / rates["floor"]
        p99 = quantiles(results["intake"]["latencies"])[2]
        print(
            f"intake/floor throughput: {ratio:.2f} (target >= {TARGETS['intake_vs_floor']}); "
            f"intake p99 {p99:.0f} ms (target < {TARGETS['intake_p99_ms']})"
        )
    if "intake" in results and "floor_order" in results:
        ratio = rates["intake"] / rates["floor_order"]
        print(f"intake vs the order-only floor (order, lines, one event): {ratio:.2f}")
    if "intake_nofulfil" in results and "floor_order" in results:
        ratio = rates["intake_nofulfil"] / rates["floor_order"]
        p99 = quantiles(results["intake_nofulfil"]["latencies"])[2]
        print(
            "intake without allocation/shipment planning vs the order-only floor: "
            f"{ratio:.2f}; p99 {p99:.0f} ms"
        )
    if "batch" in results:
        orders_per_s = rates["batch"] * per_request["batch"]
        p95 = quantiles(results["batch"]["latencies"])[1]
        print(
            f"batch: {orders_per_s:.1f} orders/s in requests of {args.batch_size} "
            f"(request p95 {p95:.0f} ms)"
        )
        if "pgbench" in results and rates["pgbench"]:
            print(
                f"batch/pgbench: {orders_per_s / rates['pgbench']:.2f} "
                f"({orders_per_s:.1f} orders/s vs {rates['pgbench']:.1f} tx/s; "
                f"target >= {TARGETS['batch_vs_pgbench']})"
            )
        if "intake" in results and rates["intake"]:
            print(
                f"batch/intake: {orders_per_s / rates['intake']:.2f} "
                f"({orders_per_s:.1f} vs {rates['intake']:.1f} orders/s; "
                f"target >= {TARGETS['batch_vs_intake']})"
            )
    if "read" in results:
        p95 = quantiles(results["read"]["latencies"])[1]
        print(f"read p95 {p95:.1f} ms (target < {TARGETS['read_p95_ms']})")
    if "list" in results:
        p95 = quantiles(results["list"]["latencies"])[1]
        constant = len(set(query_counts.values())) == 1
        print(
            f"list p95 {p95:.1f} ms (target < {TARGETS['list_p95_ms']}); "
            f"constant queries: {'yes' if constant else 'NO'}"
        )


if __name__ == "__main__":
    main()
