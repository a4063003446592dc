"""Desk actions on one order: holds, notes, shipping address."""

import pytest

from core.errors import Conflict, IllegalTransition, ValidationFailed
from logistics.models import Shipment, ShipmentStatusGroups
from orders.models import Hold, Order, OrderEvent
from orders.services.desk import (
    order_address_changeable,
    order_note_add,
    order_shipping_address_change,
    shipments_with_provider,
)
from orders.services.holds import order_hold_place, order_hold_release
from tests.logistics.factories import ShipmentFactory
from tests.orders.factories import OrderFactory

pytestmark = pytest.mark.django_db

ADDRESS = {
    "shipping_name": "Ann Other",
    "shipping_line1": "Damrak 1",
    "shipping_line2": "",
    "shipping_city": "Amsterdam",
    "shipping_postcode": "1012 LG",
    "shipping_region": "",
    "shipping_country": "nl",
}


def test_hold_puts_order_on_hold_and_records_who(agent):
    order = OrderFactory(status=Order.Status.ALLOCATED)
    hold = order_hold_place(order=order, reason="customer_request", note="Call first", user=agent)
    order.refresh_from_db()
    assert order.status == Order.Status.ON_HOLD
    assert hold.placed_by == agent
    event = order.events.get(type=OrderEvent.Type.HOLD_PLACED)
    assert event.user == agent
    assert event.parameters["reason"] == "customer_request"
    assert event.parameters["note"] == "Call first"


def test_hold_refuses_unknown_reason(agent):
    with pytest.raises(ValidationFailed):
        order_hold_place(order=OrderFactory(), reason="because", user=agent)


def test_hold_refuses_shipped_order(agent):
    order = OrderFactory(status=Order.Status.SHIPPED)
    with pytest.raises(IllegalTransition):
        order_hold_place(order=order, reason="manual", user=agent)
    assert not Hold.objects.filter(order=order).exists()


def test_second_hold_with_same_reason_is_a_conflict(agent):
    order = OrderFactory()
    order_hold_place(order=order, reason="manual", user=agent)
    with pytest.raises(Conflict):
        order_hold_place(order=order, reason="manual", user=agent)


def test_release_of_last_hold_returns_order_to_fulfilment(agent):
    order = OrderFactory()
    hold = order_hold_place(order=order, reason="manual", user=agent)
    order_hold_release(hold=hold, note="ok", user=agent)
    order.refresh_from_db()
    hold.refresh_from_db()
    assert order.status != Order.Status.ON_HOLD
    assert hold.released_by == agent
    assert order.events.filter(type=OrderEvent.Type.HOLD_RELEASED, user=agent).exists()


def test_order_stays_held_while_another_hold_is_active(agent):
    order = OrderFactory()
    first = order_hold_place(order=order, reason="manual", user=agent)
    order_hold_place(order=order, reason="fraud_review", user=agent)
    order_hold_release(hold=first, user=agent)
    order.refresh_from_db()
    assert order.status == Order.Status.ON_HOLD


def test_releasing_twice_is_a_conflict(agent):
    hold = order_hold_place(order=OrderFactory(), reason="manual", user=agent)
    order_hold_release(hold=hold, user=agent)
    with pytest.raises(Conflict):
        order_hold_release(hold=hold, user=agent)


def test_note_is_recorded_with_author(agent):
    order = OrderFactory()
    event = order_note_add(order=order, text="  Customer called  ", user=agent)
    assert event.parameters == {"text": "Customer called"}
    assert event.actor == "user:agent"


def test_empty_note_is_refused(agent):
    with pytest.raises(ValidationFailed):
        order_note_add(order=OrderFactory(), text="   ", user=agent)


def test_address_change_updates_order_and_records_old_and_new(agent):
    order = OrderFactory(shipping_city="Utrecht")
    order_shipping_address_change(order=order, address=ADDRESS, user=agent)
    order.refresh_from_db()
    assert order.shipping_city == "Amsterdam"
    assert order.shipping_country == "NL"
    assert order.shipping_postcode_key == "1012LG"
    event = order.events.get(type=OrderEvent.Type.ADDRESS_CHANGED)
    assert event.parameters["old"]["shipping_city"] == "Utrecht"
    assert event.user == agent


