"""Tracking ingestion throughput and latency.

Under gunicorn (2 workers × 4 threads) and one Celery worker on the `tracking` queue:
1. floor: requests/s of a minimal endpoint that only inserts the raw body;
2. acceptance: signed webhooks/s accepted by /webhooks/lsp/<code>/ at full speed;
3. sustained: signed `in_transit` events at --rate for --duration seconds, each for a
   different shipment, so each one changes an order's status; reports whether the
   worker kept up, and p50/p95 from receipt (raw row stored) to the order's status
   change (its status_changed OrderEvent).

    DATABASE_URL=... REDIS_URL=... uv run python bench/tracking_ingest.py --rate 200 --duration 60
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import sys
import tempfile
import time
import uuid
from pathlib import Path

from _logistics_common import (
    PROC_ENV,
    bulk_shipments,
    free_port,
    percentile,
    purge_queues,
    spawn,
    stop,
    wait_http,
)
from lean_http import HttpError, LeanClient

from logistics import webhook_signing

SECRET = "whsec_YmVuY2gtdHJhY2tpbmctc2VjcmV0"  # noqa: S105 - bench-only secret


def event_body(shipment, status: str) -> bytes:
    return json.dumps(
        {
            "type": "shipment.tracking_updated",
            "timestamp": dt.datetime.now(tz=dt.UTC).isoformat(),
            "data": {
                "shipment_id": shipment.provider_reference,
                "reference": str(shipment.idempotency_token),
                "tracking_number": shipment.tracking_number,
                "event": {
                    "id": f"evt_{uuid.uuid4().hex}",
                    "status": status,
                    "occurred_at": dt.datetime.now(tz=dt.UTC).isoformat(),
                },
            },
        }
    ).encode()


def signed(body: bytes) -> tuple[bytes, dict[str, str]]:
    return body, webhook_signing.sign_headers(secret=SECRET, body=body)


def _split(url: str) -> tuple[str, str]:
    scheme, _, rest = url.partition("://")
    host, _, path = rest.partition("/")
    return f"{scheme}://{host}", f"/{path}"


async def _accepted(client: LeanClient, path: str, body: bytes, headers: dict) -> bool:
    try:
        response = await client.request("POST", path, content=body, headers=headers)
    except HttpError:
        return False
    return 200 <= response.status_code < 300


async def blast(
    url: str, requests: list[tuple[bytes, dict]], concurrency: int
) -> tuple[float, int]:
    """Send everything as fast as `concurrency` connections allow; (rate, non-2xx)."""
    queue = list(reversed(requests))
    errors = 0
    base, path = _split(url)
    async with LeanClient(base, size=concurrency) as client:

        async def run():
            nonlocal errors
            while queue:
                body, headers = queue.pop()
                if not await _accepted(client, path, body, headers):
                    errors += 1

        started = time.perf_counter()
        await asyncio.gather(*(run() for _ in range(concurrency)))
        return len(requests) / (time.perf_counter() - started), errors


async def paced(
    url: str, requests: list[tuple[bytes, dict]], rate: float, in_flight: int = 64
) -> tuple[float, int]:
    """Send at a fixed rate (open loop) with at most `in_flight` requests outstanding.

    When the server answers slower than `rate`, sending falls behind (the achieved rate
    says so) instead of piling thousands of requests onto the client's connection
    pool, whose bookkeeping then costs more than the requests.
    """
    errors = 0
    slots = asyncio.Semaphore(in_flight)
    base, path = _split(url)
    async with LeanClient(base, size=in_flight) as client:

        async def one(body, headers):
            nonlocal errors
            try:
                if not await _accepted(client, path, body, headers):
                    errors += 1
            finally:
                slots.release()

        started = time.perf_counter()
        tasks = []
        for i, (body, headers) in enumerate(requests):
            delay = started + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            await slots.acquire()
            tasks.append(asyncio.create_task(one(body, headers)))
        await asyncio.gather(*tasks)
        return len(requests) / (time.perf_counter() - started), errors


def wait_drained(provider, timeout: float) -> float:
    from logistics.models import InboundWebhook

    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if not InboundWebhook.objects.filter(provider=provider, status="pending").exists():
            return time.monotonic() - started
        time.sleep(0.25)
    return float("inf")


def capacity(*, provider, count: int, tag: str, drains: int) -> tuple[float, float]:
    """Processing capacity without the web tier: a backlog of `count` shipping events."""
    from config.celery import app
    from logistics.models import InboundWebhook

    pool = bulk_shipments(count=count, provider=provider, tag=tag)
    rows = [
        InboundWebhook(
            provider=provider,
            webhook_id=f"cap-{tag}-{i}",
            body=event_body(s, "IN_TRANSIT").decode(),
        )
        for i, s in enumerate(pool)
    ]
    InboundWebhook.objects.bulk_create(rows, batch_size=2000)
    # What a stream of receipts does: drain tasks for the worker's processes.
    for _ in range(drains):
        app.send_task("logistics.tasks.tracking_drain_task", kwargs={}, queue="tracking")
    elapsed = wait_drained(provider, 600)
    return count / elapsed, elapsed


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--duration", type=float, default=60)
    parser.add_argument("--burst", type=int, default=3000, help="requests per max-rate phase")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--worker-concurrency", type=int, default=4)
    parser.add_argument(
        "--capacity",
        type=int,
        default=0,
        help="also store this many in_transit webhooks at once (no HTTP) and time the drain",
    )
    args = parser.parse_args()

    from logistics.models import InboundWebhook, Provider
    from orders.models import OrderEvent

    tmp = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    port = free_port()
    code = f"bench-ingest-{port}"
    provider, _ = Provider.objects.update_or_create(
        code=code, defaults={"name": "bench", "webhook_secret": SECRET, "base_url": ""}
    )
    sustained_count = int(args.rate * args.duration)
    print(f"creating {sustained_count + 200} orders with dispatched shipments ...", flush=True)
    accept_pool = bulk_shipments(count=200, provider=provider, tag=f"a{port}")
    pool = bulk_shipments(count=sustained_count, provider=provider, tag=f"s{port}")
    purge_queues()
    web = spawn(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--chdir",
            "bench",
            "ingest_floor:application",
            "-b",
            f"127.0.0.1:{port}",
            "-w",
            "2",
            "-k",
            "gthread",
            "--threads",
            "4",
            "--backlog",
            "2048",
        ],
        tmp / "web.log",
        PROC_ENV,
    )
    worker = spawn(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "-Q",
            "tracking,default",
            "--concurrency",
            str(args.worker_concurrency),
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "--loglevel",
            "WARNING",
        ],
        tmp / "worker.log",
        PROC_ENV,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(base + "/healthz")
        time.sleep(3)
        floor_reqs = [
            signed(event_body(accept_pool[i % 200], "INFO_RECEIVED")) for i in range(args.burst)
        ]
        accept_reqs = [
            signed(event_body(accept_pool[i % 200], "INFO_RECEIVED")) for i in range(args.burst)
        ]
        # Warm up connections and code paths.
        asyncio.run(blast(f"{base}/bench/floor/{provider.pk}/", floor_reqs[:200], 8))
        floor_rate, floor_err = asyncio.run(
            blast(f"{base}/bench/floor/{provider.pk}/", floor_reqs, args.concurrency)
        )
        accept_rate, accept_err = asyncio.run(
            blast(f"{base}/webhooks/lsp/{code}/", accept_reqs, args.concurrency)
        )
        drain_after_burst = wait_drained(provider, 300)

        sustained = []
        webhook_ids = []
        for shipment in pool:
            body, headers = signed(event_body(shipment, "IN_TRANSIT"))
            sustained.append((body, headers))
            webhook_ids.append(headers["webhook-id"])
        # Re-sign just before sending would be more exact; the 5-minute tolerance
        # covers a 60 s run signed up front.
        sent_started = time.monotonic()
        sent_rate, sent_err = asyncio.run(
            paced(f"{base}/webhooks/lsp/{code}/", sustained, args.rate)
        )
        backlog_at_end = InboundWebhook.objects.filter(provider=provider, status="pending").count()
        drain = wait_drained(provider, 300)
        total = time.monotonic() - sent_started

        received = dict(
            InboundWebhook.objects.filter(
                provider=provider, webhook_id__in=webhook_ids
            ).values_list("webhook_id", "received_at")
        )
        order_of = {s.pk: s.order_id for s in pool}
        changed = dict(
            OrderEvent.objects.filter(
                order_id__in=list(order_of.values()),
                type=OrderEvent.Type.STATUS_CHANGED,
                parameters__new_status="shipped",
            ).values_list("order_id", "created_at")
        )
        latencies = []
        for shipment, webhook_id in zip(pool, webhook_ids, strict=True):
            got = received.get(webhook_id)
            done = changed.get(order_of[shipment.pk])
            if got and done:
                latencies.append((done - got).total_seconds())
        processed = InboundWebhook.objects.filter(
            provider=provider, webhook_id__in=webhook_ids, status="processed"
        )
        first = min(received.values())
        last = max(processed.values_list("processed_at", flat=True))
        proc_rate = processed.count() / (last - first).total_seconds()
        print()
        print("== tracking ingest (shared, busy 2-core machine) ==")
        print(f"floor (insert raw body only):     {floor_rate:8.1f} req/s  (non-2xx {floor_err})")
        print(f"signed webhook acceptance:        {accept_rate:8.1f} req/s  (non-2xx {accept_err})")
        print(f"acceptance / floor:               {accept_rate / floor_rate:8.2f}")
        print(f"burst of {args.burst} drained by the worker {drain_after_burst:.1f}s after sending")
        print(
            f"sustained: target {args.rate:.0f}/s for {args.duration:.0f}s, sent {sent_rate:.1f}/s "
            f"(non-2xx {sent_err})"
        )
        print(f"  processed by 1 worker (-c {args.worker_concurrency}): {proc_rate:8.1f} events/s")
        print(
            f"  backlog when sending ended:     {backlog_at_end} events; drained {drain:.1f}s later "
            f"(total {total:.1f}s)"
        )
        print(
            f"  receipt → order status change:  p50 {percentile(latencies, 50) * 1000:.0f} ms, "
            f"p95 {percentile(latencies, 95) * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms "
            f"(n={len(latencies)})"
        )
        if args.capacity:
            rate, elapsed = capacity(
                provider=provider,
                count=args.capacity,
                tag=f"c{port}",
                drains=args.worker_concurrency,
            )
            print(
                f"capacity: {args.capacity} in_transit webhooks stored at once, processed by "
                f"1 worker in {elapsed:.1f}s: {rate:8.1f} events/s"
            )
        return 0
    finally:
        stop(worker)
        stop(web)


if __name__ == "__main__":
    sys.exit(main())
