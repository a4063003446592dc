"""The one hold service: automatic holds (allocation, customs) next to the desk's."""

import pytest
from django.db import transaction

from orders.models import Hold, Order, OrderEvent
from orders.services.holds import order_hold_place, order_holds_place_automatic, order_lock
from tests.orders.factories import OrderFactory

pytestmark = pytest.mark.django_db


def _place(order: Order, reasons: list[tuple[str, str]]) -> list[Hold]:
    with transaction.atomic():
        locked = order_lock(order=order)
        return order_holds_place_automatic(
            order=locked, reasons=reasons, status_reason="checks failed", actor="system:test"
        )


def test_automatic_holds_put_order_on_hold_with_one_event_per_reason():
    order = OrderFactory(status=Order.Status.RECEIVED)
    holds = _place(
        order,
        [
            (Hold.Reason.VALUE_OVER_LIMIT, "too dear"),
            (Hold.Reason.ADDRESS_INVALID, "no street"),
        ],
    )
    order.refresh_from_db()
    assert order.status == Order.Status.ON_HOLD
    assert {h.reason for h in holds} == {Hold.Reason.VALUE_OVER_LIMIT, Hold.Reason.ADDRESS_INVALID}
    placed = order.events.filter(type=OrderEvent.Type.HOLD_PLACED).order_by("pk")
    assert [e.parameters["detail"] for e in placed] == ["too dear", "no street"]
    assert all(e.parameters["automatic"] for e in placed)
    changed = order.events.get(type=OrderEvent.Type.STATUS_CHANGED)
    assert changed.parameters["reason"] == "checks failed"


def test_automatic_hold_for_a_reason_already_held_records_nothing(agent):
    order = OrderFactory(status=Order.Status.ALLOCATED)
    order_hold_place(order=order, reason=Hold.Reason.CUSTOMS_DATA_MISSING, user=agent)
    before = order.events.count()
    holds = _place(order, [(Hold.Reason.CUSTOMS_DATA_MISSING, "no HS code")])
    assert holds == []
    assert order.holds.filter(released_at__isnull=True).count() == 1
    assert order.events.count() == before
