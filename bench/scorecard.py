"""Provider scorecard over 1,000,000 shipments and 90 days (issue 19): build time of the
daily aggregates and the page's latency and query count.

Usage (its own database, created and migrated if missing):

    uv run python bench/scorecard.py [--shipments 1000000] [--requests 60] [--refill]

DATABASE_URL defaults to postgres://postgres@127.0.0.1:5432/consign_scorecard_bench.
The data is written with INSERT … SELECT generate_series (a few template rows made by
the ORM, cloned in the database): 5 providers, 90 days of outbound shipments (88 %
delivered, some late, 2 % failed to dispatch, 3 % with an exception), a first scan and
a delivery event per shipment, one webhook in five (0.5 % refused), an expected cost
per dispatched shipment, 2 % returned, three invoices per provider with disputes.
Then: `scorecard_backfill` over the 90 days (timed), the beat refresh of today and
yesterday (timed), and GET /ops/scorecard/ for the 90 days and all providers through
the Django test client, p50/p95 over --requests requests, with the query count.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/consign_scorecard_bench"
os.environ.setdefault("DATABASE_URL", DEFAULT_DB)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DJANGO_DEBUG", "true")  # a development tool: production is the default


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--shipments", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=60)
    parser.add_argument("--refill", action="store_true", help="Start from an empty database.")
    parser.add_argument(
        "--pages-only", action="store_true", help="Keep the aggregates built by an earlier run."
    )
    return parser.parse_args()


def ensure_database(url: str, *, shipments: int, refill: bool) -> bool:
    """Create the bench database (dropping one left half-filled); True when it needs filling."""
    import psycopg

    base, name = url.rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
    have = 0
    if exists:
        with psycopg.connect(url) as conn:
            try:
                row = conn.execute(
                    "SELECT count(*) FROM logistics_shipment WHERE tracking_number LIKE 'SCB%%'"
                ).fetchone()
                have = row[0] if row else 0
            except psycopg.Error:
                have = 0
    if exists and have >= shipments and not refill:
        return False
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        if exists:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return True


ARGS = arguments()
NEEDS_FILL = ensure_database(
    os.environ["DATABASE_URL"], shipments=ARGS.shipments, refill=ARGS.refill
)

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, models, transaction  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402

TARGET_P95_MS = 500
DAYS = 90
PROVIDERS = 5
TAG = "scb"


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    k = (len(values) - 1) * p
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def clone(model: type[models.Model], template_pk: int, source: str, overrides: dict) -> int:
    """INSERT one row per row of `source` (aliased s), copying the template row's columns
    except those in `overrides` (column → SQL expression over s)."""
    table = model._meta.db_table
    columns = [f.column for f in model._meta.concrete_fields if not f.primary_key]
    values = [overrides.get(c, f'tpl."{c}"') for c in columns]
    quoted = ", ".join(f'"{c}"' for c in columns)
    sql = (
        f'INSERT INTO "{table}" ({quoted}) '  # noqa: S608 - this script's constants only
        f'SELECT {", ".join(values)} FROM "{table}" AS tpl, ({source}) AS s '
        f"WHERE tpl.{model._meta.pk.column} = {int(template_pk)}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return cursor.rowcount


def step(label: str, began: float) -> float:
    now = time.perf_counter()
    print(f"  {label}: {now - began:.1f} s", flush=True)
    return now


def fill(n_shipments: int) -> None:  # noqa: PLR0915 - one linear script
    from economics.models import Dispute, Invoice, ShipmentCost
    from economics.services.rate_card_csv import rate_card_import
    from economics.services.rate_cards import rate_card_activate
    from inventory.models import Warehouse
    from logistics.models import InboundWebhook, Provider, ServiceLevel, Shipment, TrackingEvent
    from orders.models import Channel, Order
    from returns.models import ReturnRequest

    began = t0 = time.perf_counter()
    with connection.cursor() as cursor:
        # Loading a million rows in one statement takes longer than the app's request timeout.
        cursor.execute("SET statement_timeout = 0")
    now = timezone.now()
    today = timezone.localdate()
    providers, levels, warehouses, cards = [], [], [], []
    with transaction.atomic():
        channel, _ = Channel.objects.get_or_create(code=f"{TAG}-shop", defaults={"name": "Bench"})
        for i in range(PROVIDERS):
            provider, _ = Provider.objects.get_or_create(
                code=f"{TAG}-lsp-{i + 1}",
                defaults={"name": f"Bench LSP {i + 1}", "base_url": "http://127.0.0.1:1"},
            )
            level, _ = ServiceLevel.objects.get_or_create(
                provider=provider,
                code="standard",
                defaults={"name": "Standard", "max_transit_hours": (24, 48, 48, 72, 96)[i]},
            )
            warehouse, _ = Warehouse.objects.get_or_create(
                code=f"{TAG}-wh-{i + 1}",
                defaults={"name": f"Bench site {i + 1}", "country": "NL", "kind": "3pl",
                          "provider": provider},
            )  # fmt: skip
            card = rate_card_import(
                provider_id=provider.pk,
                text=(
                    "record,code,name,currency,valid_from,valid_to,monthly_minimum,countries,"
                    "charge_type,zone,weight_from_grams,weight_to_grams,amount,percent,"
                    "applies_to,included_units,postcode_prefixes,storage_basis\n"
                    "card,,Bench,EUR,2020-01-01,,,,,,,,,,,,,\n"
                    "zone,nl,,,,,,NL,,,,,,,,,,\n"
                    "rule,,Fulfilment,,,,,,fulfilment,,,,1.80,,,,,\n"
                    "rule,,Parcel,,,,,,parcel,nl,0,,4.20,,,,,\n"
                ),
            )
            cards.append(rate_card_activate(card_id=card.pk, actor="bench"))
            providers.append(provider)
            levels.append(level)
            warehouses.append(warehouse)
        template_order = Order.objects.create(
            number=f"{TAG.upper()}-T", channel=channel, external_reference=f"{TAG}-t",
            status=Order.Status.IN_FULFILMENT, currency="EUR", customer_email="b@example.com",
            customer_name="Bench Customer", shipping_name="Bench Customer",
            shipping_line1="1 Bench Street", shipping_city="Amsterdam", shipping_country="NL",
            placed_at=now,
        )  # fmt: skip
        template_shipment = Shipment.objects.create(
            order=template_order, warehouse=warehouses[0], provider=providers[0]
        )
        template_return = ReturnRequest.objects.create(
            order=template_order,
            original_shipment=template_shipment,
            warehouse=warehouses[0],
            currency="EUR",
        )
    t0 = step("providers, cards, templates", t0)

    n_orders = max(1, int(n_shipments * 0.7))
    clone(
        Order,
        template_order.pk,
        f"SELECT g, now() - interval '1 day' * (g % {DAYS}) AS at "  # noqa: S608
        f"FROM generate_series(1, {n_orders}) g",
        {
            "number": f"'{TAG.upper()}-' || s.g",
            "external_reference": f"'{TAG}-' || s.g",
            "placed_at": "s.at",
            "created_at": "s.at",
            "updated_at": "s.at",
        },
    )
    t0 = step(f"{n_orders:,} orders", t0)
    first_order = Order.objects.filter(number=f"{TAG.upper()}-1").values_list("pk", flat=True)[0]

    def pick(values: list[int], index: str) -> str:
        return f"(ARRAY[{','.join(map(str, values))}])[1 + {index}]"

    # Day offset g mod 90, provider (g div 90) mod 5: every provider ships every day. The
    # dispatch time is now − the day offset − a random time of day; 2 % never dispatched.
    source = (
        f"SELECT g, (g / {DAYS}) % {PROVIDERS} AS p, random() AS r, random() AS q, "  # noqa: S608
        f"now() - interval '1 day' * (g % {DAYS}) - interval '1 second' * (random() * 86400) "
        f"AS at FROM generate_series(1, {n_shipments}) g"
    )
    delivered_at = "s.at + interval '1 hour' * (12 + s.q * 90)"
    clone(
        Shipment,
        template_shipment.pk,
        source,
        {
            "order_id": f"{first_order} + (s.g % {n_orders})",
            "warehouse_id": pick([w.pk for w in warehouses], "s.p"),
            "provider_id": pick([p.pk for p in providers], "s.p"),
            "service_level_id": pick([lv.pk for lv in levels], "s.p"),
            "idempotency_token": "gen_random_uuid()",
            "tracking_number": f"'{TAG.upper()}' || s.g",
            "status": (
                "CASE WHEN s.r < 0.02 THEN 'dispatch_failed' WHEN s.r < 0.05 THEN 'exception' "
                f"WHEN s.r < 0.93 AND {delivered_at} < now() THEN 'delivered' "
                "ELSE 'in_transit' END"
            ),
            "dispatched_at": "CASE WHEN s.r < 0.02 THEN NULL ELSE s.at END",
            "delivered_at": (
                f"CASE WHEN s.r >= 0.05 AND s.r < 0.93 AND {delivered_at} < now() "
                f"THEN {delivered_at} END"
            ),
            "created_at": "s.at - interval '2 hours' * s.q",
            "updated_at": "s.at",
            "dispatch_attempts": "CASE WHEN s.r < 0.02 THEN 5 ELSE 1 END",
        },
    )
    t0 = step(f"{n_shipments:,} shipments", t0)
    ours = f"provider_id IN ({','.join(str(p.pk) for p in providers)})"
    card_of_provider = (
        "CASE provider_id "
        + " ".join(f"WHEN {p.pk} THEN {c.pk}" for p, c in zip(providers, cards, strict=True))
        + " END"
    )
    with connection.cursor() as cursor:
        event_cols = (
            "shipment_id, status, provider_status, description, location, occurred_at, "
            "received_at, dedup_key, raw"
        )
        te = TrackingEvent._meta.db_table
        sh = Shipment._meta.db_table
        cursor.execute(
            f"INSERT INTO {te} ({event_cols}) "  # noqa: S608
            "SELECT id, 'in_transit', '', '', '', scan, "
            "scan + interval '1 second' * (5 + 600 * random() ^ 3), 'scan-' || id, '{}' "
            f"FROM (SELECT id, dispatched_at + interval '1 minute' * (20 + 900 * random()) AS scan "
            f"FROM {sh} WHERE {ours} AND dispatched_at IS NOT NULL) AS x WHERE scan < now()"
        )
        cursor.execute(
            f"INSERT INTO {te} ({event_cols}) "  # noqa: S608
            "SELECT id, 'delivered', '', '', '', delivered_at, "
            "delivered_at + interval '1 second' * (5 + 300 * random() ^ 3), "
            "'delivered-' || id, '{}' "
            f"FROM {sh} WHERE {ours} AND delivered_at IS NOT NULL"
        )
        cursor.execute(
            f"INSERT INTO {te} ({event_cols}) "  # noqa: S608
            "SELECT id, 'exception', (ARRAY['ADDRESS_UNKNOWN','DAMAGED','REFUSED'])[1 + id % 3], "
            "'', '', at, at + interval '30 seconds', 'exception-' || id, '{}' "
            f"FROM (SELECT id, dispatched_at + interval '1 day' AS at FROM {sh} "
            f"WHERE {ours} AND status = 'exception') AS x WHERE at < now()"
        )
        t0 = step("tracking events", t0)
        cursor.execute(
            f"INSERT INTO {InboundWebhook._meta.db_table} "  # noqa: S608
            "(provider_id, webhook_id, body, status, received_at, attempts, error) "
            "SELECT provider_id, 'wh-' || id, '{}', "
            "CASE WHEN random() < 0.005 THEN 'failed' ELSE 'processed' END, "
            "dispatched_at + interval '3 hours', 1, '' "
            f"FROM {sh} WHERE {ours} AND dispatched_at IS NOT NULL AND id % 5 = 0"
        )
        t0 = step("webhooks", t0)
        cursor.execute(
            f"INSERT INTO {ShipmentCost._meta.db_table} "  # noqa: S608
            "(shipment_id, stage, card_id, currency, total, problems, priced_at) "
            f"SELECT id, 'dispatched', {card_of_provider}, "
            "'EUR', round((4 + random() * 8)::numeric, 2), '{}', dispatched_at "
            f"FROM {sh} WHERE {ours} AND dispatched_at IS NOT NULL"
        )
        t0 = step("expected costs", t0)
    clone(
        ReturnRequest,
        template_return.pk,
        f"SELECT id, order_id, warehouse_id, delivered_at + interval '1 day' AS asked, "  # noqa: S608
        f"random() AS r FROM {Shipment._meta.db_table} "
        f"WHERE {ours} AND delivered_at IS NOT NULL AND id % 50 = 0",
        {
            "order_id": "s.order_id",
            "original_shipment_id": "s.id",
            "warehouse_id": "s.warehouse_id",
            "idempotency_token": "gen_random_uuid()",
            "status": "'received'",
            "created_at": "s.asked",
            "updated_at": "s.asked",
            "received_at": "LEAST(now(), s.asked + interval '1 hour' * (24 + 200 * s.r))",
        },
    )
    t0 = step("returns", t0)
    with transaction.atomic():
        for provider in providers:
            for month in range(3):
                end = today.replace(day=1) - dt.timedelta(days=1 + 31 * month)
                invoice = Invoice.objects.create(
                    provider=provider, number=f"{TAG}-{provider.pk}-{month}", currency="EUR",
                    period_start=end.replace(day=1), period_end=end,
                    invoiced_total=65_000, expected_total=64_000,
                )  # fmt: skip
                Dispute.objects.bulk_create(
                    Dispute(
                        invoice=invoice,
                        kind="overcharged",
                        difference=1,
                        status=("open", "disputed", "credited")[i % 3],
                    )  # fmt: skip
                    for i in range(300)
                )
    t0 = step("invoices and disputes", t0)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
        cursor.execute("RESET statement_timeout")
    step("analyze", t0)
    print(f"filled in {time.perf_counter() - began:.0f} s", flush=True)


def build(first: dt.date, today: dt.date) -> None:
    from economics.models import ProviderDay
    from economics.services.scorecard import provider_days_backfill, provider_days_refresh

    began = time.perf_counter()
    rows = provider_days_backfill(first=first, last=today)
    backfill_s = time.perf_counter() - began
    print(f"aggregates: {rows} ProviderDay rows for {DAYS} days in {backfill_s:.1f} s", flush=True)
    began = time.perf_counter()
    provider_days_refresh(days=2)
    refresh_s = time.perf_counter() - began
    print(f"beat refresh (today and yesterday): {refresh_s:.1f} s", flush=True)
    if ProviderDay.objects.filter(day__gte=first).count() != rows:
        raise SystemExit("the refresh changed the number of aggregate rows")


def main() -> int:
    from economics.models import ProviderDay
    from logistics.models import Shipment

    args = ARGS
    settings.ALLOWED_HOSTS = ["testserver"]
    settings.DEBUG = False
    call_command("migrate", verbosity=0)
    print(f"database: {settings.DATABASES['default']['NAME']}", flush=True)
    if NEEDS_FILL:
        fill(args.shipments)
    total = Shipment.objects.count()
    print(f"shipments: {total:,}", flush=True)

    today = timezone.localdate()
    first = today - dt.timedelta(days=DAYS - 1)
    if not args.pages_only:
        build(first, today)
    else:
        print(f"aggregates kept: {ProviderDay.objects.count()} ProviderDay rows", flush=True)

    user_model = get_user_model()
    manager = user_model.objects.filter(username="scorecard-bench").first()
    if manager is None:
        manager = user_model.objects.create_superuser("scorecard-bench", password=None)
    client = Client()
    client.force_login(manager)
    ok = True
    print(f"{'page':<28}{'n':>5}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}{'queries':>9}")
    for label, url, params in [
        ("90 days, all providers", "/ops/scorecard/", {"start": first, "end": today}),
        ("1 day, all providers", "/ops/scorecard/", {"start": today, "end": today}),
        ("90 days, CSV", "/ops/scorecard.csv", {"start": first, "end": today}),
    ]:
        query = {"period": "custom", **{k: str(v) for k, v in params.items()}}
        for _ in range(5):
            client.get(url, query)
        times, n_queries = [], 0
        for _ in range(args.requests):
            with CaptureQueriesContext(connection) as queries:
                start = time.perf_counter()
                response = client.get(url, query)
                times.append((time.perf_counter() - start) * 1000)
            if response.status_code != 200:
                raise SystemExit(f"{label}: HTTP {response.status_code}")
            n_queries = max(n_queries, len(queries.captured_queries))
        p95 = pct(times, 0.95)
        if label.startswith("90 days, all"):
            ok &= p95 < TARGET_P95_MS
        print(
            f"{label:<28}{len(times):>5}{statistics.median(times):>9.1f}{p95:>9.1f}"
            f"{max(times):>9.1f}{n_queries:>9}",
            flush=True,
        )
    print(f"target: 90-day page p95 < {TARGET_P95_MS} ms: {'MET' if ok else 'NOT MET'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
