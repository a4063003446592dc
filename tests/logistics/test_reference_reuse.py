"""Providers that reuse references: dispatch parks the conflict, tracking never misroutes.

Unit tests with a scripted provider; tests/logistics/test_sandbox_restart_integration.py
does the same against a real sandbox that lost its state.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pytest
from django.utils import timezone

from logistics.adapters.base import CreatedShipment, TrackingStatus, TrackingUpdate
from logistics.models import DispatchOutbox, Shipment, TrackingEvent
from logistics.services import dispatch, tracking
from logistics.services.dispatch import Outcome
from orders.models import OrderEvent
from orders.services.shipment_planning import shipments_plan_for_order
from tests.logistics.helpers import allocated_order, sandbox_provider

pytestmark = pytest.mark.django_db


@dataclass
class ReusingAdapter:
    """A provider that answers every create with the same reference and tracking number."""

    reference: str = "sbx_00000031"
    tracking_number: str = "SBX0000000031"
    calls: int = 0

    def create_shipment(self, shipment):
        self.calls += 1
        return CreatedShipment(
            provider_reference=self.reference,
            tracking_number=self.tracking_number,
            label_url="http://lsp.test/label.pdf",
        )


@pytest.fixture
def two_shipments():
    sandbox_provider()
    (first,) = shipments_plan_for_order(order=allocated_order())
    (second,) = shipments_plan_for_order(order=allocated_order())
    return first, second


def test_a_reference_another_shipment_holds_is_parked_with_the_conflict_named(two_shipments):
    first, second = two_shipments
    adapter = ReusingAdapter()
    assert dispatch.shipment_dispatch(shipment_id=first.pk, adapter=adapter).outcome == "sent"
    result = dispatch.shipment_dispatch(shipment_id=second.pk, adapter=adapter)
    assert result.outcome == Outcome.REJECTED
    second.refresh_from_db()
    first.refresh_from_db()
    assert first.provider_reference == "sbx_00000031", "the holder keeps its reference"
    assert second.provider_reference == ""
    assert second.status == Shipment.Status.DISPATCH_FAILED
    assert f"shipment {first.pk} of order {first.order.number}" in second.last_error
    assert "sbx_00000031" in second.last_error
    assert second.outbox.status == DispatchOutbox.Status.REJECTED
    event = second.order.events.get(type=OrderEvent.Type.DISPATCH_FAILED)
    assert event.parameters["reason"] == "provider_reference_conflict"


def test_a_parked_conflict_is_not_sent_again_by_the_task_or_the_sweeper(two_shipments):
    first, second = two_shipments
    adapter = ReusingAdapter()
    dispatch.shipment_dispatch(shipment_id=first.pk, adapter=adapter)
    dispatch.shipment_dispatch(shipment_id=second.pk, adapter=adapter)
    for _ in range(3):
        again = dispatch.shipment_dispatch(shipment_id=second.pk, adapter=adapter)
        assert again.outcome == Outcome.NOOP
    assert adapter.calls == 2
    DispatchOutbox.objects.update(next_attempt_at=timezone.now() - dt.timedelta(hours=1))
    assert dispatch.dispatch_sweep() == 0


def test_a_reference_taken_between_check_and_save_is_parked_too(two_shipments, monkeypatch):
    """Two answers racing for one reference: the unique constraint decides, no crash."""
    first, second = two_shipments
    adapter = ReusingAdapter()
    dispatch.shipment_dispatch(shipment_id=first.pk, adapter=adapter)
    real = dispatch._reference_holder
    calls = []

    def blind_first_time(**kwargs):
        calls.append(1)
        return None if len(calls) == 1 else real(**kwargs)

    monkeypatch.setattr(dispatch, "_reference_holder", blind_first_time)
    result = dispatch.shipment_dispatch(shipment_id=second.pk, adapter=adapter)
    assert result.outcome == Outcome.REJECTED
    second.refresh_from_db()
    assert second.status == Shipment.Status.DISPATCH_FAILED
    assert second.provider_reference == ""
    assert second.dispatched_at is None


def _by_number(provider, *, tracking_number="", provider_reference="", occurred_at):
    return tracking.shipment_id_for_update(
        provider=provider,
        update=TrackingUpdate(
            status=TrackingStatus.IN_TRANSIT,
            provider_status="IN_TRANSIT",
            occurred_at=occurred_at,
            tracking_number=tracking_number,
            provider_reference=provider_reference,
        ),
    )


def test_a_recycled_tracking_number_goes_to_the_newer_parcel(two_shipments):
    old, new = two_shipments
    now = timezone.now()
    Shipment.objects.filter(pk=old.pk).update(
        tracking_number="RECYCLED1",
        status=Shipment.Status.DELIVERED,
        last_event_at=now - dt.timedelta(days=90),
        created_at=now - dt.timedelta(days=95),
    )
    Shipment.objects.filter(pk=new.pk).update(
        tracking_number="RECYCLED1", status=Shipment.Status.DISPATCHED
    )
    assert _by_number(old.provider, tracking_number="RECYCLED1", occurred_at=now) == new.pk


def test_an_event_is_never_attached_to_a_parcel_that_finished_long_before(two_shipments):
    old, new = two_shipments
    now = timezone.now()
    Shipment.objects.filter(pk=old.pk).update(
        provider_reference="sbx_7",
        status=Shipment.Status.DELIVERED,
        last_event_at=now - dt.timedelta(days=60),
        created_at=now - dt.timedelta(days=61),
    )
    assert _by_number(old.provider, provider_reference="sbx_7", occurred_at=now) is None
    # Late events of the old parcel itself (within the reuse window) still reach it.
    late = now - dt.timedelta(days=59)
    assert _by_number(old.provider, provider_reference="sbx_7", occurred_at=late) == old.pk


def test_an_event_older_than_the_newer_parcel_stays_with_the_older_one(two_shipments):
    old, new = two_shipments
    now = timezone.now()
    Shipment.objects.filter(pk=old.pk).update(
        tracking_number="RECYCLED2",
        status=Shipment.Status.DISPATCHED,
        created_at=now - dt.timedelta(days=10),
    )
    Shipment.objects.filter(pk=new.pk).update(tracking_number="RECYCLED2")
    before_new = now - dt.timedelta(days=5)
    assert _by_number(old.provider, tracking_number="RECYCLED2", occurred_at=before_new) == old.pk


class _RecycledPollAdapter:
    """A provider whose answer for our reference is about another (newer) parcel."""

    def __init__(self, updates):
        self.updates = updates

    def fetch_tracking(self, shipment):
        return self.updates


def _event(minutes: int, *, client_reference: str, occurred_at=None) -> TrackingUpdate:
    return TrackingUpdate(
        status=TrackingStatus.IN_TRANSIT,
        provider_status="IN_TRANSIT",
        occurred_at=occurred_at or timezone.now() + dt.timedelta(minutes=minutes),
        event_id=f"e-{minutes}-{client_reference[:8]}",
        client_reference=client_reference,
    )


def test_a_poll_answered_with_another_parcels_events_applies_none_of_them(
    two_shipments, monkeypatch
):
    first, other = two_shipments
    dispatch.shipment_dispatch(shipment_id=first.pk, adapter=ReusingAdapter())
    foreign = [_event(1, client_reference=str(other.idempotency_token))]
    own = [_event(2, client_reference=str(first.idempotency_token))]
    monkeypatch.setattr(
        tracking, "adapter_for", lambda provider: _RecycledPollAdapter(foreign + own)
    )
    assert tracking.shipment_poll(shipment_id=first.pk) == 1
    stored = list(
        TrackingEvent.objects.filter(shipment=first).values_list("occurred_at", flat=True)
    )
    assert stored == [own[0].occurred_at]


def test_a_poll_keeps_events_with_a_providers_own_kind_of_reference(two_shipments, monkeypatch):
    """Return labels carry `return:<key>`: not one of our tokens, so no verdict on it."""
    first, _ = two_shipments
    dispatch.shipment_dispatch(shipment_id=first.pk, adapter=ReusingAdapter())
    updates = [_event(1, client_reference="return:abc"), _event(2, client_reference="")]
    monkeypatch.setattr(tracking, "adapter_for", lambda provider: _RecycledPollAdapter(updates))
    assert tracking.shipment_poll(shipment_id=first.pk) == 2