def test_address_change_refuses_invalid_address(agent):
    order = OrderFactory()
    with pytest.raises(ValidationFailed) as exc:
        order_shipping_address_change(
            order=order,
            address={**ADDRESS, "shipping_line1": "", "shipping_country": "N1"},
            user=agent,
        )
    fields = {error["field"] for error in exc.value.errors}
    assert "shipping_line1" in fields
    assert not order.events.filter(type=OrderEvent.Type.ADDRESS_CHANGED).exists()


def test_address_change_refused_once_dispatched(agent):
    order = OrderFactory(status=Order.Status.IN_FULFILMENT)
    ShipmentFactory(order=order, status="dispatched")
    with pytest.raises(Conflict):
        order_shipping_address_change(order=order, address=ADDRESS, user=agent)


def test_address_change_releases_invalid_address_hold(agent):
    order = OrderFactory()
    order_hold_place(order=order, reason="address_invalid", user=agent)
    order_shipping_address_change(order=order, address=ADDRESS, user=agent)
    assert not Hold.objects.filter(order=order, released_at__isnull=True).exists()


def test_released_value_hold_is_not_put_back_by_allocation(agent):
    from decimal import Decimal

    from tests.orders.factories import ChannelFactory

    channel = ChannelFactory(order_value_limit=Decimal("10"))
    order = OrderFactory(channel=channel, total_amount=Decimal("500"))
    hold = order_hold_place(order=order, reason="value_over_limit", user=agent)
    order_hold_release(hold=hold, note="reviewed, genuine customer", user=agent)
    assert not Hold.objects.filter(order=order, released_at__isnull=True).exists()
    order.refresh_from_db()
    assert order.status != Order.Status.ON_HOLD


def test_address_change_requires_a_postcode_where_the_country_uses_one(agent):
    order = OrderFactory()
    with pytest.raises(ValidationFailed) as exc:
        order_shipping_address_change(
            order=order, address={**ADDRESS, "shipping_postcode": ""}, user=agent
        )
    assert [e["field"] for e in exc.value.errors] == ["shipping_postcode"]


def test_hold_allowed_while_a_shipment_is_queued_for_the_provider(agent):
    order = OrderFactory(status=Order.Status.IN_FULFILMENT)
    ShipmentFactory(order=order, status="pending")
    order_hold_place(order=order, reason="customer_request", user=agent)
    order.refresh_from_db()
    assert order.status == Order.Status.ON_HOLD


def test_hold_allowed_while_the_only_shipment_is_parked_after_failure(agent):
    order = OrderFactory(status=Order.Status.IN_FULFILMENT)
    ShipmentFactory(order=order, status="dispatch_failed")
    order_hold_place(order=order, reason="customer_request", user=agent)
    order.refresh_from_db()
    assert order.status == Order.Status.ON_HOLD


NOT_WITH_PROVIDER = {"pending", "dispatch_failed", "cancelled", "picking", "picked", "packed"}


@pytest.mark.parametrize("status", [s.value for s in Shipment.Status])
def test_address_page_and_address_service_agree_for_every_shipment_status(agent, status):
    # The desk page offers the change from order_address_changeable; the service
    # decides with a query. Both read ShipmentStatusGroups.NOT_WITH_PROVIDER.
    order = OrderFactory(status=Order.Status.IN_FULFILMENT)
    shipment = ShipmentFactory(order=order, status=status)
    offered = order_address_changeable(order=order, shipments=[shipment])
    # An own site's picking, picked and packed shipments have no carrier label yet.
    assert offered == (status in NOT_WITH_PROVIDER)

    if offered:
        order_shipping_address_change(order=order, address=ADDRESS, user=agent)
        assert shipments_with_provider([shipment]) == []
    else:
        with pytest.raises(Conflict):
            order_shipping_address_change(order=order, address=ADDRESS, user=agent)
        assert shipments_with_provider([shipment]) == [shipment]


def test_shipment_status_groups_name_every_status_they_mean():
    groups = ShipmentStatusGroups
    assert groups.NOT_WITH_PROVIDER == NOT_WITH_PROVIDER
    assert {"picking", "picked", "packed"} == groups.AT_OWN_SITE
    assert groups.AT_OWN_SITE < groups.DISPATCH_IN_PROGRESS
    assert groups.AWAITING_PROVIDER < groups.NOT_WITH_PROVIDER
    assert not groups.IN_TRANSIT & groups.FINAL
    assert not groups.TRACKING_EXCEPTION & groups.NOT_WITH_PROVIDER
