"""The desk's order page (issue 16 item 12): the timeline in words, newest first with a
filter; what to tell the customer; a cancelled order whose parcel left anyway; what a
partially shipped order allows; the address form."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.db import transaction
from django.utils import timezone

from backoffice.selectors import TIMELINE_KINDS, order_timeline
from core.errors import Conflict, ValidationFailed
from logistics.adapters.base import TrackingStatus
from logistics.models import DispatchOutbox, Shipment
from logistics.services.dispatch import PARKED_UNTIL, shipment_dispatch
from orders import events, shipment_events
from orders.models import Hold, Order, OrderEvent
from orders.services.cancellation import order_cancel
from orders.services.desk import order_shipping_address_change
from orders.services.holds import order_hold_place, order_hold_release
from orders.services.shipment_planning import shipments_plan_for_order
from returns.models import ReturnRequest
from returns.services import RequestedLine, return_request_create
from tests.logistics.factories import ServiceLevelFactory, ShipmentFactory, TrackingEventFactory
from tests.logistics.helpers import FakeAdapter, allocated_order, outbox_site, sandbox_provider
from tests.orders.factories import ChannelFactory, OrderFactory, OrderLineFactory
from tests.returns.helpers import track

pytestmark = pytest.mark.django_db

# The order page's budget from test_views.py: the filter must not add queries.
ORDER_PAGE_BUDGET = 15


def _page(client, order, **params) -> str:
    response = client.get(f"/desk/orders/{order.number}/", params)
    assert response.status_code == 200
    return response.content.decode()


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


@pytest.fixture
def busy_order(agent):
    """An order with one event of most kinds, written by the real event functions."""
    channel = ChannelFactory(code="webshop", name="Web Shop")
    order = OrderFactory(channel=channel, status=Order.Status.ALLOCATED)
    OrderLineFactory(order=order, line_number=1, sku="SHIRT-M", quantity=2)
    provider = sandbox_provider(name="Sandbox Express")
    shipment = ShipmentFactory(order=order, provider=provider, status="pending")
    shipment.lines.create(order_line=order.lines.get(), quantity=2)
    events.order_received_event(order=order, actor="api:csk_live_abc12")
    events.stock_allocated_event(
        order=order,
        strategy="single",
        reason="All lines from one warehouse.",
        allocations=[{"line": 1, "sku": "SHIRT-M", "warehouse": "AMS", "quantity": 2}],
    )
    shipment_events.shipment_created_event(shipment=shipment, actor="system:dispatch")
    order_hold_place(order=order, reason=Hold.Reason.CUSTOMER_REQUEST, note="wait", user=agent)
    events.note_added_event(order=order, text="Customer rang about the colour", user=agent)
    return order


# --- Timeline in plain language --------------------------------------------------------


def test_timeline_shows_no_raw_parameters_or_api_keys(client, agent, busy_order):
    client.force_login(agent)
    text = _text(_page(client, busy_order))
    for raw in ("[{", "{'", "'sku'", "warehouse_id", "api:csk", "csk_live", "system:dispatch"):
        assert raw not in text
    assert "Partner API (Web Shop)" in text
    assert "2 × SHIRT-M from AMS" in text
    assert "with Sandbox Express" in text
    assert "Allocated → On hold (Customer request hold)" in text


def test_timeline_is_newest_first(client, agent, busy_order):
    client.force_login(agent)
    response = client.get(f"/desk/orders/{busy_order.number}/")
    times = [entry.at for entry in response.context["timeline"]]
    assert times == sorted(times, reverse=True)
    assert response.context["timeline"][0].title == "Note added"


@pytest.mark.parametrize(
    ("kind", "titles"),
    [
        ("holds", {"Hold placed"}),
        ("notes", {"Note added"}),
        ("shipments", {"Shipment planned"}),
        ("status", {"Order received", "Stock reserved", "Status changed"}),
        ("returns", set()),
    ],
)
def test_timeline_filter_shows_one_kind(client, agent, busy_order, kind, titles):
    client.force_login(agent)
    response = client.get(f"/desk/orders/{busy_order.number}/", {"timeline": kind})
    assert {entry.title for entry in response.context["timeline"]} == titles
    assert f'<strong aria-current="true" data-kind="{kind}">' in response.content.decode()


def test_unknown_timeline_filter_shows_everything(client, agent, busy_order):
    client.force_login(agent)
    response = client.get(f"/desk/orders/{busy_order.number}/", {"timeline": "<script>"})
    assert response.context["timeline_kind"] == "all"
    assert len(response.context["timeline"]) == busy_order.events.count()


@pytest.mark.parametrize("kind", list(TIMELINE_KINDS))
def test_filtered_order_page_within_query_budget(
    client, agent, busy_order, kind, django_assert_max_num_queries
):
    shipment = busy_order.shipments.get()
    for _ in range(10):
        TrackingEventFactory(shipment=shipment)
        events.note_added_event(order=busy_order, text="more", user=agent)
    client.force_login(agent)
    with django_assert_max_num_queries(ORDER_PAGE_BUDGET):
        response = client.get(f"/desk/orders/{busy_order.number}/", {"timeline": kind})
    assert response.status_code == 200


def test_user_actor_is_the_username_and_tracking_keeps_its_titles(agent, busy_order):
    entries = order_timeline(order=busy_order)
    assert {e.actor for e in entries if e.title == "Note added"} == {agent.get_username()}
    assert {e.actor for e in entries if e.title == "Shipment planned"} == {"Automatic (dispatch)"}


def test_address_change_entry_shows_old_and_new(client, agent):
    order = OrderFactory(shipping_city="Utrecht", shipping_postcode="3511 AB")
    order_shipping_address_change(
        order=order,
        address={
            "shipping_name": "Ann Other",
            "shipping_line1": "Damrak 1",
            "shipping_city": "Amsterdam",
            "shipping_postcode": "1012 LG",
            "shipping_country": "NL",
        },
        user=agent,
    )
    client.force_login(agent)
    text = _text(_page(client, order, timeline="status"))
    assert re.search(
        r"from “[^”]*3511 AB Utrecht[^”]*” to “Ann Other, Damrak 1, 1012 LG Amsterdam", text
    )


def test_address_change_entry_without_old_address_still_renders(client, agent):
    order = OrderFactory()
    events.event_record(
        order=order,
        type=OrderEvent.Type.ADDRESS_CHANGED,
        actor="system",
        new={"shipping_city": "Leiden", "shipping_country": "NL"},
    )
    client.force_login(agent)
    assert "to “Leiden, Netherlands”" in _text(_page(client, order))


# --- What to tell the customer -------------------------------------------------------


def _summary(client, order):
    return client.get(f"/desk/orders/{order.number}/").context["summary"]


@pytest.mark.parametrize(
    ("status", "state", "words"),
    [
        (Order.Status.RECEIVED, "received", "We have your order"),
        (Order.Status.ALLOCATED, "allocated", "being prepared"),
        (Order.Status.ON_HOLD, "on_hold", "checking a detail"),
        (Order.Status.BACKORDERED, "backordered", "waiting for stock"),
        (Order.Status.CANCELLED, "cancelled", "nothing was sent"),
        (Order.Status.RETURNED, "returned", "received your return"),
    ],
)
def test_customer_line_per_state_before_anything_moves(client, agent, status, state, words):
    order = OrderFactory(status=status)
    OrderLineFactory(order=order, line_number=1)
    client.force_login(agent)
    summary = _summary(client, order)
    assert summary.state == state
    assert words in summary.sentence
    assert words in _page(client, order)


def test_expected_delivery_is_not_yet_known_before_dispatch(client, agent):
    level = ServiceLevelFactory(name="Standard", max_transit_hours=48)
    order = OrderFactory(status=Order.Status.ALLOCATED, service_level=level)
    client.force_login(agent)
    summary = _summary(client, order)
    assert summary.expected_delivery is None
    assert summary.expected_text.startswith("Not yet known")
    assert "about 2 days with Standard" in summary.expected_text


def test_in_transit_parcel_gets_a_date_from_its_service_level(client, agent):
    level = ServiceLevelFactory(name="Express", max_transit_hours=24)
    order = OrderFactory(status=Order.Status.SHIPPED)
    OrderLineFactory(order=order, line_number=1, quantity=1, quantity_shipped=1)
    shipped = timezone.now() - dt.timedelta(hours=2)
    ShipmentFactory(
        order=order,
        service_level=level,
        status="in_transit",
        tracking_number="TRK-ON-ITS-WAY",
        dispatched_at=shipped,
        shipped_at=shipped,
    )
    client.force_login(agent)
    summary = _summary(client, order)
    assert summary.state == "in_transit"
    assert "TRK-ON-ITS-WAY" in summary.sentence
    assert summary.expected_delivery == timezone.localdate(shipped + dt.timedelta(hours=24))


def test_out_for_delivery_and_delivered_lines(client, agent):
    order = OrderFactory(status=Order.Status.SHIPPED)
    OrderLineFactory(order=order, line_number=1, quantity=1, quantity_shipped=1)
    now = timezone.now()
    shipment = ShipmentFactory(
        order=order, status="out_for_delivery", dispatched_at=now, shipped_at=now
    )
    client.force_login(agent)
    assert _summary(client, order).state == "out_for_delivery"
    Shipment.objects.filter(pk=shipment.pk).update(status="delivered", delivered_at=now)
    Order.objects.filter(pk=order.pk).update(status=Order.Status.DELIVERED)
    summary = _summary(client, order)
    assert summary.state == "delivered"
    assert summary.expected_text.startswith("Delivered on")


def test_cancelled_order_whose_parcel_left_is_not_shown_as_plain_cancelled(client, agent):
    order = OrderFactory(status=Order.Status.CANCELLED)
    OrderLineFactory(order=order, line_number=1)
    shipment = ShipmentFactory(
        order=order,
        status="exception",
        provider_reference="SBX-9",
        dispatched_at=timezone.now(),
    )
    shipment_events.provider_cancel_refused_event(shipment=shipment, message="already moving")
    client.force_login(agent)
    summary = _summary(client, order)
    assert summary.state == "cancelled_with_carrier"
    assert summary.sentence == (
        "Cancelled, but the parcel had already left: it will arrive; offer a return."
    )
    html = _page(client, order)
    heading = html[html.index("<h1") : html.index("</h1>")]
    assert "badge-cancelled_with_carrier" in heading
    assert 'badge-cancelled"' not in heading
    assert "Carrier refused to cancel" in html


def test_cancelled_order_waiting_for_the_carrier_says_so(client, agent):
    order = OrderFactory(status=Order.Status.CANCELLED)
    ShipmentFactory(order=order, status="dispatched", provider_reference="SBX-10")
    client.force_login(agent)
    assert _summary(client, order).state == "cancelled_pending_carrier"


# --- A partially shipped order ---------------------------------------------------------


def _partially_shipped_order() -> tuple[Order, Shipment, Shipment]:
    """Line 1 shipped (in transit), line 2 planned at another warehouse, not yet sent."""
    sandbox_provider()
    with transaction.atomic():
        order = allocated_order(warehouses=[outbox_site(), outbox_site()], quantities=(1, 2))
        shipments_plan_for_order(order=order, actor="test")
    first, rest = Shipment.objects.filter(order=order).order_by("pk")
    shipment_dispatch(shipment_id=first.pk, adapter=FakeAdapter(outcomes=["ok"]))
    first.refresh_from_db()
    track(first, TrackingStatus.IN_TRANSIT, timezone.now() - dt.timedelta(hours=2))
    order.refresh_from_db()
    assert order.status == Order.Status.PARTIALLY_SHIPPED, order.status
    return order, first, rest


def test_partially_shipped_order_can_be_held_and_the_rest_waits(client, agent):
    order, _, rest = _partially_shipped_order()
    client.force_login(agent)
    assert 'id="hold-form"' in _page(client, order)
    response = client.post(f"/desk/orders/{order.number}/hold/", {"reason": "customer_request"})
    assert response.status_code == 303
    order.refresh_from_db()
    assert order.status == Order.Status.PARTIALLY_SHIPPED
    assert DispatchOutbox.objects.get(shipment=rest).next_attempt_at == PARKED_UNTIL


def test_releasing_the_hold_of_a_partially_shipped_order_resumes_the_rest(agent):
    order, _, rest = _partially_shipped_order()
    hold = order_hold_place(order=order, reason=Hold.Reason.CUSTOMER_REQUEST, user=agent)
    order_hold_release(hold=hold, user=agent)
    order.refresh_from_db()
    assert order.status == Order.Status.PARTIALLY_SHIPPED
    assert DispatchOutbox.objects.get(shipment=rest).next_attempt_at < PARKED_UNTIL


def test_partially_shipped_order_offers_no_cancel_and_the_service_refuses_it(client, agent):
    order, _, _ = _partially_shipped_order()
    client.force_login(agent)
    html = _page(client, order)
    assert 'id="cancel-form"' not in html
    assert 'id="cancel-rest-form"' in html
    assert 'id="partial-actions"' in html
    with pytest.raises(Conflict):
        order_cancel(order=order, reason="customer changed mind", user=agent)
    order.refresh_from_db()
    assert order.status == Order.Status.PARTIALLY_SHIPPED


def test_partially_shipped_order_offers_a_return_of_what_shipped(client, agent):
    order, _, _ = _partially_shipped_order()
    client.force_login(agent)
    assert 'id="return-form"' in _page(client, order)
    response = client.post(
        f"/desk/orders/{order.number}/returns/",
        {"qty_1": "1", "reason_1": "size_fit", "qty_2": "0", "reason_2": "other"},
    )
    assert response.status_code == 303
    assert ReturnRequest.objects.filter(order=order).count() == 1
    with pytest.raises(ValidationFailed) as exc:
        return_request_create(
            order=order, lines=[RequestedLine(line_number=2, quantity=1, reason="other")]
        )
    assert exc.value.code == "return_quantity_unshipped"


def test_partially_shipped_customer_line(client, agent):
    order, first, _ = _partially_shipped_order()
    client.force_login(agent)
    summary = _summary(client, order)
    assert summary.state == "partially_shipped"
    assert "1 of your 3 items are on their way" in summary.sentence
    assert summary.expected_delivery is not None


def test_cancel_the_rest_from_the_page(client, agent):
    order, first, rest = _partially_shipped_order()
    client.force_login(agent)
    response = client.post(
        f"/desk/orders/{order.number}/cancel-rest/",
        {"reason": "customer does not want to wait", "confirm": "on"},
    )
    assert response.status_code == 303
    order.refresh_from_db()
    rest.refresh_from_db()
    assert order.status == Order.Status.SHIPPED
    assert rest.status == Shipment.Status.CANCELLED
    assert [line.quantity_cancelled for line in order.lines.order_by("line_number")] == [0, 2]
    html = _page(client, order)
    text = _text(html)
    assert "The unshipped rest of order" in text
    assert 'id="cancel-rest-form"' not in html
    assert "Unshipped rest cancelled" in text
    line = order.lines.get(line_number=2)
    assert f"2 × {line.sku} will not be sent — customer does not want to wait" in text
    assert "Partially shipped → Shipped (unshipped rest cancelled)" in text
    summary = _summary(client, order)
    assert "2 items of your order were cancelled and will not be sent." in summary.sentence


def test_cancel_the_rest_needs_a_reason_and_the_confirmation(client, agent):
    order, _, _ = _partially_shipped_order()
    client.force_login(agent)
    response = client.post(f"/desk/orders/{order.number}/cancel-rest/", {"reason": "x"})
    assert response.status_code == 303
    order.refresh_from_db()
    assert order.status == Order.Status.PARTIALLY_SHIPPED
    assert "confirm that the cancelled units will not ship" in _page(client, order)


def test_cancel_the_rest_refused_by_the_service_is_shown(client, agent):
    order, _, rest = _partially_shipped_order()
    shipment_dispatch(shipment_id=rest.pk, adapter=FakeAdapter(outcomes=["ok"]))
    client.force_login(agent)
    response = client.post(
        f"/desk/orders/{order.number}/cancel-rest/", {"reason": "late", "confirm": "on"}
    )
    assert response.status_code == 303
    order.refresh_from_db()
    assert order.status == Order.Status.PARTIALLY_SHIPPED
    assert "are with the provider already and may still ship" in _page(client, order)


def test_cancel_the_rest_is_not_offered_without_the_permission(client, warehouse_user):
    order, _, _ = _partially_shipped_order()
    client.force_login(warehouse_user)
    response = client.post(
        f"/desk/orders/{order.number}/cancel-rest/", {"reason": "x", "confirm": "on"}
    )
    assert response.status_code == 403
    order.refresh_from_db()
    assert order.status == Order.Status.PARTIALLY_SHIPPED


# --- The address form ------------------------------------------------------------------

ADDRESS = {
    "shipping_name": "Jeanne Martin",
    "shipping_line1": "1 rue de Rivoli",
    "shipping_city": "Paris",
    "shipping_postcode": "ABCDEFG",
    "shipping_country": "FR",
}


def test_address_form_refuses_a_postcode_of_the_wrong_shape_and_keeps_the_input(client, agent):
    order = OrderFactory(status=Order.Status.ALLOCATED)
    client.force_login(agent)
    response = client.post(f"/desk/orders/{order.number}/address/", ADDRESS)
    assert response.status_code == 422
    form = response.context["form"]
    assert list(form.errors) == ["shipping_postcode"]
    assert "Not a postcode of France" in form.errors["shipping_postcode"][0]
    html = response.content.decode()
    assert 'value="1 rue de Rivoli"' in html
    assert 'value="ABCDEFG"' in html
    assert '<option value="FR" selected>France (FR)</option>' in html
    order.refresh_from_db()
    assert order.shipping_city != "Paris"


def test_address_form_offers_a_country_list(client, agent):
    order = OrderFactory(status=Order.Status.ALLOCATED, shipping_country="NL")
    client.force_login(agent)
    html = client.get(f"/desk/orders/{order.number}/address/").content.decode()
    assert '<select name="shipping_country"' in html
    assert '<option value="NL" selected>Netherlands (NL)</option>' in html
    assert '<option value="IE">Ireland (IE)</option>' in html


def test_address_form_accepts_a_lower_case_postcode_and_stores_it_upper_case(client, agent):
    order = OrderFactory(status=Order.Status.ALLOCATED)
    client.force_login(agent)
    response = client.post(
        f"/desk/orders/{order.number}/address/",
        {**ADDRESS, "shipping_country": "GB", "shipping_postcode": "sw1a  1aa"},
    )
    assert response.status_code == 303
    order.refresh_from_db()
    assert order.shipping_postcode == "SW1A 1AA"


def test_address_service_refuses_a_wrong_postcode_too(agent):
    order = OrderFactory(status=Order.Status.ALLOCATED)
    with pytest.raises(ValidationFailed) as exc:
        order_shipping_address_change(order=order, address=ADDRESS, user=agent)
    assert [e["field"] for e in exc.value.errors] == ["shipping_postcode"]


def test_address_form_error_from_the_service_is_shown_next_to_the_field(client, agent):
    order = OrderFactory(status=Order.Status.ALLOCATED)
    client.force_login(agent)
    response = client.post(
        f"/desk/orders/{order.number}/address/",
        {**ADDRESS, "shipping_postcode": "75001", "shipping_name": "x" * 201},
    )
    assert response.status_code == 422
    assert "shipping_name" in response.context["form"].errors
    assert 'value="75001"' in response.content.decode()
