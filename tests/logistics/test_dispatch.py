"""Dispatch retry semantics with a scripted fake provider (unit tests)."""

import datetime as dt

import pytest
from django.utils import timezone

from core.errors import Conflict
from logistics.models import DispatchOutbox, Shipment
from logistics.services import dispatch
from logistics.services.dispatch import Outcome, backoff_seconds
from orders.models import OrderEvent
from orders.services.shipment_planning import shipments_plan_for_order
from tests.logistics.helpers import FakeAdapter, allocated_order, sandbox_provider

pytestmark = pytest.mark.django_db


@pytest.fixture
def shipment():
    sandbox_provider()
    (shipment,) = shipments_plan_for_order(order=allocated_order())
    return shipment


def _run(shipment, adapter):
    result = dispatch.shipment_dispatch(shipment_id=shipment.pk, adapter=adapter)
    # Make the scheduled retry due now, as the task's countdown would.
    DispatchOutbox.objects.filter(shipment=shipment).update(next_attempt_at=timezone.now())
    return result


def test_success_records_provider_data_and_one_event(shipment):
    result = _run(shipment, FakeAdapter(["ok"]))
    shipment.refresh_from_db()
    assert result.outcome == Outcome.SENT
    assert shipment.status == Shipment.Status.DISPATCHED
    assert shipment.tracking_number == f"T-{shipment.pk}"
    assert shipment.outbox.status == DispatchOutbox.Status.SENT
    assert shipment.order.events.filter(type=OrderEvent.Type.SHIPMENT_DISPATCHED).count() == 1


def test_sent_shipment_is_not_sent_again(shipment):
    adapter = FakeAdapter(["ok", "ok"])
    _run(shipment, adapter)
    assert _run(shipment, adapter).outcome == Outcome.NOOP
    assert adapter.calls == 1


def test_5xx_is_retried_with_backoff(shipment, settings):
    settings.DISPATCH_RETRY_BASE_SECONDS = 4
    before = timezone.now()
    result = dispatch.shipment_dispatch(shipment_id=shipment.pk, adapter=FakeAdapter(["5xx"]))
    outbox = DispatchOutbox.objects.get(shipment=shipment)
    assert result.outcome == Outcome.RETRY
    assert 2 <= result.retry_in <= 4
    assert outbox.status == DispatchOutbox.Status.PENDING
    assert outbox.attempts == 1
    assert outbox.next_attempt_at >= before + dt.timedelta(seconds=2)
    assert "503" in outbox.last_error


def test_timeout_then_success(shipment):
    adapter = FakeAdapter(["timeout", "ok"])
    assert _run(shipment, adapter).outcome == Outcome.RETRY
    assert _run(shipment, adapter).outcome == Outcome.SENT
    shipment.refresh_from_db()
    assert shipment.dispatch_attempts == 2


def test_retry_before_backoff_elapsed_does_nothing(shipment):
    adapter = FakeAdapter(["5xx", "ok"])
    dispatch.shipment_dispatch(shipment_id=shipment.pk, adapter=adapter)
    DispatchOutbox.objects.filter(shipment=shipment).update(
        next_attempt_at=timezone.now() + dt.timedelta(minutes=5)
    )
    assert (
        dispatch.shipment_dispatch(shipment_id=shipment.pk, adapter=adapter).outcome == Outcome.NOOP
    )
    assert adapter.calls == 1


def test_4xx_goes_to_the_exception_queue_without_retry(shipment):
    adapter = FakeAdapter(["4xx", "ok"])
    result = _run(shipment, adapter)
    shipment.refresh_from_db()
    assert result.outcome == Outcome.REJECTED
    assert shipment.status == Shipment.Status.DISPATCH_FAILED
    assert shipment.outbox.status == DispatchOutbox.Status.REJECTED
    assert shipment.last_error == "ship_to.postcode is invalid"
    event = shipment.order.events.get(type=OrderEvent.Type.DISPATCH_FAILED)
    assert event.parameters["reason"] == "rejected_by_provider"
    assert _run(shipment, adapter).outcome == Outcome.NOOP
    assert adapter.calls == 1


