"""The LSP restarts in the middle of a run: nothing loops, nothing doubles, nothing misroutes.

Real processes (sandbox over HTTP, Celery worker and beat, live server for webhooks).
Two cases:

- the sandbox is killed and started again over the same state file (a real LSP's
  restart): orders planned before and after are dispatched once each, every tracking
  event lands on its own shipment, and orders shipped before the restart can still be
  returned (the LSP still knows them);
- the sandbox comes back having lost its state, so it numbers shipments from 1 again
  and answers new creates with references Consign already holds: those shipments are
  parked with the conflict named, no task loops on the unique constraint, and the
  older shipments keep their reference and only their own tracking.
"""

from __future__ import annotations

import os
import signal
import time

import pytest
from django.conf import settings

from backoffice.selectors.ops import exception_queue
from logistics.models import DispatchOutbox, Shipment, TrackingEvent
from orders.models import Order, OrderEvent
from returns.models import ReturnRequest
from returns.services import RequestedLine, return_request_create
from tests.logistics.helpers import outbox_site, planned_orders, sandbox_provider
from tests.logistics.processes import Processes, free_port, processes_for_test
from tests.orders.factories import ChannelFactory

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
SECRET = "whsec_cmVzdGFydC10ZXN0LXNlY3JldC1yZXN0YXJ0"
FLAGS = ["--step-seconds", "0.3", "--return-rate", "0", "--exception-rate", "0", "--seed", "5"]


@pytest.fixture
def procs(tmp_path, live_server):
    with processes_for_test(tmp_path) as processes:
        yield processes


def _wait(predicate, what: str, procs: Processes, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.5)
    pytest.fail(f"{what} within {timeout}s\n{procs.logs()}")


def _all_delivered(order_ids) -> bool:
    done = Order.objects.filter(pk__in=order_ids, status=Order.Status.DELIVERED).count()
    return done == len(order_ids)


def _restart_sandbox(procs: Processes, live_server, *, port: int, state) -> float:
    """Kill the sandbox and start it again on the same port; the seconds it was down."""
    proc = procs.procs.pop("sandbox")
    died = time.monotonic()
    os.killpg(proc.pid, signal.SIGKILL)  # a crash, not a clean stop
    proc.wait(timeout=10)
    procs.start_sandbox(
        consign_url=live_server.url, secret=SECRET, flags=FLAGS, state=state, port=port
    )
    return time.monotonic() - died


def _attempts_allowed(outage: float) -> int:
    # Dispatch retries back off exponentially with "equal jitter": the n-th retry waits at
    # least base * 2**(n-1) / 2, so attempts that fail during an outage of G seconds start
    # no earlier than 0, base/2, 3*base/2, 7*base/2, ... One more attempt succeeds after it.
    # A dispatch loop (the bug this guards against) makes dozens, whatever the outage.
    base = settings.DISPATCH_RETRY_BASE_SECONDS
    failed, start = 0, 0.0
    while start < outage:
        failed += 1
        start = base / 2 * (2**failed - 1)
    return max(3, failed + 1)


def _assert_events_on_their_own_shipments(order_ids) -> None:
    shipments = {s.pk: s for s in Shipment.objects.filter(order_id__in=order_ids)}
    events = TrackingEvent.objects.filter(shipment_id__in=shipments)
    assert events.exists()
    for event in events:
        envelope = event.raw.get("envelope") or {}
        shipment = shipments[event.shipment_id]
        if envelope.get("reference"):
            assert envelope["reference"] == str(shipment.idempotency_token), event.raw
        if envelope.get("tracking_number") and shipment.tracking_number:
            assert envelope["tracking_number"] == shipment.tracking_number, event.raw


def _no_dispatch_loop(procs: Processes, *, outage: float = 0.0) -> None:
    worker_logs = "\n".join(
        path.read_text(errors="replace") for path in procs.tmp.glob("worker-*.log")
    )
    assert "IntegrityError" not in worker_logs, worker_logs[-3000:]
    allowed = _attempts_allowed(outage)
    looping = Shipment.objects.filter(dispatch_attempts__gt=allowed)
    assert not looping.exists(), (allowed, list(looping.values_list("pk", "dispatch_attempts")))


