"""One running worker survives repeated broker outages and drains everything after each.

A private Redis (its own port and data directory, append-only so that queued messages
survive a restart, as a production Redis would keep them) is stopped for 5-15 s, ten
times, while orders are planned and dispatched to the LSP sandbox (with latency, so
that dispatch tasks are running, unacknowledged, when the broker drops: the state in
which kombu's stock Redis transport killed the worker, core/broker_redis.py). After
each outage the same worker process must still be alive and every order planned so
far dispatched, and every tracking webhook received processed.
"""

from __future__ import annotations

import contextlib
import random
import time

import pytest

from core.worker_health import queue_consumers
from logistics.models import DispatchOutbox, InboundWebhook, Shipment
from scripts import devservices
from tests.logistics.helpers import outbox_site, planned_orders, sandbox_provider
from tests.logistics.processes import Processes, free_port, make_env, processes_for_test
from tests.orders.factories import ChannelFactory

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
SECRET = "whsec_b3V0YWdlLXRlc3Qtc2VjcmV0LW91dGFnZQ=="
OUTAGES = 10


@contextlib.contextmanager
def broker_for_this_process(url: str):
    """Point this process's Celery producers (on-commit enqueues, live server) at `url`."""
    from config.celery import app

    old = app.conf.broker_url

    def reset_pools():
        # Only the app's references: kombu keeps its pools in a process-wide registry
        # keyed by connection, so closing one here would hand every later test the
        # closed pool of the default broker ("Acquire on closed pool").
        app._pool = None
        app.amqp._producer_pool = None

    reset_pools()
    app.conf.broker_url = url
    try:
        yield
    finally:
        reset_pools()
        app.conf.broker_url = old


@pytest.fixture
def outage_stack(tmp_path, live_server, settings):
    redis_dir = tmp_path / "redis"
    port = free_port()
    devservices.redis_up(port=port, directory=redis_dir)
    url = f"redis://127.0.0.1:{port}/0"
    env = make_env(
        {
            "REDIS_URL": url,
            "CELERY_BROKER_URL": url,
            "CELERY_RESULT_BACKEND": url,
            "WORKER_HEARTBEAT_SECONDS": "1",
        }
    )
    settings.REDIS_URL = url
    settings.WORKER_HEARTBEAT_SECONDS = 1
    try:
        with broker_for_this_process(url), processes_for_test(tmp_path, env) as processes:
            yield processes, port, redis_dir
    finally:
        devservices.redis_down(port=port, directory=redis_dir)


def _wait_drained(order_ids: list[int], worker, processes: Processes, timeout: float) -> float:
    """Seconds until every order is dispatched and every webhook processed; fails on timeout."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        assert worker.poll() is None, "the worker process died:\n" + processes.logs()
        undispatched = Shipment.objects.filter(order_id__in=order_ids, provider_reference="")
        pending_outbox = DispatchOutbox.objects.filter(status=DispatchOutbox.Status.PENDING)
        pending_hooks = InboundWebhook.objects.exclude(status=InboundWebhook.Status.PROCESSED)
        if not undispatched.exists() and not pending_outbox.exists() and not pending_hooks.exists():
            return time.monotonic() - started
        time.sleep(0.5)
    pytest.fail(
        f"not drained within {timeout}s: {undispatched.count()} undispatched, "
        f"{pending_outbox.count()} outbox rows pending, {pending_hooks.count()} webhooks "
        f"pending\n{processes.logs()}"
    )


def test_one_worker_survives_ten_broker_outages_and_drains_after_each(outage_stack, live_server):
    processes, port, redis_dir = outage_stack
    sandbox_url = processes.start_sandbox(
        consign_url=live_server.url,
        secret=SECRET,
        flags=["--step-seconds", "1", "--latency-ms", "300", "--seed", "11"],
    )
    sandbox_provider(base_url=sandbox_url, webhook_secret=SECRET)
    worker = processes.start_worker()
    processes.start_beat()
    channel, warehouse = ChannelFactory(), outbox_site()
    rng = random.Random(15)  # noqa: S311 - outage lengths, not crypto
    order_ids = planned_orders(6, channel=channel, warehouse=warehouse)
    _wait_drained(order_ids, worker, processes, timeout=60)
    for outage in range(OUTAGES):
        # Dispatch tasks are in flight when the broker drops.
        order_ids += planned_orders(8, channel=channel, warehouse=warehouse)
        time.sleep(0.3)
        devservices.redis_down(port=port, directory=redis_dir)
        seconds = rng.uniform(5, 8)  # within the 5-15 s; keeps the suite short
        down_until = time.monotonic() + seconds
        # Intake goes on while the broker is down.
        order_ids += planned_orders(2, channel=channel, warehouse=warehouse)
        time.sleep(max(down_until - time.monotonic(), 0))
        devservices.redis_up(port=port, directory=redis_dir)
        drained = _wait_drained(order_ids, worker, processes, timeout=90)
        print(f"outage {outage + 1}: {seconds:.1f} s down, drained {drained:.1f} s after")  # noqa: T201
    assert worker.poll() is None
    assert processes.procs["worker"] is worker, "the same worker process throughout"
    assert Shipment.objects.filter(order_id__in=order_ids).count() == len(order_ids)
    # Each LSP shipment created once: the sandbox answered every retried create with
    # the shipment it already had.
    references = list(
        Shipment.objects.filter(order_id__in=order_ids).values_list("provider_reference", flat=True)
    )
    assert len(set(references)) == len(order_ids)
    deadline = time.monotonic() + 10
    while not all(queue_consumers().values()) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert all(queue_consumers().values()), "the worker's heartbeat is back on every queue"
