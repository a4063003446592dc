"""Tracking ingestion: dedup, roll-up by event time, order roll-up, stock, polling, lateness."""

import datetime as dt

import pytest
from django.utils import timezone

from inventory.models import Allocation, StockLevel, StockMovement
from logistics.adapters.base import TrackingUpdate
from logistics.models import PartnerWebhookDelivery, Shipment, TrackingEvent, TrackingStatus
from logistics.services import tracking
from logistics.services.dispatch import shipment_dispatch
from orders.models import Order, OrderEvent
from orders.services.shipment_planning import shipments_plan_for_order
from tests.logistics.factories import channel_with_webhooks
from tests.logistics.helpers import FakeAdapter, allocated_order, outbox_site, sandbox_provider

pytestmark = pytest.mark.django_db
T = TrackingStatus
# Within a day of the test's shipments: a polled event much older than its shipment is
# another parcel's under a recycled reference (tracking._about_this_parcel).
T0 = dt.datetime.now(tz=dt.UTC).replace(second=0, microsecond=0) - dt.timedelta(hours=1)


def _dispatched(order):
    shipments = shipments_plan_for_order(order=order)
    for shipment in shipments:
        shipment_dispatch(shipment_id=shipment.pk, adapter=FakeAdapter(["ok"]))
        shipment.refresh_from_db()
    return shipments


@pytest.fixture
def order():
    sandbox_provider()
    return allocated_order(quantities=[2])


def update(status, minutes, event_id=None):
    return TrackingUpdate(
        status=status,
        provider_status=status.upper(),
        occurred_at=T0 + dt.timedelta(minutes=minutes),
        event_id=event_id if event_id is not None else f"e-{status}-{minutes}",
    )


def _apply(shipment, *updates):
    return [tracking.tracking_update_apply(shipment_id=shipment.pk, update=u) for u in updates]


def _status_path(order):
    return [
        e.parameters["new_status"]
        for e in order.events.filter(type=OrderEvent.Type.STATUS_CHANGED).order_by("id")
    ]


def test_the_same_event_twice_is_stored_once(order):
    (shipment,) = _dispatched(order)
    first, again = _apply(shipment, update(T.IN_TRANSIT, 1), update(T.IN_TRANSIT, 1))
    assert first is not None
    assert again is None
    assert TrackingEvent.objects.filter(shipment=shipment).count() == 1


def test_without_event_id_the_hash_of_number_status_and_time_deduplicates(order):
    (shipment,) = _dispatched(order)
    _apply(shipment, update(T.IN_TRANSIT, 1, event_id=""), update(T.IN_TRANSIT, 1, event_id=""))
    assert TrackingEvent.objects.get(shipment=shipment).dedup_key.startswith("h:")


def test_late_in_transit_does_not_override_delivered(order):
    (shipment,) = _dispatched(order)
    _apply(shipment, update(T.DELIVERED, 30), update(T.IN_TRANSIT, 10))
    shipment.refresh_from_db()
    assert shipment.status == Shipment.Status.DELIVERED
    assert shipment.last_event_at == T0 + dt.timedelta(minutes=30)
    assert TrackingEvent.objects.filter(shipment=shipment).count() == 2


def test_out_of_order_events_roll_the_order_up_through_every_status(order):
    (shipment,) = _dispatched(order)
    _apply(
        shipment, update(T.DELIVERED, 30), update(T.OUT_FOR_DELIVERY, 20), update(T.IN_TRANSIT, 10)
    )
    order.refresh_from_db()
    shipment.refresh_from_db()
    assert order.status == Order.Status.DELIVERED
    assert _status_path(order) == ["in_fulfilment", "shipped", "delivered"]
    assert order.events.filter(type=OrderEvent.Type.SHIPPED).count() == 1
    assert order.events.filter(type=OrderEvent.Type.DELIVERED).count() == 1
    assert shipment.shipped_at == T0 + dt.timedelta(minutes=10)