def test_after_max_attempts_the_shipment_is_parked(shipment, settings):
    settings.DISPATCH_MAX_ATTEMPTS = 3
    adapter = FakeAdapter(["5xx"] * 5)
    outcomes = [_run(shipment, adapter).outcome for _ in range(4)]
    shipment.refresh_from_db()
    assert outcomes == [Outcome.RETRY, Outcome.RETRY, Outcome.FAILED, Outcome.NOOP]
    assert shipment.status == Shipment.Status.DISPATCH_FAILED
    assert shipment.outbox.status == DispatchOutbox.Status.FAILED
    event = shipment.order.events.get(type=OrderEvent.Type.DISPATCH_FAILED)
    assert event.parameters["reason"] == "retries_exhausted"


def test_staff_retry_requeues_a_parked_shipment(
    shipment, manager, django_capture_on_commit_callbacks
):
    _run(shipment, FakeAdapter(["4xx"]))
    with django_capture_on_commit_callbacks() as callbacks:
        dispatch.shipment_dispatch_retry(shipment=shipment, user=manager)
    shipment.refresh_from_db()
    assert shipment.status == Shipment.Status.PENDING
    assert shipment.outbox.status == DispatchOutbox.Status.PENDING
    assert shipment.outbox.attempts == 0
    assert len(callbacks) == 1
    assert _run(shipment, FakeAdapter(["ok"])).outcome == Outcome.SENT


def test_staff_retry_refuses_a_shipment_that_is_not_parked(shipment, manager):
    with pytest.raises(Conflict) as info:
        dispatch.shipment_dispatch_retry(shipment=shipment, user=manager)
    assert info.value.code == "shipment_not_retryable"


def test_a_leased_row_is_not_called_twice(shipment):
    DispatchOutbox.objects.filter(shipment=shipment).update(
        locked_until=timezone.now() + dt.timedelta(seconds=30)
    )
    adapter = FakeAdapter(["ok"])
    assert (
        dispatch.shipment_dispatch(shipment_id=shipment.pk, adapter=adapter).outcome == Outcome.NOOP
    )
    assert adapter.calls == 0


def test_sweeper_requeues_only_unacknowledged_due_rows(
    shipment, settings, django_capture_on_commit_callbacks
):
    settings.LOGISTICS_ACK_TIMEOUT_SECONDS = 10
    old = timezone.now() - dt.timedelta(seconds=30)
    DispatchOutbox.objects.filter(shipment=shipment).update(next_attempt_at=old)
    sent = shipments_plan_for_order(order=allocated_order())[0]
    DispatchOutbox.objects.filter(shipment=sent).update(next_attempt_at=old, status="sent")
    with django_capture_on_commit_callbacks() as callbacks:
        assert dispatch.dispatch_sweep() == 1
    assert len(callbacks) == 1
    assert DispatchOutbox.objects.get(shipment=shipment).next_attempt_at > old


def test_sweeper_skips_rows_under_a_live_lease(shipment, settings):
    settings.LOGISTICS_ACK_TIMEOUT_SECONDS = 10
    DispatchOutbox.objects.filter(shipment=shipment).update(
        next_attempt_at=timezone.now() - dt.timedelta(seconds=30),
        locked_until=timezone.now() + dt.timedelta(seconds=30),
    )
    assert dispatch.dispatch_sweep() == 0


@pytest.mark.parametrize("attempt", [1, 2, 5, 12])
def test_backoff_is_exponential_with_jitter_and_capped(attempt):
    ceiling = min(60, 2 * 2 ** (attempt - 1))
    values = {backoff_seconds(attempt=attempt, base=2, cap=60) for _ in range(20)}
    assert all(ceiling / 2 <= v <= ceiling for v in values)
    assert len(values) > 1


def test_sweeper_waits_while_the_dispatch_queue_has_messages(shipment, settings, monkeypatch):
    settings.LOGISTICS_ACK_TIMEOUT_SECONDS = 10
    DispatchOutbox.objects.filter(shipment=shipment).update(
        next_attempt_at=timezone.now() - dt.timedelta(seconds=30)
    )
    monkeypatch.setattr("logistics.broker.queue_backlog", lambda queue: 5)
    assert dispatch.dispatch_sweep() == 0