def test_a_restarted_lsp_keeps_every_shipment_and_returns_still_work(procs, live_server):
    port = free_port()
    state = procs.tmp / "lsp-state.sqlite3"
    url = procs.start_sandbox(
        consign_url=live_server.url, secret=SECRET, flags=FLAGS, state=state, port=port
    )
    sandbox_provider(base_url=url, webhook_secret=SECRET)
    procs.start_worker()
    procs.start_beat()
    channel, warehouse = ChannelFactory(), outbox_site()
    before = planned_orders(6, channel=channel, warehouse=warehouse)
    _wait(lambda: _all_delivered(before), "orders before the restart not delivered", procs)
    in_flight = planned_orders(6, channel=channel, warehouse=warehouse)
    time.sleep(0.5)  # some of these are mid-dispatch or mid-journey when it dies
    outage = _restart_sandbox(procs, live_server, port=port, state=state)
    after = planned_orders(6, channel=channel, warehouse=warehouse)
    everything = before + in_flight + after
    _wait(lambda: _all_delivered(everything), "not every order delivered", procs)

    shipments = Shipment.objects.filter(order_id__in=everything)
    assert shipments.count() == len(everything)
    references = set(shipments.values_list("provider_reference", flat=True))
    assert "" not in references
    assert len(references) == len(everything), "each order dispatched once"
    assert not DispatchOutbox.objects.exclude(status=DispatchOutbox.Status.SENT).exists()
    _no_dispatch_loop(procs, outage=outage)
    _assert_events_on_their_own_shipments(everything)

    # An order delivered before the restart can still be returned: the LSP knows it.
    order = Order.objects.get(pk=before[0])
    line = order.lines.get()
    return_request = return_request_create(
        order=order,
        lines=[RequestedLine(line_number=line.line_number, quantity=1, reason="size_fit")],
        actor="test",
    )
    _wait(
        lambda: (
            ReturnRequest.objects.get(pk=return_request.pk).status
            not in (ReturnRequest.Status.REQUESTED,)
        ),
        "no return label",
        procs,
        timeout=60,
    )
    return_request.refresh_from_db()
    assert return_request.status != ReturnRequest.Status.LABEL_FAILED, return_request.last_error
    assert return_request.status in (
        ReturnRequest.Status.LABEL_ISSUED,
        ReturnRequest.Status.IN_TRANSIT,
        ReturnRequest.Status.DELIVERED,
    )


def test_an_lsp_that_lost_its_state_has_its_reused_references_parked(procs, live_server):
    port = free_port()
    url = procs.start_sandbox(
        consign_url=live_server.url,
        secret=SECRET,
        flags=FLAGS,
        state=procs.tmp / "first-life.sqlite3",
        port=port,
    )
    sandbox_provider(base_url=url, webhook_secret=SECRET)
    procs.start_worker()
    procs.start_beat()
    channel, warehouse = ChannelFactory(), outbox_site()
    before = planned_orders(5, channel=channel, warehouse=warehouse)
    _wait(lambda: _all_delivered(before), "orders before the restart not delivered", procs)
    old = {s.pk: s for s in Shipment.objects.filter(order_id__in=before)}
    old_events = {pk: s.tracking_events.count() for pk, s in old.items()}
    # Back with an empty state: it numbers from 1 again and hands out known references.
    _restart_sandbox(procs, live_server, port=port, state=procs.tmp / "second-life.sqlite3")
    after = planned_orders(8, channel=channel, warehouse=warehouse)

    def settled() -> bool:
        pending = DispatchOutbox.objects.filter(
            shipment__order_id__in=after, status=DispatchOutbox.Status.PENDING
        )
        return not pending.exists()

    _wait(settled, "dispatch of the new orders did not settle", procs)
    time.sleep(3)  # the new sandbox's tracking webhooks arrive meanwhile

    parked = Shipment.objects.filter(
        order_id__in=after, outbox__status=DispatchOutbox.Status.REJECTED
    )
    taken = {s.provider_reference for s in old.values()}
    reissued = taken & {f"sbx_{n:08d}" for n in range(1, len(after) + 1)}
    assert parked.count() == len(reissued) > 0, (
        "exactly the creates answered with a reference an older shipment holds are parked"
    )
    dispatched = Shipment.objects.filter(order_id__in=after).exclude(pk__in=parked)
    assert all(s.provider_reference not in taken for s in dispatched)
    queue = exception_queue(kind="dispatch_failed", limit=50)["dispatch_failed"]
    assert {item.order.pk for item in queue["items"]} >= {s.order_id for s in parked}, (
        "parked in the exception queue, even after the parcel's own tracking moved it on"
    )
    for shipment in parked:
        assert shipment.provider_reference == ""
        assert "already holds" in shipment.last_error
        assert shipment.outbox.status == DispatchOutbox.Status.REJECTED
        event = shipment.order.events.get(type=OrderEvent.Type.DISPATCH_FAILED)
        assert event.parameters["reason"] == "provider_reference_conflict"
    for pk, shipment in old.items():
        fresh = Shipment.objects.get(pk=pk)
        assert fresh.provider_reference == shipment.provider_reference
        assert fresh.status == Shipment.Status.DELIVERED
        assert fresh.tracking_events.count() == old_events[pk], "no event of a newer parcel"
    _no_dispatch_loop(procs)
    _assert_events_on_their_own_shipments(before + after)
