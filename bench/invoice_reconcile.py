"""LSP invoice reconciliation: 100,000 invoice lines against 100,000 shipments (issue 19).

    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/consign_invoice_bench \\
        uv run python bench/invoice_reconcile.py [--shipments 100000] [--charge-types parcel]

Uses its own database (BENCH_DATABASE_URL, default consign_invoice_bench on the local
Postgres; created and migrated if missing). The first run fills it with --shipments
dispatched outbound shipments of ONE provider (the demo's `fulfilnet`), written by the
demo generator (demo/bulk.py: COPY through the owning apps, realistic orders with 1–5
lines, a parcel weighed from its products, eight destination countries with their
postcodes, provider references and tracking numbers), then VACUUM (ANALYZE): this
machine's Postgres runs without autovacuum. Every run then:

1. empties the economics tables and gives the provider the demo's active rate card;
2. prices every shipment with the beat's sweep (`expected_costs_sweep`), timed;
3. writes an invoice CSV from the expected charges, one line per shipment and billed
   charge type (`--charge-types`, default `parcel`: about one line per shipment), with
   faults: every 10th line overcharged 10 %, a line of every 25th shipment billed twice,
   a line with an unknown reference after every 40th shipment, every 50th shipment
   left out (work not invoiced);
4. times `lsp_invoice_import` (the service, in-process, as the management command
   calls it: parse, match, reconcile, COPY of lines and disputes, one transaction);
5. times the floor: COPY of the same file (same columns) into a bare unlogged table
   with psycopg, in the same run;
6. prints lines/s, seconds and the ratio, and checks that the summary's counts equal
   the faults injected (exit status 1 if not, or if the import took 60 s or more).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
from pathlib import Path
from urllib.parse import urlparse, urlunparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/consign_invoice_bench"
BENCH_URL = os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB)
os.environ["DATABASE_URL"] = BENCH_URL
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DJANGO_DEBUG", "true")  # a development tool: production is the default
os.environ.setdefault("LOG_LEVEL", "WARNING")
# The import of 100,000 lines is one transaction: longer than the web's statement timeout.
os.environ.setdefault("DATABASE_STATEMENT_TIMEOUT_MS", "0")

PROVIDER = "fulfilnet"
WAREHOUSE = "fulfilnet-erfurt"
TARGET_SECONDS = 60.0
FAULTS = {"overcharge_every": 10, "duplicate_every": 25, "unknown_every": 40, "omit_every": 50}
ECONOMICS_TABLES = (
    "economics_disputeevent, economics_dispute, economics_invoiceline, economics_invoice, "
    "economics_invoiceimportjob, economics_shipmentcharge, economics_shipmentcost, "
    "economics_sweepcursor"
)
FLOOR_TABLE = """
CREATE UNLOGGED TABLE IF NOT EXISTS bench_invoice_floor (
    invoice_number text, invoice_date date, reference text, tracking_number text,
    charge_type text, description text, quantity integer, amount numeric(14, 4),
    currency char(3), service_date date
)
"""


def _ensure_database() -> None:
    import psycopg

    url = urlparse(BENCH_URL)
    name = url.path.lstrip("/")
    admin = urlunparse(url._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def _vacuum() -> None:
    import psycopg

    with psycopg.connect(BENCH_URL, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE)")


def _fill(count: int) -> int:
    """Dispatched shipments of the one provider, up to `count`; returns how many exist."""
    from dataclasses import replace
    from random import Random

    from django.utils import timezone

    from demo import bulk, plans, world
    from logistics.models import Shipment
    from orders.models import Order

    dispatched = Shipment.objects.filter(provider__code=PROVIDER, dispatched_at__isnull=False)
    have = dispatched.count()
    if have >= count:
        return have
    demo = world.demo_world_ensure()
    # Every channel fulfils from the provider's warehouse: one provider carries everything.
    one = replace(demo, channel_warehouses={code: [WAREHOUSE] for code in demo.channels})
    ctx = plans.context_build(world=one, now=timezone.now(), sandbox_state=None)
    rng = Random(19)
    # Delivered orders span the last year; shipped ones are the last two days.
    statuses = [Order.Status.DELIVERED] * 6 + [Order.Status.SHIPPED]
    started = time.monotonic()
    while have < count:
        size = min(10_000, count - have)
        bulk.orders_generate_chunk(ctx=ctx, rng=rng, count=size, statuses=statuses)
        have = dispatched.count()
        print(f"  filled {have:,} shipments ({time.monotonic() - started:.1f} s)", flush=True)
    _vacuum()
    return have


def _reset_economics() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {ECONOMICS_TABLES}")


def _floor(text: str) -> float:
    """COPY the invoice file into a bare unlogged table: the least the import can cost."""
    import psycopg

    with psycopg.connect(BENCH_URL) as conn:
        conn.execute(FLOOR_TABLE)
        conn.execute("TRUNCATE bench_invoice_floor")
        conn.commit()
        started = time.perf_counter()
        with conn.cursor() as cursor:
            copy_sql = "COPY bench_invoice_floor FROM STDIN WITH (FORMAT csv, HEADER true)"
            with cursor.copy(copy_sql) as copy:
                copy.write(text)
        conn.commit()
        return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shipments", type=int, default=100_000)
    parser.add_argument(
        "--charge-types",
        default="parcel",
        help="Charge types billed per shipment, space- or comma-separated, or 'all'.",
    )
    parser.add_argument("--floor-rounds", type=int, default=3, help="COPY floor runs (best kept).")
    args = parser.parse_args()

    _ensure_database()
    import django

    django.setup()
    from django.core.management import call_command
    from django.db.models import Max, Min
    from django.utils import timezone

    from demo import economics as demo_economics
    from economics.services.expected_cost import expected_costs_sweep
    from economics.services.invoice_import import lsp_invoice_import
    from logistics.models import Provider, Shipment

    call_command("migrate", verbosity=0)
    print(f"database {urlparse(BENCH_URL).path.lstrip('/')}")
    have = _fill(args.shipments)
    provider = Provider.objects.get(code=PROVIDER)
    print(f"{have:,} dispatched shipments of {PROVIDER}")

    _reset_economics()
    demo_economics.demo_rate_cards_ensure(providers=[provider], today=timezone.now().date())

    started = time.perf_counter()
    priced = 0
    while count := expected_costs_sweep(max_seconds=600):
        priced += count
    sweep_seconds = time.perf_counter() - started
    print(
        f"sweep: {priced:,} shipments priced in {sweep_seconds:.1f} s "
        f"({priced / sweep_seconds:,.0f} shipments/s)"
    )
    _vacuum()

    span = Shipment.objects.filter(provider=provider, dispatched_at__isnull=False).aggregate(
        first=Min("dispatched_at"), last=Max("dispatched_at")
    )
    types = (
        None
        if args.charge_types == "all"
        else frozenset(args.charge_types.replace(",", " ").split())
    )
    started = time.perf_counter()
    invoice = demo_economics.invoice_from_expected(
        provider=provider,
        number=f"BENCH-{int(time.time())}",
        start=span["first"],
        end=span["last"] + dt.timedelta(seconds=1),
        charge_types=types,
        **FAULTS,
    )
    print(
        f"invoice: {invoice.lines:,} lines over {invoice.shipments:,} shipments, "
        f"{len(invoice.text) / 1e6:.1f} MB, written in {time.perf_counter() - started:.1f} s"
    )

    floor = min(_floor(invoice.text) for _ in range(max(1, args.floor_rounds)))

    marks: list[tuple[int, float]] = []
    started = time.perf_counter()
    result = lsp_invoice_import(
        provider_code=PROVIDER,
        text=invoice.text,
        source_name="bench.csv",
        actor="bench",
        progress=lambda done, total: marks.append((done, time.perf_counter() - started)),
    )
    seconds = time.perf_counter() - started
    matched_at = marks[-1][1] if marks else seconds

    summary = result.summary
    print(f"summary: {summary}")
    print(
        f"import: {invoice.lines:,} lines in {seconds:.1f} s ({invoice.lines / seconds:,.0f} lines/s; "
        f"lines matched after {matched_at:.1f} s, then work not invoiced and the COPY)"
    )
    print(
        f"floor (COPY into a bare unlogged table, best of {args.floor_rounds}): "
        f"{floor:.2f} s ({invoice.lines / floor:,.0f} lines/s)"
    )
    print(
        f"ratio import/floor: {seconds / floor:.1f}× the floor's time "
        f"(floor/import throughput {floor / seconds:.3f})"
    )

    failures = [
        f"{outcome}: summary {summary[str(outcome)]}, injected {expected}"
        for outcome, expected in invoice.expected.items()
        if summary[str(outcome)] != expected
    ]
    if summary["lines"] != invoice.lines:
        failures.append(f"lines: summary {summary['lines']}, file {invoice.lines}")
    if summary["undercharged"]:
        failures.append(f"undercharged: {summary['undercharged']}, injected 0")
    for failure in failures:
        print(f"MISMATCH {failure}")
    met = seconds < TARGET_SECONDS
    print(
        f"target < {TARGET_SECONDS:.0f} s: {'met' if met else 'MISSED'}; counts "
        f"{'equal the injected faults' if not failures else 'DIFFER'}"
    )
    return 0 if met and not failures else 1


if __name__ == "__main__":
    sys.exit(main())