def test_shipping_updates_line_counters_and_moves_stock_out(order):
    (shipment,) = _dispatched(order)
    _apply(shipment, update(T.IN_TRANSIT, 1))
    line = order.lines.get()
    level = StockLevel.objects.get(product=line.product)
    assert line.quantity_shipped == 2
    assert line.quantity_delivered == 0
    assert (level.on_hand, level.reserved) == (98, 0)
    assert Allocation.objects.get(order_line=line).status == Allocation.Status.FULFILLED
    movement = StockMovement.objects.get(type=StockMovement.Type.SHIPMENT)
    assert (movement.on_hand_delta, movement.reserved_delta) == (-2, -2)
    assert movement.reference == f"shipment:{shipment.pk}"


def test_pre_transit_does_not_ship(order):
    (shipment,) = _dispatched(order)
    _apply(shipment, update(T.PRE_TRANSIT, 1))
    order.refresh_from_db()
    assert order.status == Order.Status.IN_FULFILMENT
    assert order.lines.get().quantity_shipped == 0


def test_two_warehouses_roll_up_partially():
    sandbox_provider()
    order = allocated_order(warehouses=[outbox_site(), outbox_site()], quantities=[1, 1])
    first, second = _dispatched(order)
    _apply(first, update(T.IN_TRANSIT, 1))
    order.refresh_from_db()
    assert order.status == Order.Status.PARTIALLY_SHIPPED
    _apply(first, update(T.DELIVERED, 5))
    order.refresh_from_db()
    assert order.status == Order.Status.PARTIALLY_DELIVERED
    _apply(second, update(T.IN_TRANSIT, 2), update(T.DELIVERED, 9))
    order.refresh_from_db()
    assert order.status == Order.Status.DELIVERED
    assert _status_path(order) == [
        "in_fulfilment",
        "partially_shipped",
        "partially_delivered",
        "delivered",
    ]


# Topics every planned shipment, tracking update or status move sends; tests/partners/test_webhook_topics.py
# covers them.
NEWER_TOPICS = ["order.status_changed", "shipment.created", "shipment.tracking_updated"]


def test_exception_records_an_order_event_and_notifies_the_channel():
    sandbox_provider()
    channel = channel_with_webhooks()
    order = allocated_order(channel=channel)
    (shipment,) = _dispatched(order)
    _apply(shipment, update(T.EXCEPTION, 3))
    event = order.events.get(type=OrderEvent.Type.TRACKING_EXCEPTION)
    assert event.parameters["status"] == "exception"
    # Beside shipment.tracking_updated and order.status_changed (topics of their own).
    delivery = PartnerWebhookDelivery.objects.exclude(event__in=NEWER_TOPICS).get(order=order)
    assert delivery.event == "order.exception"


def test_shipped_and_delivered_notify_the_channel_once_each():
    sandbox_provider()
    channel = channel_with_webhooks()
    order = allocated_order(channel=channel)
    (shipment,) = _dispatched(order)
    _apply(shipment, update(T.IN_TRANSIT, 1), update(T.IN_TRANSIT, 1), update(T.DELIVERED, 4))
    events = sorted(
        PartnerWebhookDelivery.objects.filter(order=order)
        .exclude(event__in=NEWER_TOPICS)
        .values_list("event", flat=True)
    )
    assert events == ["order.delivered", "order.shipped"]


def test_webhook_before_dispatch_answer_is_matched_by_our_reference(order):
    (shipment,) = shipments_plan_for_order(order=order)
    found = tracking.shipment_id_for_update(
        provider=shipment.provider,
        update=TrackingUpdate(
            status=T.PRE_TRANSIT,
            provider_status="INFO_RECEIVED",
            occurred_at=T0,
            client_reference=str(shipment.idempotency_token),
        ),
    )
    assert found == shipment.pk


class _PollAdapter:
    def __init__(self, updates):
        self.updates = updates

    def fetch_tracking(self, shipment):
        return self.updates


