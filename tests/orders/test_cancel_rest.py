"""Cancelling the unshipped rest of a partially shipped order (issue 16 item 12)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from core.errors import Conflict
from inventory.models import Allocation, StockLevel
from logistics.adapters.base import TrackingStatus
from logistics.models import DispatchOutbox, PartnerWebhookDelivery, Shipment
from logistics.services.dispatch import shipment_dispatch
from orders.models import Order, OrderEvent, OrderLine
from orders.services.cancellation import order_cancel_rest
from orders.services.progress import order_returns_apply
from orders.services.shipment_planning import shipments_plan_for_order
from tests.logistics.factories import channel_with_webhooks
from tests.logistics.helpers import FakeAdapter, allocated_order, outbox_site, sandbox_provider
from tests.returns.helpers import track

pytestmark = pytest.mark.django_db


def partially_shipped_order(*, webhooks: bool = False) -> tuple[Order, Shipment, Shipment]:
    """Line 1 (1 unit) shipped, in transit; line 2 (2 units) planned at another warehouse."""
    sandbox_provider()
    channel = channel_with_webhooks(url="https://partner.test/hooks") if webhooks else None
    with transaction.atomic():
        order = allocated_order(
            warehouses=[outbox_site(), outbox_site()], quantities=(1, 2), channel=channel
        )
        shipments_plan_for_order(order=order, actor="test")
    first, rest = Shipment.objects.filter(order=order).order_by("pk")
    shipment_dispatch(shipment_id=first.pk, adapter=FakeAdapter(outcomes=["ok"]))
    first.refresh_from_db()
    track(first, TrackingStatus.IN_TRANSIT, timezone.now() - dt.timedelta(hours=2))
    order.refresh_from_db()
    assert order.status == Order.Status.PARTIALLY_SHIPPED, order.status
    return order, first, rest


def _lines(order: Order) -> dict[int, tuple[int, int]]:
    return {
        line.line_number: (line.quantity_shipped, line.quantity_cancelled)
        for line in order.lines.all()
    }


def test_cancel_rest_cancels_the_unshipped_units_and_the_order_counts_as_shipped(agent):
    order, first, rest = partially_shipped_order()
    order_cancel_rest(order=order, reason="customer no longer wants it", user=agent)
    order.refresh_from_db()
    rest.refresh_from_db()
    first.refresh_from_db()
    assert order.status == Order.Status.SHIPPED
    assert _lines(order) == {1: (1, 0), 2: (0, 2)}
    assert rest.status == Shipment.Status.CANCELLED
    assert not DispatchOutbox.objects.filter(shipment=rest).exists()
    assert first.status == Shipment.Status.IN_TRANSIT


def test_cancel_rest_releases_the_allocations_and_the_stock_is_available_again(agent):
    order, _, rest = partially_shipped_order()
    line = order.lines.get(line_number=2)
    level = StockLevel.objects.get(product=line.product, warehouse=rest.warehouse)
    assert level.available == 98
    order_cancel_rest(order=order, user=agent)
    level.refresh_from_db()
    assert level.reserved == 0
    assert level.available == 100
    assert not Allocation.objects.filter(order_line=line, status=Allocation.Status.ACTIVE).exists()


def test_cancel_rest_records_the_lines_and_quantities(agent):
    order, _, _ = partially_shipped_order()
    order_cancel_rest(order=order, reason="out of patience", user=agent)
    event = OrderEvent.objects.get(order=order, type=OrderEvent.Type.REST_CANCELLED)
    line = order.lines.get(line_number=2)
    assert event.parameters == {
        "reason": "out of patience",
        "previous_status": "partially_shipped",
        "lines": [{"line": 2, "sku": line.sku, "quantity": 2}],
    }
    assert event.user == agent
    moved = OrderEvent.objects.filter(order=order, type=OrderEvent.Type.STATUS_CHANGED).last()
    assert moved is not None
    assert moved.parameters["new_status"] == "shipped"
    assert moved.parameters["reason"] == "unshipped rest cancelled"


def test_cancel_rest_tells_the_partner_what_was_cancelled(agent):
    order, _, _ = partially_shipped_order(webhooks=True)
    before = set(PartnerWebhookDelivery.objects.filter(order=order).values_list("pk", flat=True))
    order_cancel_rest(order=order, user=agent)
    queued = list(
        PartnerWebhookDelivery.objects.filter(order=order)
        .exclude(pk__in=before)
        .exclude(
            event="order.status_changed"
        )  # its own topic, tests/partners/test_webhook_topics.py
        .order_by("pk")
    )
    assert [d.event for d in queued] == ["order.rest_cancelled", "order.shipped"]
    data = queued[0].payload["data"]
    line = order.lines.get(line_number=2)
    assert data["status"] == "shipped"
    assert data["cancelled_lines"] == [{"line_number": 2, "sku": line.sku, "quantity_cancelled": 2}]


def test_cancel_rest_refuses_when_nothing_is_left(agent):
    order, _, _ = partially_shipped_order()
    order_cancel_rest(order=order, user=agent)
    with pytest.raises(Conflict) as exc:
        order_cancel_rest(order=order, user=agent)
    assert exc.value.code == "order_not_partially_shipped"
    order.refresh_from_db()
    assert order.status == Order.Status.SHIPPED
    assert _lines(order) == {1: (1, 0), 2: (0, 2)}


def test_cancel_rest_refuses_a_partially_delivered_order_with_nothing_left(agent):
    order, first, _ = partially_shipped_order()
    order_cancel_rest(order=order, user=agent)
    # Forced back for the test: a partially delivered order whose units all shipped.
    Order.objects.filter(pk=order.pk).update(status=Order.Status.PARTIALLY_DELIVERED)
    with pytest.raises(Conflict) as exc:
        order_cancel_rest(order=order, user=agent)
    assert exc.value.code == "nothing_left_to_cancel"


def test_cancel_rest_refuses_an_order_with_nothing_shipped(agent):
    with transaction.atomic():
        order = allocated_order(quantities=(2,))
    with pytest.raises(Conflict) as exc:
        order_cancel_rest(order=order, user=agent)
    assert exc.value.code == "order_not_partially_shipped"


def test_cancel_rest_refuses_when_the_rest_is_with_the_carrier(agent):
    order, _, rest = partially_shipped_order()
    shipment_dispatch(shipment_id=rest.pk, adapter=FakeAdapter(outcomes=["ok"]))
    rest.refresh_from_db()
    assert rest.status == Shipment.Status.DISPATCHED
    with pytest.raises(Conflict) as exc:
        order_cancel_rest(order=order, user=agent)
    assert exc.value.code == "rest_with_carrier"
    assert exc.value.extra["shipment_ids"] == [rest.pk]
    order.refresh_from_db()
    rest.refresh_from_db()
    assert order.status == Order.Status.PARTIALLY_SHIPPED
    assert rest.status == Shipment.Status.DISPATCHED
    assert _lines(order) == {1: (1, 0), 2: (0, 0)}
    assert Allocation.objects.filter(order_line__order=order, status="active").exists()


def test_delivery_after_cancel_rest_makes_the_order_delivered(agent):
    order, first, _ = partially_shipped_order()
    order_cancel_rest(order=order, user=agent)
    track(first, TrackingStatus.DELIVERED, timezone.now() - dt.timedelta(minutes=5))
    order.refresh_from_db()
    assert order.status == Order.Status.DELIVERED


def test_cancel_rest_of_a_partially_delivered_order_makes_it_delivered(agent):
    order, first, _ = partially_shipped_order()
    track(first, TrackingStatus.DELIVERED, timezone.now() - dt.timedelta(minutes=5))
    order.refresh_from_db()
    assert order.status == Order.Status.PARTIALLY_DELIVERED
    order_cancel_rest(order=order, user=agent)
    order.refresh_from_db()
    assert order.status == Order.Status.DELIVERED


def test_returning_every_shipped_unit_after_cancel_rest_makes_the_order_returned(agent):
    order, first, _ = partially_shipped_order()
    order_cancel_rest(order=order, user=agent)
    track(first, TrackingStatus.DELIVERED, timezone.now() - dt.timedelta(minutes=5))
    with transaction.atomic():
        locked = Order.objects.select_for_update().get(pk=order.pk)
        order_returns_apply(order=locked, returned=[(order.lines.get(line_number=1).pk, 1)])
    order.refresh_from_db()
    assert order.status == Order.Status.RETURNED


def test_database_refuses_more_cancelled_than_unshipped():
    order, _, _ = partially_shipped_order()
    with pytest.raises(IntegrityError), transaction.atomic():
        OrderLine.objects.filter(order=order, line_number=1).update(quantity_cancelled=1)
