"""One partner API request of each kind, in-process: SQL statements, time, and a profile.

Usage (after bench/api_intake.py has created and filled its database once):

    uv run python bench/api_profile.py [--n 200] [--profile intake|read|list] [--top 30]

Runs against BENCH_DATABASE_URL (default consign_api_bench) with the bench's
production settings, through Django's test Client (the whole middleware and
DRF stack, no network, no gunicorn). For each kind it prints the SQL statements
of one request (and, with -v, the statements themselves) and the mean wall time
over --n requests with the share of it this process spent on the CPU (the
Python side, steadier than the wall time, which includes Postgres and the
commits' disk flushes); --profile prints cProfile's top functions of --n requests of
that kind. A single process, one request at a time: the deterministic half of
the figures in docs/perf.md (the other half is bench/api_intake.py under load).
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import random
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import api_intake  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--profile", choices=["intake", "read", "list"], default=None)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--nofulfil", action="store_true", help="Stub order_fulfil out.")
    parser.add_argument("-v", "--verbose", action="store_true", help="Print the statements.")
    args = parser.parse_args()

    os.environ["DATABASE_URL"] = api_intake.database_url()
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.api_intake_settings"
    os.environ.setdefault("DJANGO_DEBUG", "false")
    os.environ.setdefault("DJANGO_SECURE_SSL_REDIRECT", "false")
    os.environ.setdefault("API_THROTTLE_RATE", "10000000/minute")
    os.environ.setdefault("SECURITY_LOG_FILE", "")
    import logging

    import django

    django.setup()
    # The bench's gunicorn writes the security log to stderr; here it would drown the output.
    logging.getLogger("consign.security").handlers = [logging.NullHandler()]
    logging.getLogger("consign.security").propagate = False
    if args.nofulfil:
        import orders.services.intake

        orders.services.intake.order_fulfil = lambda *, order, **kwargs: order

    from django.db import connection
    from django.test import Client

    channel_code, raw_key = api_intake.setup_world(0)
    numbers = api_intake.sample_numbers(2000)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    list_urls = [
        "/api/v1/orders/?page_size=50",
        "/api/v1/orders/?page_size=50&status=shipped",
        "/api/v1/orders/?page_size=50&ordering=updated_at&updated_after=2026-01-01T00:00:00Z",
    ]

    def intake():
        response = client.post(
            "/api/v1/orders/",
            api_intake.order_body(),
            content_type="application/json",
            headers={"Idempotency-Key": uuid.uuid4().hex},
        )
        if response.status_code != 201:
            raise SystemExit(response.content[:300])

    def read():
        response = client.get(f"/api/v1/orders/{random.choice(numbers)}/")
        if response.status_code != 200:
            raise SystemExit(response.content[:300])

    def list_page():
        response = client.get(random.choice(list_urls))
        if response.status_code != 200:
            raise SystemExit(response.content[:300])

    kinds = {"intake": intake, "read": read, "list": list_page}
    # As gunicorn's workers do after start-up (gunicorn.conf.py).
    from core.gc_tuning import gc_settle_after_startup

    gc_settle_after_startup()
    for name, call in kinds.items():
        for _ in range(5):
            call()
        # Django records a request's statements (its own cursors' and the prepared
        # ones of core.pipeline) while force_debug_cursor is on; the request_started
        # signal empties the log first, so it holds exactly this request's.
        connection.force_debug_cursor = True
        try:
            call()
            queries = list(connection.queries_log)
        finally:
            connection.force_debug_cursor = False
        started, cpu_started = time.perf_counter(), time.process_time()
        for _ in range(args.n):
            call()
        mean_ms = (time.perf_counter() - started) / args.n * 1000
        cpu_ms = (time.process_time() - cpu_started) / args.n * 1000
        print(
            f"{name:8} {len(queries):3d} statements  {mean_ms:6.2f} ms/request, "
            f"{cpu_ms:6.2f} ms of it Python CPU (n={args.n})"
        )
        if args.verbose:
            for query in queries:
                print(f"    {query['time']}s  {query['sql'][:200]}")
    if args.profile:
        call = kinds[args.profile]
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(args.n):
            call()
        profiler.disable()
        stats = pstats.Stats(profiler)
        stats.sort_stats("cumulative").print_stats(args.top)
        stats.sort_stats("tottime").print_stats(args.top)


if __name__ == "__main__":
    main()