def test_poll_applies_new_events(order, monkeypatch):
    (shipment,) = _dispatched(order)
    adapter = _PollAdapter([update(T.IN_TRANSIT, 1), update(T.DELIVERED, 2)])
    monkeypatch.setattr(tracking, "adapter_for", lambda provider: adapter)
    assert tracking.shipment_poll(shipment_id=shipment.pk) == 2
    shipment.refresh_from_db()
    assert shipment.status == Shipment.Status.DELIVERED
    assert shipment.next_poll_at is None


def test_delivery_by_webhook_schedules_one_reconciliation_poll(order, monkeypatch):
    (shipment,) = _dispatched(order)
    _apply(shipment, update(T.DELIVERED, 5))
    shipment.refresh_from_db()
    assert shipment.next_poll_at is not None
    adapter = _PollAdapter([update(T.IN_TRANSIT, 1), update(T.DELIVERED, 5)])
    monkeypatch.setattr(tracking, "adapter_for", lambda provider: adapter)
    assert tracking.shipment_poll(shipment_id=shipment.pk) == 1
    shipment.refresh_from_db()
    assert shipment.next_poll_at is None
    assert shipment.status == Shipment.Status.DELIVERED


def test_poll_with_nothing_new_backs_off(order, monkeypatch, settings):
    settings.TRACKING_POLL_MAX_SECONDS = 1000
    (shipment,) = _dispatched(order)
    Shipment.objects.filter(pk=shipment.pk).update(poll_interval_seconds=300)
    monkeypatch.setattr(tracking, "adapter_for", lambda provider: _PollAdapter([]))
    tracking.shipment_poll(shipment_id=shipment.pk)
    shipment.refresh_from_db()
    assert shipment.poll_interval_seconds == 600
    tracking.shipment_poll(shipment_id=shipment.pk)
    shipment.refresh_from_db()
    assert shipment.poll_interval_seconds == 1000


def test_due_polls_are_claimed_once(order):
    (shipment,) = _dispatched(order)
    Shipment.objects.filter(pk=shipment.pk).update(next_poll_at=timezone.now())
    assert tracking.tracking_polls_due() == [shipment.pk]
    assert tracking.tracking_polls_due() == []


def test_shipment_silent_beyond_its_service_level_is_flagged_late_once(order):
    (shipment,) = _dispatched(order)
    _apply(shipment, update(T.IN_TRANSIT, 0))
    now = T0 + dt.timedelta(hours=73)
    assert tracking.shipments_flag_late(now=now) == 1
    assert tracking.shipments_flag_late(now=now) == 0
    shipment.refresh_from_db()
    assert shipment.late_flagged_at == now
    event = order.events.get(type=OrderEvent.Type.TRACKING_EXCEPTION)
    assert event.parameters["status"] == "late"


def test_shipment_within_its_service_level_is_not_late(order):
    (shipment,) = _dispatched(order)
    _apply(shipment, update(T.IN_TRANSIT, 0))
    assert tracking.shipments_flag_late(now=T0 + dt.timedelta(hours=71)) == 0


def test_sweeper_hands_out_a_stuck_inbound_webhook_once_per_ack_timeout(settings):
    from logistics.models import InboundWebhook

    settings.LOGISTICS_ACK_TIMEOUT_SECONDS = 10
    provider = sandbox_provider()
    row = InboundWebhook.objects.create(provider=provider, webhook_id="msg_stuck", body="{}")
    InboundWebhook.objects.filter(pk=row.pk).update(
        received_at=timezone.now() - dt.timedelta(seconds=30)
    )
    assert tracking.tracking_sweep() == [row.pk]
    assert tracking.tracking_sweep() == []


def test_failed_reconciliation_poll_stays_scheduled(order, monkeypatch):
    from logistics.adapters.base import ProviderUnavailable

    (shipment,) = _dispatched(order)
    _apply(shipment, update(T.DELIVERED, 5))

    class Failing:
        def fetch_tracking(self, shipment):
            raise ProviderUnavailable("503")

    monkeypatch.setattr(tracking, "adapter_for", lambda provider: Failing())
    tracking.shipment_poll(shipment_id=shipment.pk)
    shipment.refresh_from_db()
    assert shipment.next_poll_at is not None
