"""The inventory feed: a full sync of 100,000 SKUs and delta polls, through gunicorn.

Usage:

    uv run python bench/inventory_feed.py [--skus 100000] [--ledger 1000000]
        [--polls-seconds 30] [--trickle 20] [--poll-interval 0.25] [--workers 2]

It uses its own database (BENCH_DATABASE_URL, default consign_feed_bench on the local
Postgres; created and migrated if missing) and the first time fills it, by COPY, with
--skus active products (plus 1% retired ones), stock of each at one to three of the
bench channel's three warehouses and at a warehouse of another channel, and pads the
ledger (inventory_stockmovement) up to --ledger rows with historic +1/-1 pairs (so the
ledger still sums to the levels and a delta reads from a big journal). VACUUM (ANALYZE)
before every run (this machine's Postgres runs with autovacuum off).

Then it starts gunicorn on 127.0.0.1 with production settings and measures, as one
partner client (lean_http, one keep-alive connection):

  full       walk every page of GET /api/v1/inventory/?page_size=1000 (client wall time)
  full_wh    the same with by_warehouse=1
  floor      the same pages' SQL (inventory.sql.stock_feed_page_sql) run directly with
             psycopg, prepared, one round trip per page: the database's share
  delta      for --polls-seconds, a writer thread changes stock (stock_adjust, the real
             service) --trickle times a second at random SKUs while the client polls
             `updated_after=<changes_cursor>` every --poll-interval seconds, walking the
             delta's pages; p50/p95/p99 of one poll, and every SKU the writer changed
             must have come back in some poll (missed: must be 0)
  delta_floor the delta statement run directly, same cursors

Prints the figures and the targets (full sync < 10 s, delta p95 < 50 ms).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/consign_feed_bench"
PREFIX = "FEEDB-"
WAREHOUSES = ("feed-ams", "feed-rtm", "feed-ber")
OTHER_WAREHOUSE = "feed-other"
TARGETS = {"full_s": 10.0, "delta_p95_ms": 50.0}
PAGE = 1000


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--skus", type=int, default=100_000)
    parser.add_argument("--ledger", type=int, default=1_000_000, help="Ledger rows at least.")
    parser.add_argument("--polls-seconds", type=float, default=30.0)
    parser.add_argument("--trickle", type=float, default=20.0, help="Stock changes per second.")
    parser.add_argument("--poll-interval", type=float, default=0.25)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers.")
    parser.add_argument("--port", type=int, default=8795)
    parser.add_argument("--rounds", type=int, default=3, help="Full syncs of each kind.")
    return parser.parse_args()


def seed(skus: int, ledger: int) -> None:
    """Products, warehouses, stock and ledger padding, once (COPY and INSERT ... SELECT)."""
    from django.db import connection, transaction
    from django.utils import timezone

    from core.bulk import copy_rows
    from inventory.models import Product, StockMovement, Warehouse
    from inventory.sql import StockMovementRow, stock_movements_bulk_apply
    from orders.models import Channel, ChannelWarehouse

    with transaction.atomic():
        channel, _ = Channel.objects.get_or_create(code="feedbench", defaults={"name": "Feed"})
        other, _ = Channel.objects.get_or_create(code="feedother", defaults={"name": "Other"})
        warehouses = []
        for code in (*WAREHOUSES, OTHER_WAREHOUSE):
            warehouse, _ = Warehouse.objects.get_or_create(
                code=code, defaults={"name": code, "country": "NL"}
            )
            warehouses.append(warehouse)
        for warehouse in warehouses[:3]:
            ChannelWarehouse.objects.get_or_create(channel=channel, warehouse=warehouse)
        ChannelWarehouse.objects.get_or_create(channel=other, warehouse=warehouses[3])
    have = Product.objects.filter(sku__startswith=PREFIX).count()
    if have < skus:
        started = time.monotonic()
        now = timezone.now()
        columns = (
            "created_at", "updated_at", "sku", "name", "barcode", "weight_grams", "length_mm",
            "width_mm", "height_mm", "hs_code", "country_of_origin", "customs_description",
            "customs_value", "customs_currency", "is_active",
        )  # fmt: skip
        rows = [
            (now, now, f"{PREFIX}{n:07d}", f"Feed product {n}", None, 300, 0, 0, 0, "", "", "",
             None, "", n % 100 != 99)
            for n in range(have, skus + skus // 100)
        ]  # fmt: skip
        with transaction.atomic(), connection.cursor() as cursor:
            copy_rows(cursor, model=Product, columns=columns, rows=rows)
        ids = list(
            Product.objects.filter(sku__startswith=PREFIX)
            .order_by("id")
            .values_list("id", flat=True)[have:]
        )
        rng = random.Random(have)
        movements = []
        for product_id in ids:
            for warehouse in warehouses:
                if rng.random() < 0.6:
                    movements.append(
                        StockMovementRow(
                            product_id=product_id, warehouse_id=warehouse.pk,
                            type=StockMovement.Type.RECEIPT, on_hand_delta=rng.randint(20, 500),
                            reserved_delta=0, reason="", reference="bench", order_id=None,
                            actor_id=None, note="", created_at=now,
                        )
                    )  # fmt: skip
        for start in range(0, len(movements), 100_000):
            with transaction.atomic(), connection.cursor() as cursor:
                stock_movements_bulk_apply(
                    cursor,
                    movements=movements[start : start + 100_000],
                    reference="bench",
                    replenish_extra=0,
                )
        print(f"seeded {len(ids):,} products, {len(movements):,} levels in "
              f"{time.monotonic() - started:.1f} s", flush=True)  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM inventory_stockmovement")
        rows_now = cursor.fetchone()[0]
        if rows_now < ledger:
            started = time.monotonic()
            cursor.execute(
                "SELECT min(id), max(id) FROM inventory_product WHERE sku LIKE %s",
                [PREFIX + "%"],
            )
            low, high = cursor.fetchone()
            pairs = (ledger - rows_now + 1) // 2
            for start in range(0, pairs, 500_000):
                count = min(500_000, pairs - start)
                with transaction.atomic():
                    # Historic pairs (+1 then -1) a year ago: the ledger still sums to the
                    # levels, and the journal the deltas read is big.
                    cursor.execute(
                        """
                        INSERT INTO inventory_stockmovement (product_id, warehouse_id, type,
                            on_hand_delta, reserved_delta, reason, reference, note, created_at)
                        SELECT %s + (g / 2) %% (%s - %s + 1), %s,
                            CASE WHEN g %% 2 = 0 THEN 'receipt' ELSE 'adjustment' END,
                            CASE WHEN g %% 2 = 0 THEN 1 ELSE -1 END, 0, '', 'bench-history',
                            '', now() - interval '365 days'
                        FROM generate_series(%s, %s) g
                        """,
                        [low, high, low, warehouses[0].pk, 2 * start, 2 * (start + count) - 1],
                    )
            print(f"padded the ledger to {ledger:,} rows in {time.monotonic() - started:.1f} s",
                  flush=True)  # fmt: skip
    from api_intake import vacuum_analyze

    vacuum_analyze()


def new_key() -> tuple[str, list[int]]:
    import uuid

    from orders.models import Channel
    from partners.services import api_key_create

    channel = Channel.objects.get(code="feedbench")
    _, raw = api_key_create(channel=channel, name=f"feed bench {uuid.uuid4().hex[:6]}")
    return raw, list(channel.warehouses.values_list("id", flat=True))


async def full_sync(base: str, key: str, *, by_warehouse: bool) -> tuple[float, int, int, list]:
    """Walk every page as one client; (seconds, pages, items, the pages' keys for the floor)."""
    from lean_http import LeanClient

    headers = {"Authorization": f"Bearer {key}"}
    extra = "&by_warehouse=1" if by_warehouse else ""
    pages = items = 0
    after: list[str] = []
    async with LeanClient(base, size=1) as client:
        started = time.perf_counter()
        url = f"/api/v1/inventory/?page_size={PAGE}{extra}"
        while True:
            response = await client.request("GET", url, headers=headers)
            if response.status_code != 200:
                raise SystemExit(f"feed page failed: {response.status_code} {response.text[:300]}")
            body = response.json()
            pages += 1
            items += len(body["results"])
            if not body["next_cursor"]:
                break
            after.append(body["results"][-1]["sku"])
            url = f"/api/v1/inventory/?page_size={PAGE}{extra}&cursor={body['next_cursor']}"
        return time.perf_counter() - started, pages, items, after


def floor(url: str, warehouse_ids: list[int], *, by_warehouse: bool, afters: list[str]) -> float:
    """The same pages' statement, straight from psycopg (prepared, one round trip each)."""
    import psycopg

    from inventory.sql import stock_feed_page_sql

    sql = stock_feed_page_sql(by_warehouse=by_warehouse, changed=None)
    with psycopg.connect(url) as conn:
        conn.execute(sql, {"warehouses": warehouse_ids, "after": "", "size": PAGE}, prepare=True)
        started = time.perf_counter()
        for after in ["", *afters]:
            cursor = conn.execute(
                sql, {"warehouses": warehouse_ids, "after": after, "size": PAGE}, prepare=True
            )
            cursor.fetchone()
        return time.perf_counter() - started


def trickle(stop: threading.Event, rate: float, changed: dict[str, float]) -> None:
    """Change stock at random SKUs through the real service, `rate` times a second."""
    from django.db import connection

    from inventory.models import Product, StockLevel
    from inventory.services.stock import stock_adjust

    levels = list(
        StockLevel.objects.filter(
            warehouse__code__in=WAREHOUSES,
            product__sku__startswith=PREFIX,
            product__is_active=True,
            on_hand__gt=5,
        )
        .select_related("product", "warehouse")
        .order_by("?")[:5000]
    )
    rng = random.Random(7)
    try:
        next_at = time.monotonic()
        while not stop.is_set():
            level = rng.choice(levels)
            product: Product = level.product
            delta = rng.choice((-1, 1))
            stock_adjust(
                product=product,
                warehouse=level.warehouse,
                delta=delta,
                reason="damaged" if delta < 0 else "found",
            )
            changed.setdefault(product.sku, time.monotonic())
            next_at += rng.expovariate(rate)
            time.sleep(max(0.0, next_at - time.monotonic()))
    finally:
        connection.close()


async def delta_polls(
    base: str, key: str, *, seconds: float, interval: float, first_token: str
) -> tuple[list[float], set[str], list[int], list[str]]:
    """Poll with the changes cursor; per poll: latency of all its pages, SKUs, page count."""
    from lean_http import LeanClient

    headers = {"Authorization": f"Bearer {key}"}
    latencies: list[float] = []
    seen: set[str] = set()
    sizes: list[int] = []
    tokens = [first_token]
    token = first_token
    async with LeanClient(base, size=1) as client:
        deadline = time.monotonic() + seconds
        while True:
            last = time.monotonic() >= deadline
            started = time.perf_counter()
            url = f"/api/v1/inventory/?page_size={PAGE}&updated_after={token}"
            items = 0
            while True:
                response = await client.request("GET", url, headers=headers)
                if response.status_code != 200:
                    raise SystemExit(f"delta failed: {response.status_code} {response.text[:300]}")
                body = response.json()
                seen.update(item["sku"] for item in body["results"])
                items += len(body["results"])
                if not body["next_cursor"]:
                    break
                url += f"&cursor={body['next_cursor']}"
            latencies.append(time.perf_counter() - started)
            sizes.append(items)
            token = body["changes_cursor"]
            tokens.append(token)
            if last:
                return latencies, seen, sizes, tokens
            await asyncio.sleep(interval)


def delta_floor(url: str, warehouse_ids: list[int], tokens: list[str]) -> list[float]:
    """The first page of each poll's delta statement, straight from psycopg."""
    import base64
    import json

    import psycopg

    from inventory.sql import stock_feed_page_sql

    sql = stock_feed_page_sql(by_warehouse=False, changed="xid")
    out = []
    with psycopg.connect(url) as conn:
        for token in tokens:
            _, xmax, in_progress = json.loads(base64.urlsafe_b64decode(token + "==="))
            params = {
                "warehouses": warehouse_ids,
                "after": "",
                "size": PAGE,
                "xmax": str(xmax),
                "xip": [str(xid) for xid in in_progress],
            }
            started = time.perf_counter()
            conn.execute(sql, params, prepare=True).fetchone()
            out.append(time.perf_counter() - started)
    return out


async def changes_cursor(base: str, key: str) -> str:
    """The changes cursor of now, from a one-SKU feed page."""
    from lean_http import LeanClient

    async with LeanClient(base, size=1) as client:
        response = await client.request(
            "GET", "/api/v1/inventory/?page_size=1", headers={"Authorization": f"Bearer {key}"}
        )
        return response.json()["changes_cursor"]


def ms(values: list[float], q: int) -> float:
    import statistics

    if len(values) < 2:
        return float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] * 1000


