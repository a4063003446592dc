"""Two dispatch sweepers in two real processes, sweeping the same outbox at the same time,
never hand out the same row (SELECT ... FOR UPDATE SKIP LOCKED)."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from django.db import connection, transaction
from django.utils import timezone

from logistics.models import DispatchOutbox
from tests.logistics.factories import ProviderFactory, ShipmentFactory
from tests.logistics.processes import test_database_url as _database_url
from tests.orders.factories import OrderFactory

ROOT = Path(__file__).resolve().parents[2]
ROWS = 300

SWEEPER = textwrap.dedent(
    """
    import sys, time, django
    django.setup()
    from logistics import broker, tasks
    from logistics.services import dispatch
    broker.queue_backlog = lambda queue: 0          # sweep regardless of the queue
    dispatch.broker.queue_backlog = broker.queue_backlog
    class Recorder:
        def delay(self, *, shipment_id):
            print(shipment_id, flush=True)
    tasks.dispatch_shipment_task = Recorder()
    start_at = float(sys.argv[1])
    while time.time() < start_at:
        time.sleep(0.005)
    idle = 0
    while idle < 3:
        claimed = dispatch.dispatch_sweep(limit=7)
        idle = idle + 1 if claimed == 0 else 0
    """
)


def _outbox_rows(count: int) -> list[int]:
    provider = ProviderFactory()
    due = timezone.now() - dt.timedelta(hours=1)
    ids = []
    with transaction.atomic():
        for _ in range(count):
            shipment = ShipmentFactory(order=OrderFactory(), provider=provider)
            DispatchOutbox.objects.create(shipment=shipment, next_attempt_at=due)
            ids.append(shipment.pk)
    return ids


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_two_sweepers_at_once_never_claim_the_same_outbox_row():
    expected = set(_outbox_rows(ROWS))
    env = {**os.environ, "DATABASE_URL": _database_url(), "LOGISTICS_ACK_TIMEOUT_SECONDS": "600"}
    start_at = time.time() + 6  # both processes are set up before either sweeps
    procs = [
        subprocess.Popen(  # noqa: S603 - fixed argv
            [sys.executable, "-c", SWEEPER, str(start_at)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    claimed = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err[-2000:]
        claimed.append([int(line) for line in out.split()])
    first, second = claimed
    assert set(first) & set(second) == set()
    assert len(first) + len(second) == ROWS
    assert set(first) | set(second) == expected
    # Both worked at once, or the test proved nothing.
    assert first, "the first sweeper claimed nothing"
    assert second, "the second sweeper claimed nothing"
    connection.close()
