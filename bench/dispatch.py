"""Shipments dispatched per second to the LSP sandbox at zero latency.

Creates N pending shipments with outbox rows, starts the sandbox (no faults, zero
latency, no webhooks) and one Celery worker on the `dispatch` queue, enqueues one
dispatch task per shipment and measures until every outbox row is `sent`.

    DATABASE_URL=... REDIS_URL=... uv run python bench/dispatch.py --shipments 1000 --concurrency 4
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from _logistics_common import (
    PROC_ENV,
    bulk_shipments,
    free_port,
    purge_queues,
    spawn,
    stop,
    wait_http,
)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--shipments", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--pool", default="prefork", choices=["prefork", "threads"])
    args = parser.parse_args()

    from logistics.models import DispatchOutbox, Provider
    from logistics.tasks import dispatch_shipment_task

    tmp = Path(tempfile.mkdtemp(prefix="bench-dispatch-"))
    port = free_port()
    sandbox = spawn(
        [
            sys.executable,
            "manage.py",
            "run_lsp_sandbox",
            "--port",
            str(port),
            "--no-webhooks",
            "--step-seconds",
            "3600",
            # A throwaway LSP: nothing of this run belongs in var/.
            "--state",
            ":memory:",
        ],
        tmp / "sandbox.log",
    )
    worker = None
    try:
        wait_http(f"http://127.0.0.1:{port}/health")
        # A provider per run: each sandbox numbers its shipments from 1 again, and
        # provider references are unique per provider.
        provider, _ = Provider.objects.update_or_create(
            code=f"bench-dispatch-{port}",
            defaults={"name": "bench", "base_url": f"http://127.0.0.1:{port}"},
        )
        purge_queues()
        shipments = bulk_shipments(
            count=args.shipments, provider=provider, status="pending", tag=f"d{port}"
        )
        ids = [s.pk for s in shipments]
        worker = spawn(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "-Q",
                "dispatch",
                "-P",
                args.pool,
                "--concurrency",
                str(args.concurrency),
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "--loglevel",
                "WARNING",
            ],
            tmp / "worker.log",
            {**PROC_ENV, "OUTBOUND_ALLOW_HOSTS": f"127.0.0.1:{port}"},  # the sandbox
        )
        time.sleep(4)  # let the worker connect before the clock starts
        started = time.monotonic()
        for shipment_id in ids:
            dispatch_shipment_task.delay(shipment_id=shipment_id)
        enqueued = time.monotonic() - started
        pending = len(ids)
        while pending:
            time.sleep(0.2)
            pending = (
                DispatchOutbox.objects.filter(shipment_id__in=ids)
                .exclude(status=DispatchOutbox.Status.SENT)
                .count()
            )
            refused = (
                DispatchOutbox.objects.filter(shipment_id__in=ids)
                .exclude(last_error="")
                .values_list("last_error", flat=True)
                .first()
            )
            if refused:
                print(f"a dispatch failed: {refused}; see {tmp}")
                return 1
            if time.monotonic() - started > 600:
                print("timed out; see", tmp)
                return 1
        elapsed = time.monotonic() - started
        print(f"shipments:            {len(ids)}")
        print(f"worker:               1 × {args.pool} --concurrency {args.concurrency}")
        print(f"enqueue time:         {enqueued:.2f} s")
        print(f"all sent after:       {elapsed:.2f} s")
        print(f"dispatched/s:         {len(ids) / elapsed:.1f}")
        return 0
    finally:
        if worker is not None:
            stop(worker)
        stop(sandbox)


if __name__ == "__main__":
    sys.exit(main())
