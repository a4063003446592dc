"""Re-routing a shipment its provider refused to another provider (issue 16 item 15)."""

import threading

import pytest
from django.utils import timezone

from core.errors import Conflict
from logistics import error_codes
from logistics.models import DispatchOutbox, Shipment
from logistics.services import dispatch
from logistics.services.dispatch import Outcome, shipment_dispatch_retry
from logistics.services.reroute import shipment_dispatch_reroute
from orders.models import Order, OrderEvent
from orders.services.shipment_planning import shipments_plan_for_order
from tests.inventory.factories import WarehouseFactory
from tests.logistics.factories import ProviderFactory, ServiceLevelFactory, ShipmentFactory
from tests.logistics.helpers import FakeAdapter, allocated_order, in_thread, sandbox_provider
from tests.orders.factories import OrderFactory

pytestmark = pytest.mark.django_db


def _parked(*, outbox_status=DispatchOutbox.Status.REJECTED, status_code=422, **shipment_fields):
    shipment = ShipmentFactory(
        order=OrderFactory(status=Order.Status.IN_FULFILMENT),
        status=Shipment.Status.DISPATCH_FAILED,
        last_error="refused",
        dispatch_attempts=1,
        **shipment_fields,
    )
    DispatchOutbox.objects.create(
        shipment=shipment,
        status=outbox_status,
        attempts=1,
        last_status_code=status_code,
        last_error="refused",
        next_attempt_at=timezone.now(),
    )
    return shipment


def test_reroute_moves_a_refused_shipment_to_the_new_provider_and_queues_it(
    django_capture_on_commit_callbacks,
):
    old_level = ServiceLevelFactory(code="express")
    shipment = _parked(provider=old_level.provider, service_level=old_level)
    new_level = ServiceLevelFactory(code="express")
    token = shipment.idempotency_token
    with django_capture_on_commit_callbacks() as callbacks:
        shipment_dispatch_reroute(shipment=shipment, provider=new_level.provider, actor="test")
    shipment.refresh_from_db()
    row = DispatchOutbox.objects.get(shipment=shipment)
    assert (shipment.provider_id, shipment.service_level_id, shipment.status) == (
        new_level.provider_id,
        new_level.pk,
        Shipment.Status.PENDING,
    )
    assert shipment.idempotency_token != token
    assert (row.status, row.attempts, row.last_status_code) == ("pending", 0, None)
    assert len(callbacks) == 1
    event = OrderEvent.objects.get(order=shipment.order, parameters__kind="dispatch_rerouted")
    assert event.parameters["previous_provider"] == old_level.provider.code


@pytest.mark.parametrize(
    ("outbox_status", "status_code"),
    [
        # Retries given up after timeouts: a lost answer may hide a shipment it created.
        (DispatchOutbox.Status.FAILED, 503),
        # Reference conflict: the provider answered with a shipment.
        (DispatchOutbox.Status.REJECTED, None),
    ],
)
def test_reroute_refuses_a_shipment_the_provider_may_hold(outbox_status, status_code):
    shipment = _parked(outbox_status=outbox_status, status_code=status_code)
    old_provider = shipment.provider_id
    with pytest.raises(Conflict) as caught:
        shipment_dispatch_reroute(shipment=shipment, provider=ProviderFactory())
    assert caught.value.code == error_codes.SHIPMENT_NOT_REROUTABLE
    shipment.refresh_from_db()
    assert (shipment.provider_id, shipment.status) == (old_provider, "dispatch_failed")
    assert DispatchOutbox.objects.get(shipment=shipment).status == outbox_status


def test_reroute_refuses_a_shipment_with_a_provider_reference():
    shipment = _parked(provider_reference="SBX-1")
    with pytest.raises(Conflict):
        shipment_dispatch_reroute(shipment=shipment, provider=ProviderFactory())


