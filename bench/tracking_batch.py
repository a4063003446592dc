"""Deterministic cost of tracking processing: statements and time per shipping event.

Stores --events signed-less raw webhooks (each an `in_transit` that ships a different
order), then processes them (a) one by one and (b) as one batch, each inside a
transaction that is rolled back, and prints SQL statements, wall time and process
CPU time per event for both.

    DATABASE_URL=... uv run python bench/tracking_batch.py --events 100
"""

from __future__ import annotations

import argparse
import sys
import time

from _logistics_common import bulk_shipments
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from tracking_ingest import SECRET, event_body

from logistics.models import InboundWebhook, Provider
from logistics.services import tracking


class Rollback(Exception):
    pass


def run(*, events: int, batch: bool) -> tuple[int, float, float]:
    result = (0, 0.0, 0.0)
    try:
        with transaction.atomic():
            provider, _ = Provider.objects.update_or_create(
                code="bench-batch", defaults={"name": "bench", "webhook_secret": SECRET}
            )
            shipments = bulk_shipments(count=events, provider=provider, tag=f"b{time.time_ns()}")
            ids = [
                InboundWebhook.objects.create(
                    provider=provider,
                    webhook_id=f"bench-{time.time_ns()}-{i}",
                    body=event_body(s, "IN_TRANSIT").decode(),
                ).pk
                for i, s in enumerate(shipments)
            ]
            with CaptureQueriesContext(connection) as queries:
                wall, cpu = time.perf_counter(), time.process_time()
                if batch:
                    tracking.inbound_webhooks_process(inbound_ids=ids)
                else:
                    for inbound_id in ids:
                        tracking.inbound_webhook_process(inbound_id=inbound_id)
                wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            processed = InboundWebhook.objects.filter(pk__in=ids, status="processed").count()
            assert processed == events, processed  # noqa: S101
            result = (len(queries), wall, cpu)
            raise Rollback
    except Rollback:
        pass
    return result


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=100)
    args = parser.parse_args()
    print(f"== {args.events} shipping events (each ships one order), rolled back ==")
    for label, batch in (("one by one", False), ("one batch", True)):
        statements, wall, cpu = run(events=args.events, batch=batch)
        n = args.events
        print(
            f"{label:>10}: {statements:5d} statements ({statements / n:5.2f}/event), "
            f"wall {wall * 1000:7.1f} ms ({wall * 1000 / n:5.2f} ms/event), "
            f"CPU {cpu * 1000:7.1f} ms ({cpu * 1000 / n:5.2f} ms/event)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