def main() -> None:
    args = parse_args()
    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB)
    from config.env import DEVELOPMENT_SECRETS_KEY

    os.environ.setdefault("CONSIGN_SECRETS_KEY", DEVELOPMENT_SECRETS_KEY)
    os.environ.setdefault("DATABASE_STATEMENT_TIMEOUT_MS", "0")
    from api_intake import ensure_database, start_gunicorn

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

    seed(args.skus, args.ledger)
    key, warehouse_ids = new_key()
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM inventory_stockmovement")
        ledger_rows = cursor.fetchone()[0]
        cursor.execute("SELECT count(*) FROM inventory_product WHERE is_active")
        active = cursor.fetchone()[0]
    connection.close()

    base = f"http://127.0.0.1:{args.port}"
    process = start_gunicorn(args.port, args.workers, url, False)
    results: dict[str, list[float]] = {"full": [], "full_wh": [], "floor": [], "floor_wh": []}
    try:
        asyncio.run(full_sync(base, key, by_warehouse=False))  # warm-up: caches, connections
        shape = None
        for _ in range(args.rounds):
            for by_wh, name in ((False, "full"), (True, "full_wh")):
                seconds, pages, items, afters = asyncio.run(
                    full_sync(base, key, by_warehouse=by_wh)
                )
                if items != active:
                    raise SystemExit(f"full sync served {items:,} SKUs of {active:,}")
                shape = (pages, items)
                results[name].append(seconds)
                floor_name = "floor_wh" if by_wh else "floor"
                results[floor_name].append(
                    floor(url, warehouse_ids, by_warehouse=by_wh, afters=afters)
                )
        # Delta polls with a trickle of real stock changes.
        first = asyncio.run(changes_cursor(base, key))
        stop = threading.Event()
        changed: dict[str, float] = {}
        writer = threading.Thread(target=trickle, args=(stop, args.trickle, changed))
        writer.start()
        try:
            latencies, seen, sizes, tokens = asyncio.run(
                delta_polls(
                    base,
                    key,
                    seconds=args.polls_seconds,
                    interval=args.poll_interval,
                    first_token=first,
                )
            )
        finally:
            stop.set()
            writer.join(30)
        # One more poll after the writer stopped: every change must have come back by then.
        final_latencies, final_seen, _, _ = asyncio.run(
            delta_polls(base, key, seconds=0, interval=0, first_token=tokens[-1])
        )
        seen |= final_seen
        floors = delta_floor(url, warehouse_ids, tokens[:-1])
    finally:
        process.terminate()
        process.wait(timeout=20)

    missed = sorted(set(changed) - seen)
    best = {name: min(values) for name, values in results.items()}
    print()
    print(
        f"{active:,} active SKUs, {ledger_rows:,} ledger rows, {len(warehouse_ids)} warehouses "
        f"for the channel; gunicorn {args.workers} sync workers; one client; "
        f"{os.cpu_count()} CPUs; pages of {PAGE} ({shape[0] if shape else '?'} pages)"
    )
    for name in ("full", "full_wh"):
        floor_name = name.replace("full", "floor")
        print(
            f"{name:8} {', '.join(f'{s:.2f}' for s in results[name])} s "
            f"(best {best[name]:.2f} s, {active / best[name]:,.0f} SKUs/s); SQL floor "
            f"{best[floor_name]:.2f} s; ratio floor/API {best[floor_name] / best[name]:.2f}"
        )
    print(
        f"delta    {len(latencies)} polls over {args.polls_seconds:.0f} s at "
        f"{len(changed)} changed SKUs ({args.trickle:g}/s): p50 {ms(latencies, 50):.1f} ms, "
        f"p95 {ms(latencies, 95):.1f} ms, p99 {ms(latencies, 99):.1f} ms; SKUs per poll "
        f"median {sorted(sizes)[len(sizes) // 2]}, max {max(sizes)}; SQL floor p50 "
        f"{ms(floors, 50):.1f} ms, p95 {ms(floors, 95):.1f} ms; missed {len(missed)}"
    )
    print()
    print(
        f"full sync {best['full']:.2f} s (target < {TARGETS['full_s']:.0f} s), with "
        f"by_warehouse {best['full_wh']:.2f} s; delta p95 {ms(latencies, 95):.1f} ms "
        f"(target < {TARGETS['delta_p95_ms']:.0f}); missed changes: {len(missed)} (must be 0)"
    )
    if missed:
        raise SystemExit(f"missed: {missed[:20]}")


if __name__ == "__main__":
    main()
