"""Dispatch gate: holds park queued shipments, cancels stop them (unit tests, fake adapter)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import pytest
from django.db.models import F
from django.utils import timezone

from inventory.models import StockLevel
from logistics.adapters.base import ProviderRejected, ProviderUnavailable
from logistics.models import DispatchOutbox, Shipment
from logistics.services import dispatch
from logistics.services.dispatch import PARKED_UNTIL, Outcome
from orders.models import Order, OrderEvent
from orders.services.cancellation import order_cancel
from orders.services.desk import shipments_with_provider
from orders.services.holds import order_hold_place, order_hold_release
from orders.services.shipment_planning import shipments_plan_for_order
from tests.logistics.helpers import FakeAdapter, allocated_order, in_thread, sandbox_provider


@dataclass
class FakeCancelAdapter:
    """Scripted provider cancel: "ok", "too_late" (409 parcel moved) or "5xx"."""

    outcomes: list = field(default_factory=list)
    calls: int = 0

    def cancel_shipment(self, shipment):
        self.calls += 1
        outcome = self.outcomes.pop(0) if self.outcomes else "ok"
        if outcome == "too_late":
            raise ProviderRejected("Too late to cancel: shipment is IN_TRANSIT.", status_code=409)
        if outcome == "5xx":
            raise ProviderUnavailable("LSP answered 503", status_code=503)


def _planned():
    sandbox_provider()
    order = allocated_order()
    (shipment,) = shipments_plan_for_order(order=order)
    return order, shipment


def _kinds(order) -> list[str]:
    return [
        e.parameters.get("kind")
        for e in order.events.filter(type=OrderEvent.Type.NOTE_ADDED).order_by("id")
    ]


@pytest.mark.django_db
def test_hold_parks_the_queued_outbox_row(agent):
    order, shipment = _planned()
    order_hold_place(order=order, reason="customer_request", user=agent)
    row = DispatchOutbox.objects.get(shipment=shipment)
    assert row.status == DispatchOutbox.Status.PENDING
    assert row.next_attempt_at == PARKED_UNTIL
    assert "dispatch_parked" in _kinds(order)


@pytest.mark.django_db
def test_held_order_is_never_sent_to_the_provider(agent):
    order, shipment = _planned()
    order_hold_place(order=order, reason="customer_request", user=agent)
    DispatchOutbox.objects.filter(shipment=shipment).update(next_attempt_at="2000-01-01T00:00Z")
    adapter = FakeAdapter(["ok"])
    result = dispatch.shipment_dispatch(shipment_id=shipment.pk, adapter=adapter)
    assert result.outcome == Outcome.PARKED
    assert adapter.calls == 0
    row = DispatchOutbox.objects.get(shipment=shipment)
    assert row.next_attempt_at == PARKED_UNTIL
    assert row.attempts == 0


@pytest.mark.django_db
def test_parked_row_is_not_swept(agent):
    order, shipment = _planned()
    order_hold_place(order=order, reason="customer_request", user=agent)
    assert dispatch.dispatch_sweep() == 0


@pytest.mark.django_db
def test_release_of_last_hold_resumes_dispatch_once(agent, django_capture_on_commit_callbacks):
    order, shipment = _planned()
    hold = order_hold_place(order=order, reason="customer_request", user=agent)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        order_hold_release(hold=hold, user=agent)
    order.refresh_from_db()
    assert order.status == Order.Status.IN_FULFILMENT
    assert len(callbacks) == 1  # one dispatch task for the one resumed shipment
    adapter = FakeAdapter(["ok", "ok"])
    assert dispatch.shipment_dispatch(shipment_id=shipment.pk, adapter=adapter).outcome == "sent"
    assert dispatch.shipment_dispatch(shipment_id=shipment.pk, adapter=adapter).outcome == "noop"
    assert adapter.calls == 1
    assert "dispatch_resumed" in _kinds(order)


@pytest.mark.django_db
def test_cancel_before_dispatch_cancels_shipment_and_releases_stock(agent):
    order, shipment = _planned()
    order_cancel(order=order, user=agent, reason="customer changed mind")
    shipment.refresh_from_db()
    order.refresh_from_db()
    assert order.status == Order.Status.CANCELLED
    assert shipment.status == Shipment.Status.CANCELLED
    assert not DispatchOutbox.objects.filter(shipment=shipment).exists()
    assert StockLevel.objects.get(warehouse=shipment.warehouse).reserved == 0
    assert "shipment_cancelled" in _kinds(order)


@pytest.mark.django_db
def test_cancelled_order_is_never_sent_even_by_a_late_task(agent):
    order, shipment = _planned()
    order_cancel(order=order, user=agent)
    adapter = FakeAdapter(["ok"])
    result = dispatch.shipment_dispatch(shipment_id=shipment.pk, adapter=adapter)
    assert result.outcome == Outcome.NOOP
    assert adapter.calls == 0


@pytest.mark.django_db
def test_gate_closes_row_when_order_was_cancelled_behind_its_back(agent):
    order, shipment = _planned()
    Order.objects.filter(pk=order.pk).update(status=Order.Status.CANCELLED)
    adapter = FakeAdapter(["ok"])
    result = dispatch.shipment_dispatch(shipment_id=shipment.pk, adapter=adapter)
    shipment.refresh_from_db()
    assert result.outcome == Outcome.CANCELLED
    assert adapter.calls == 0
    assert shipment.status == Shipment.Status.CANCELLED
    assert not DispatchOutbox.objects.filter(shipment=shipment).exists()


def _dispatched(order, shipment):
    dispatch.shipment_dispatch(shipment_id=shipment.pk, adapter=FakeAdapter(["ok"]))
    shipment.refresh_from_db()
    assert shipment.status == Shipment.Status.DISPATCHED


@pytest.mark.django_db
def test_cancel_after_acceptance_enqueues_provider_cancel(
    agent, django_capture_on_commit_callbacks
):
    order, shipment = _planned()
    _dispatched(order, shipment)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        order_cancel(order=order, user=agent)
    cancels = [c for c in callbacks if "shipment_cancel_at_provider" in repr(c)]
    assert len(cancels) == 1
    assert "provider_cancel_requested" in _kinds(order)
    shipment.refresh_from_db()
    assert shipment.status == Shipment.Status.DISPATCHED  # until the provider confirms


@pytest.mark.django_db
def test_provider_cancel_confirmed_cancels_the_shipment(agent):
    order, shipment = _planned()
    _dispatched(order, shipment)
    order_cancel(order=order, user=agent)
    result = dispatch.shipment_provider_cancel(
        shipment_id=shipment.pk, adapter=FakeCancelAdapter(["ok"])
    )
    shipment.refresh_from_db()
    assert result.outcome == Outcome.CANCELLED
    assert shipment.status == Shipment.Status.CANCELLED
    assert StockLevel.objects.get(warehouse=shipment.warehouse).reserved == 0


@pytest.mark.django_db
def test_provider_refusing_cancel_flags_exception_and_says_so(agent):
    order, shipment = _planned()
    _dispatched(order, shipment)
    order_cancel(order=order, user=agent)
    result = dispatch.shipment_provider_cancel(
        shipment_id=shipment.pk, adapter=FakeCancelAdapter(["too_late"])
    )
    shipment.refresh_from_db()
    assert result.outcome == Outcome.REJECTED
    assert shipment.status == Shipment.Status.EXCEPTION
    event = order.events.filter(parameters__kind="provider_cancel_refused").get()
    assert "already moved" in event.parameters["text"]


@pytest.mark.django_db
def test_provider_cancel_unreachable_is_retried(agent):
    order, shipment = _planned()
    _dispatched(order, shipment)
    order_cancel(order=order, user=agent)
    result = dispatch.shipment_provider_cancel(
        shipment_id=shipment.pk, adapter=FakeCancelAdapter(["5xx"])
    )
    shipment.refresh_from_db()
    assert result.outcome == Outcome.RETRY
    assert result.retry_in > 0
    assert shipment.status == Shipment.Status.DISPATCHED


@pytest.mark.django_db
def test_hold_on_accepted_shipment_is_recorded(agent):
    order, shipment = _planned()
    _dispatched(order, shipment)
    order_hold_place(order=order, reason="customer_request", user=agent)
    order.refresh_from_db()
    assert order.status == Order.Status.ON_HOLD
    assert shipments_with_provider(list(order.shipments.all())) == [shipment]


# --- race: a hold placed while a dispatch task is talking to the provider ------------


class BlockingAdapter(FakeAdapter):
    def __init__(self):
        super().__init__(["ok"])
        self.entered = threading.Event()
        self.proceed = threading.Event()

    def create_shipment(self, shipment):
        self.entered.set()
        assert self.proceed.wait(10)
        return super().create_shipment(shipment)


@pytest.mark.django_db(transaction=True)
def test_hold_during_inflight_dispatch_waits_and_then_sees_the_provider_has_it(agent):
    order, shipment = _planned()
    adapter = BlockingAdapter()
    dispatcher, dispatched = in_thread(
        lambda: dispatch.shipment_dispatch(shipment_id=shipment.pk, adapter=adapter)
    )
    assert adapter.entered.wait(10)
    holder, held = in_thread(
        lambda: order_hold_place(order=order, reason="customer_request", user=agent)
    )
    time.sleep(0.5)
    assert holder.is_alive()  # the gate's order lock makes the hold wait for the call
    adapter.proceed.set()
    dispatcher.join(10)
    holder.join(10)
    assert dispatched["result"].outcome == Outcome.SENT
    assert "error" not in held
    assert adapter.calls == 1
    # The hold landed after the call: the desk tells the agent the provider has it.
    assert [s.pk for s in shipments_with_provider(list(order.shipments.all()))] == [shipment.pk]


@pytest.mark.django_db(transaction=True)
def test_hold_committed_before_dispatch_task_means_no_call(agent):
    order, shipment = _planned()
    adapter = BlockingAdapter()
    adapter.proceed.set()
    holder, _ = in_thread(
        lambda: order_hold_place(order=order, reason="customer_request", user=agent)
    )
    holder.join(10)
    DispatchOutbox.objects.filter(shipment=shipment).update(next_attempt_at="2000-01-01T00:00Z")
    dispatcher, dispatched = in_thread(
        lambda: dispatch.shipment_dispatch(shipment_id=shipment.pk, adapter=adapter)
    )
    dispatcher.join(10)
    assert dispatched["result"].outcome == Outcome.PARKED
    assert adapter.calls == 0


@pytest.mark.django_db(transaction=True)
def test_cancel_during_inflight_dispatch_waits_then_asks_the_provider_to_cancel(agent, monkeypatch):
    order, shipment = _planned()
    requested: list[int] = []
    monkeypatch.setattr(
        "logistics.tasks.shipment_cancel_at_provider_task.delay",
        lambda *, shipment_id: requested.append(shipment_id),
    )
    adapter = BlockingAdapter()
    dispatcher, dispatched = in_thread(
        lambda: dispatch.shipment_dispatch(shipment_id=shipment.pk, adapter=adapter)
    )
    assert adapter.entered.wait(10)
    canceller, cancelled = in_thread(lambda: order_cancel(order=order, user=agent))
    time.sleep(0.5)
    assert canceller.is_alive()  # waits for the provider's answer
    adapter.proceed.set()
    dispatcher.join(10)
    canceller.join(10)
    assert dispatched["result"].outcome == Outcome.SENT
    assert cancelled["result"].status == Order.Status.CANCELLED
    assert requested == [shipment.pk]


@pytest.mark.django_db
def test_release_catches_up_with_a_parcel_that_shipped_during_the_hold(agent):
    order, shipment = _planned()
    _dispatched(order, shipment)
    hold = order_hold_place(order=order, reason="customer_request", user=agent)
    # Tracking ships the parcel while the order is on hold (roll-up leaves it on hold).
    order.lines.update(quantity_shipped=F("quantity"))
    Shipment.objects.filter(pk=shipment.pk).update(status="in_transit", shipped_at=timezone.now())
    order_hold_release(hold=hold, user=agent)
    order.refresh_from_db()
    assert order.status == Order.Status.SHIPPED
