"""Desk search and order page latency through the real views (Django test Client).

Usage (against a database seeded with `seed_demo --orders 1000000`):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/consign_bench \
        uv run python bench/desk_search.py [--samples 200] [--warmup 20]

For each kind of identifier a customer reads out, 200 real values are sampled
from the database and reshaped the way a customer says them (local phone
form, postcode without the space, e-mail in other case, part of the name, ...),
then searched through GET /desk/?q=... as a logged-in agent. Prints p50/p95/max
per kind, for the empty desk (recent orders, the agent's holds) and for the order
page, plus the number of queries per request.
Writes nothing but a session row for the agent (the demo user `agent`).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DJANGO_DEBUG", "true")  # a development tool: production is the default

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

TARGET_SEARCH_P95_MS = 100
TARGET_ORDER_P95_MS = 150


def sample(sql: str, n: int) -> list:
    with connection.cursor() as cursor:
        cursor.execute(sql, [n])
        return [row[0] for row in cursor.fetchall()]


def sampled_queries(n: int, rng: random.Random) -> dict[str, list[str]]:
    # TABLESAMPLE keeps sampling cheap on a million rows; the order is then shuffled.
    orders = "SELECT {col} FROM orders_order TABLESAMPLE SYSTEM (1) WHERE {where} LIMIT %s"
    numbers = sample(orders.format(col="number", where="true"), n)
    refs = sample(orders.format(col="external_reference", where="true"), n)
    emails = sample(orders.format(col="customer_email", where="true"), n)
    names = sample(orders.format(col="customer_name", where="customer_name <> ''"), n)
    phones = sample(orders.format(col="customer_phone", where="customer_phone <> ''"), n)
    postcodes = sample(orders.format(col="shipping_postcode", where="shipping_postcode <> ''"), n)
    cities = sample(orders.format(col="shipping_city", where="shipping_city <> ''"), n)
    tracking = sample(
        "SELECT tracking_number FROM logistics_shipment TABLESAMPLE SYSTEM (2) "
        "WHERE tracking_number <> '' LIMIT %s",
        n,
    )

    def name_part(name: str) -> str:
        # What an agent types for "Mrs ... van den Berg": a surname fragment.
        words = [w for w in name.split() if len(w) >= 4] or [name]
        word = rng.choice(words)
        return word[: max(4, len(word) - 1)].lower()

    def local_phone(phone: str) -> str:
        digits = "".join(c for c in phone if c.isdigit())
        return "0" + digits[-9:]

    def number_form(number: str) -> str:
        digits = number.split("-", 1)[1]
        return rng.choice([number, number.lower(), str(int(digits))])

    return {
        "number": [number_form(x) for x in numbers],
        "external_reference": [x.lower() for x in refs],
        "email": [x.upper() for x in emails],
        "name": [name_part(x) for x in names],
        "phone": [local_phone(x) for x in phones],
        "postcode": [x.replace(" ", "").lower() for x in postcodes],
        "city": [x.lower() for x in cities],
        # Read out in lower case: the any-case match (shipment_tracking_ci) is what is timed.
        "tracking": [x.lower() for x in tracking],
    }


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    k = (len(values) - 1) * p
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def timed(client: Client, url: str, params: dict | None = None) -> tuple[float, int, int, int]:
    connection.queries_log.clear()
    with CaptureQueriesContext(connection) as queries:
        start = time.perf_counter()
        response = client.get(url, params or {})
        elapsed = (time.perf_counter() - start) * 1000
    body = response.content
    return (
        elapsed,
        response.status_code,
        len(queries.captured_queries),
        body.count(b"/desk/orders/"),
    )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    settings.ALLOWED_HOSTS = ["testserver"]
    settings.DEBUG = False

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM orders_order")
        total_orders = cursor.fetchone()[0]
    print(f"database: {settings.DATABASES['default']['NAME']}, orders: {total_orders:,}")

    user_model = get_user_model()
    agent = user_model.objects.filter(username="agent").first()
    if agent is None:
        print("no demo user 'agent': run seed_demo first", file=sys.stderr)
        return 2
    client = Client()
    client.force_login(agent)

    queries = sampled_queries(args.samples, rng)
    numbers_for_pages = sample(
        "SELECT number FROM orders_order TABLESAMPLE SYSTEM (1) LIMIT %s", args.samples
    )
    # Warm the connection, the template cache and Postgres' buffers a little.
    for q in [*queries["email"][: args.warmup]]:
        client.get("/desk/", {"q": q})

    ok = True
    print(f"{'kind':<20}{'n':>5}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}{'queries':>9}{'found':>7}")
    for kind, values in queries.items():
        times, found, nq = [], 0, 0
        for q in values:
            elapsed, status, n_queries, hits = timed(client, "/desk/", {"q": q})
            if status != 200:
                raise SystemExit(f"{kind} {q!r}: HTTP {status}")
            times.append(elapsed)
            found += 1 if hits else 0
            nq = max(nq, n_queries)
        p95 = pct(times, 0.95)
        ok &= p95 < TARGET_SEARCH_P95_MS
        print(
            f"{kind:<20}{len(times):>5}{statistics.median(times):>9.1f}{p95:>9.1f}"
            f"{max(times):>9.1f}{nq:>9}{found:>7}"
        )

    # The empty desk: recent orders and the agent's active holds.
    times, nq = [], 0
    for _ in range(args.samples):
        elapsed, status, n_queries, _ = timed(client, "/desk/")
        if status != 200:
            raise SystemExit(f"empty desk: HTTP {status}")
        times.append(elapsed)
        nq = max(nq, n_queries)
    p95 = pct(times, 0.95)
    ok &= p95 < TARGET_SEARCH_P95_MS
    print(
        f"{'empty desk':<20}{len(times):>5}{statistics.median(times):>9.1f}{p95:>9.1f}"
        f"{max(times):>9.1f}{nq:>9}"
    )

    times, nq = [], 0
    for number in numbers_for_pages:
        elapsed, status, n_queries, _ = timed(client, f"/desk/orders/{number}/")
        if status != 200:
            raise SystemExit(f"order page {number}: HTTP {status}")
        times.append(elapsed)
        nq = max(nq, n_queries)
    p95 = pct(times, 0.95)
    ok &= p95 < TARGET_ORDER_P95_MS
    print(
        f"{'order page':<20}{len(times):>5}{statistics.median(times):>9.1f}{p95:>9.1f}"
        f"{max(times):>9.1f}{nq:>9}"
    )
    print(
        f"targets: search p95 < {TARGET_SEARCH_P95_MS} ms, order page p95 < "
        f"{TARGET_ORDER_P95_MS} ms: {'MET' if ok else 'NOT MET'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
