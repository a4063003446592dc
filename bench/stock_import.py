"""A 100,000-row stock-level CSV import run as a worker job, with progress sampled meanwhile.

    uv run python bench/stock_import.py [--rows 100000]

Uses the same database as bench/allocation.py (`<DATABASE_URL name>_bench`).
Prints the total time, rows/s and the progress values a back-office user
would have seen (read from the cache while the job's transaction is open).
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlparse, urlunparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
_default = "postgres://postgres@127.0.0.1:55432/consign"  # config.env.DEFAULT_DATABASE_URL
_url = urlparse(os.environ.get("DATABASE_URL", _default))
os.environ["DATABASE_URL"] = urlunparse(_url._replace(path=_url.path + "_bench"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DJANGO_DEBUG", "true")  # a development tool: production is the default
os.environ.setdefault("LOG_LEVEL", "WARNING")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()

    import django

    django.setup()
    from django.core.files.base import ContentFile
    from django.core.management import call_command

    from inventory.models import ImportJob, Product, Warehouse
    from inventory.services.imports import import_job_progress, import_job_run

    call_command("migrate", verbosity=0)
    sites = 10
    skus = args.rows // sites
    Product.objects.bulk_create(
        [Product(sku=f"IMP-{i:06d}", name="import bench") for i in range(skus)],
        batch_size=5000,
        ignore_conflicts=True,
    )
    for i in range(sites):
        Warehouse.objects.get_or_create(
            code=f"imp-{i}", defaults={"name": f"Import {i}", "country": "NL"}
        )
    marker = int(time.time()) % 1000  # a different on_hand each run, so every row changes
    lines = ["sku,warehouse,on_hand,low_stock_threshold"]
    lines += [
        f"IMP-{n:06d},imp-{w},{marker + (n * 7 + w) % 500},5"
        for n in range(skus)
        for w in range(sites)
    ]
    job = ImportJob.objects.create(
        kind=ImportJob.Kind.STOCK_LEVELS,
        file=ContentFile("\n".join(lines).encode(), name="bench.csv"),
        dry_run=False,
    )
    seen: list[tuple[float, int]] = []
    done = threading.Event()
    started = time.perf_counter()

    def watch() -> None:
        from django.db import connection

        while not done.wait(2.0):
            fresh = ImportJob.objects.get(pk=job.pk)
            seen.append((time.perf_counter() - started, import_job_progress(job=fresh)))
        connection.close()

    watcher = threading.Thread(target=watch)
    watcher.start()
    job = import_job_run(job=job)
    elapsed = time.perf_counter() - started
    done.set()
    watcher.join()
    print(f"{job.total_rows} rows: status {job.status}, applied {job.applied_rows}, "
          f"{elapsed:.1f} s, {job.total_rows / elapsed:.0f} rows/s")  # fmt: skip
    print("progress seen: " + ", ".join(f"{t:.0f}s={n}" for t, n in seen))
    call_command("verify_stock_ledger")


if __name__ == "__main__":
    main()