def test_reroute_refuses_a_shipment_from_an_lsp_operated_warehouse():
    provider = ProviderFactory()
    warehouse = WarehouseFactory(kind="lsp", provider=provider)
    shipment = _parked(provider=provider, warehouse=warehouse)
    with pytest.raises(Conflict):
        shipment_dispatch_reroute(shipment=shipment, provider=ProviderFactory())


@pytest.mark.parametrize("target", ["same", "inactive"])
def test_reroute_refuses_the_same_or_an_inactive_provider(target):
    shipment = _parked()
    provider = shipment.provider if target == "same" else ProviderFactory(is_active=False)
    with pytest.raises(Conflict):
        shipment_dispatch_reroute(shipment=shipment, provider=provider)
    assert DispatchOutbox.objects.get(shipment=shipment).status == "rejected"


def test_reroute_refuses_a_cancelled_order():
    shipment = _parked()
    Order.objects.filter(pk=shipment.order_id).update(status=Order.Status.CANCELLED)
    with pytest.raises(Conflict):
        shipment_dispatch_reroute(shipment=shipment, provider=ProviderFactory())


# --- Through the real dispatch path ---------------------------------------------------


@pytest.fixture
def planned():
    # Re-routing is for own sites' shipments (an LSP site's operator is fixed). Those now
    # wait for picking; one queued for dispatch before that change still has its outbox row.
    sandbox_provider()
    own = WarehouseFactory(kind="own")
    (shipment,) = shipments_plan_for_order(order=allocated_order(warehouses=[own]))
    DispatchOutbox.objects.create(shipment=shipment, next_attempt_at=timezone.now())
    return shipment


def test_a_shipment_refused_by_its_provider_is_sent_with_the_new_one(planned):
    refused = dispatch.shipment_dispatch(shipment_id=planned.pk, adapter=FakeAdapter(["422"]))
    assert refused.outcome == Outcome.REJECTED
    other = ProviderFactory(code="other-lsp")
    shipment_dispatch_reroute(shipment=planned, provider=other, actor="test")
    adapter = FakeAdapter(["ok"])
    sent = dispatch.shipment_dispatch(shipment_id=planned.pk, adapter=adapter)
    planned.refresh_from_db()
    assert sent.outcome == Outcome.SENT
    assert adapter.calls == 1
    assert (planned.provider.code, planned.status) == ("other-lsp", Shipment.Status.DISPATCHED)


def test_a_shipment_given_up_after_timeouts_cannot_be_rerouted(planned, settings):
    settings.DISPATCH_MAX_ATTEMPTS = 1
    given_up = dispatch.shipment_dispatch(shipment_id=planned.pk, adapter=FakeAdapter(["timeout"]))
    assert given_up.outcome == Outcome.FAILED
    with pytest.raises(Conflict):
        shipment_dispatch_reroute(shipment=planned, provider=ProviderFactory(code="other-lsp"))


@pytest.mark.django_db(transaction=True)
def test_retry_and_reroute_clicked_together_leave_one_dispatch(monkeypatch):
    """Two staff act on the same refused shipment at once: one wins, the other is told."""
    queued: list[int] = []
    monkeypatch.setattr(
        "logistics.tasks.dispatch_shipment_task.delay",
        lambda *, shipment_id: queued.append(shipment_id),
    )
    for _ in range(5):
        shipment = _parked()
        other = ProviderFactory()
        start = threading.Barrier(2)
        retrier, retried = in_thread(
            lambda shipment=shipment: shipment_dispatch_retry(shipment=shipment, actor="a"),
            start=start,
        )
        rerouter, rerouted = in_thread(
            lambda shipment=shipment, other=other: shipment_dispatch_reroute(
                shipment=shipment, provider=other, actor="b"
            ),
            start=start,
        )
        retrier.join(15)
        rerouter.join(15)
        outcomes = [retried, rerouted]
        assert sum("result" in box for box in outcomes) == 1, outcomes
        (error,) = [box["error"] for box in outcomes if "error" in box]
        assert isinstance(error, Conflict)  # told, never a deadlock or a 500
        assert DispatchOutbox.objects.get(shipment=shipment).status == "pending"
    assert len(queued) == 5
