"""Back-office pages per role: what each role may see and do, 403 for the rest, query budgets."""

import pytest
from django.urls import reverse

from backoffice.models import BulkJob
from orders.models import Hold, Order, OrderEvent
from orders.services.holds import order_hold_place
from tests.inventory.factories import StockLevelFactory
from tests.logistics.factories import ShipmentFactory, TrackingEventFactory
from tests.orders.factories import OrderFactory, OrderLineFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def order():
    order = OrderFactory(status=Order.Status.ALLOCATED, customer_name="Nora Lindqvist")
    OrderLineFactory(order=order, line_number=1)
    OrderLineFactory(order=order, line_number=2)
    # Parked after a failed dispatch: a hold can still stop it.
    shipment = ShipmentFactory(order=order, tracking_number="TRK-VIEW-1", status="dispatch_failed")
    TrackingEventFactory(shipment=shipment, description="Left the depot")
    return order


@pytest.fixture
def level():
    return StockLevelFactory()


def _login(client, user):
    client.force_login(user)
    return client


def _role(request, name):
    return request.getfixturevalue(name)


ADDRESS = {
    "shipping_name": "N. Lindqvist",
    "shipping_line1": "Storgatan 1",
    "shipping_city": "Stockholm",
    "shipping_postcode": "111 22",
    "shipping_country": "SE",
}


# --- Login ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "/",
        "/desk/",
        "/warehouse/stock/",
        "/warehouse/dispatch/",
        "/ops/exceptions/",
        "/ops/dashboard/",
    ],
)
def test_anonymous_user_is_sent_to_login(client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


# --- What each role may do -----------------------------------------------------------


@pytest.mark.parametrize("role", ["agent", "manager", "warehouse_user"])
def test_every_role_can_search_and_open_an_order(client, request, role, order):
    _login(client, _role(request, role))
    response = client.get("/desk/", {"q": "TRK-VIEW-1"})
    assert response.status_code == 200
    assert order.number in response.content.decode()
    assert client.get(f"/desk/orders/{order.number}/").status_code == 200


@pytest.mark.parametrize("role", ["agent", "manager"])
def test_agent_and_manager_can_place_a_hold(client, request, role, order):
    user = _role(request, role)
    _login(client, user)
    response = client.post(
        f"/desk/orders/{order.number}/hold/", {"reason": "fraud_review", "note": "check id"}
    )
    assert response.status_code == 303
    assert Hold.objects.get(order=order).placed_by == user
    page = client.get(f"/desk/orders/{order.number}/").content.decode()
    assert "Hold placed" in page
    assert "check id" in page


def test_agent_can_release_a_hold(client, agent, order):
    hold = order_hold_place(order=order, reason="manual", user=agent)
    _login(client, agent)
    response = client.post(f"/desk/orders/{order.number}/holds/{hold.pk}/release/", {"note": "ok"})
    assert response.status_code == 303
    hold.refresh_from_db()
    assert hold.released_by == agent


def test_agent_can_add_a_note(client, agent, order):
    _login(client, agent)
    client.post(f"/desk/orders/{order.number}/notes/", {"text": "Rang the customer"})
    assert order.events.filter(type=OrderEvent.Type.NOTE_ADDED, user=agent).exists()


def test_agent_can_change_the_address(client, agent, order):
    _login(client, agent)
    assert client.get(f"/desk/orders/{order.number}/address/").status_code == 200
    response = client.post(f"/desk/orders/{order.number}/address/", ADDRESS)
    assert response.status_code == 303
    order.refresh_from_db()
    assert order.shipping_city == "Stockholm"


def test_invalid_address_is_shown_again_with_errors(client, agent, order):
    _login(client, agent)
    response = client.post(
        f"/desk/orders/{order.number}/address/", {**ADDRESS, "shipping_line1": ""}
    )
    assert response.status_code == 422
    order.refresh_from_db()
    assert order.shipping_city != "Stockholm"


def test_hold_on_shipped_order_is_refused_with_a_message_not_an_error(client, agent):
    order = OrderFactory(status=Order.Status.SHIPPED)
    _login(client, agent)
    response = client.post(f"/desk/orders/{order.number}/hold/", {"reason": "manual"}, follow=True)
    assert response.status_code == 200
    assert "cannot be held" in response.content.decode()
    assert not Hold.objects.filter(order=order).exists()


def test_unknown_order_is_404(client, agent):
    _login(client, agent)
    assert client.get("/desk/orders/CS-999999999/").status_code == 404


@pytest.mark.parametrize("role", ["warehouse_user", "manager"])
def test_warehouse_and_manager_see_stock_and_dispatch(client, request, role, level):
    _login(client, _role(request, role))
    assert client.get("/warehouse/stock/").status_code == 200
    assert client.get(f"/warehouse/stock/{level.pk}/").status_code == 200
    assert client.get("/warehouse/dispatch/").status_code == 200


def test_manager_sees_exceptions_and_dashboard(client, manager, order):
    order_hold_place(order=order, reason="manual", user=manager)
    _login(client, manager)
    response = client.get("/ops/exceptions/")
    assert response.status_code == 200
    assert order.number in response.content.decode()
    response = client.get("/ops/dashboard/")
    assert response.status_code == 200
    assert "<svg" in response.content.decode()


# --- 403 on everything a role may not do ---------------------------------------


def _forbidden_requests(order, level):
    number = order.number
    return {
        "hold": ("post", f"/desk/orders/{number}/hold/", {"reason": "manual"}),
        "release": ("post", f"/desk/orders/{number}/holds/{{hold}}/release/", {}),
        "note": ("post", f"/desk/orders/{number}/notes/", {"text": "x"}),
        "address_form": ("get", f"/desk/orders/{number}/address/", {}),
        "address": ("post", f"/desk/orders/{number}/address/", ADDRESS),
        "stock_list": ("get", "/warehouse/stock/", {}),
        "stock_detail": ("get", f"/warehouse/stock/{level.pk}/", {}),
        "stock_adjust": (
            "post",
            f"/warehouse/stock/{level.pk}/adjust/",
            {"delta": "5", "reason": "x"},
        ),
        "dispatch_board": ("get", "/warehouse/dispatch/", {}),
        "exceptions": ("get", "/ops/exceptions/", {}),
        "dashboard": ("get", "/ops/dashboard/", {}),
        "bulk_hold_form": ("get", "/ops/bulk-hold/", {}),
        "bulk_hold": (
            "post",
            "/ops/bulk-hold/",
            {"action": "hold", "numbers": number, "reason": "manual", "confirm": "1"},
        ),
    }


FORBIDDEN = {
    "agent": [
        "stock_list",
        "stock_detail",
        "stock_adjust",
        "dispatch_board",
        "exceptions",
        "dashboard",
        "bulk_hold_form",
        "bulk_hold",
    ],
    "warehouse_user": [
        "hold",
        "release",
        "note",
        "address_form",
        "address",
        "exceptions",
        "dashboard",
        "bulk_hold_form",
        "bulk_hold",
    ],
}


@pytest.mark.parametrize(
    ("role", "action"),
    [(role, action) for role, actions in FORBIDDEN.items() for action in actions],
)
def test_role_gets_403_and_nothing_changes(client, request, manager, role, action, order, level):
    hold = order_hold_place(order=order, reason="manual", user=manager)
    method, url, data = _forbidden_requests(order, level)[action]
    url = url.replace("{hold}", str(hold.pk))
    events_before = OrderEvent.objects.count()
    _login(client, _role(request, role))
    response = getattr(client, method)(url, data)
    assert response.status_code == 403
    assert OrderEvent.objects.count() == events_before
    assert Hold.objects.filter(order=order, released_at__isnull=True).count() == 1
    assert not BulkJob.objects.exists()
    order.refresh_from_db()
    assert order.shipping_city != "Stockholm"


def test_user_without_any_role_is_refused_the_desk(client, make_user):
    _login(client, make_user("nobody"))
    assert client.get("/desk/").status_code == 403


def test_job_of_another_user_is_hidden_from_a_non_manager(client, agent, manager):
    job = BulkJob.objects.create(kind=BulkJob.Kind.BULK_HOLD, created_by=manager)
    _login(client, agent)
    assert client.get(f"/ops/jobs/{job.pk}/status.json").status_code == 403
    assert client.get(f"/ops/jobs/{job.pk}/result.csv").status_code == 403


def test_forms_require_csrf(agent, order):
    from django.test import Client

    csrf_client = Client(enforce_csrf_checks=True)
    csrf_client.force_login(agent)
    response = csrf_client.post(f"/desk/orders/{order.number}/notes/", {"text": "x"})
    assert response.status_code == 403
    assert not order.events.filter(type=OrderEvent.Type.NOTE_ADDED).exists()


# --- Query budgets -------------------------------------------------------------------


SEARCH_BUDGET = 6
# +3 for the returns panel (returns, their lines, which shipments have a commercial invoice).
ORDER_PAGE_BUDGET = 15


def test_search_page_within_query_budget(client, agent, django_assert_max_num_queries):
    for i in range(30):
        OrderFactory(customer_name=f"Budget Person {i}")
    _login(client, agent)
    with django_assert_max_num_queries(SEARCH_BUDGET):
        response = client.get("/desk/", {"q": "Budget Person"})
    assert response.content.decode().count("Budget Person") >= 30


def test_order_page_query_count_does_not_grow_with_lines_and_events(
    client, agent, order, django_assert_max_num_queries
):
    for n in range(3, 23):
        OrderLineFactory(order=order, line_number=n)
    for _ in range(3):
        shipment = ShipmentFactory(order=order, status="dispatch_failed")
        shipment.parcels.create(tracking_number="P")
        for _ in range(5):
            TrackingEventFactory(shipment=shipment)
    for _ in range(20):
        order_hold_place(order=order, reason="manual", user=agent)
        order.holds.filter(released_at__isnull=True).update(released_at="2026-01-01T00:00Z")
    _login(client, agent)
    with django_assert_max_num_queries(ORDER_PAGE_BUDGET):
        response = client.get(f"/desk/orders/{order.number}/")
    assert response.status_code == 200


def test_timeline_merges_order_and_tracking_events_in_time_order(order):
    from datetime import UTC, datetime

    from backoffice.selectors import order_timeline

    shipment = order.shipments.get()
    TrackingEventFactory(
        shipment=shipment, status="delivered", occurred_at=datetime(2030, 1, 1, tzinfo=UTC)
    )
    TrackingEventFactory(
        shipment=shipment, status="pre_transit", occurred_at=datetime(2000, 1, 1, tzinfo=UTC)
    )
    from orders.events import note_added_event

    note_added_event(order=order, text="between")
    entries = order_timeline(order=order)
    assert entries == sorted(entries, key=lambda e: e.at)
    assert entries[0].title == "Tracking: Pre-transit"
    assert entries[-1].title == "Tracking: Delivered"
    assert any(e.source == "order" and e.detail == "between" for e in entries)


def test_hold_with_a_follow_up_time_gets_a_due_time(client, agent, order):
    client.force_login(agent)
    client.post(
        f"/desk/orders/{order.number}/hold/", {"reason": "customer_request", "due_in_hours": "24"}
    )
    hold = Hold.objects.get(order=order)
    assert hold.owner == agent
    assert 23 * 3600 < (hold.due_at - hold.created_at).total_seconds() <= 24 * 3600 + 5


def test_hold_form_is_offered_while_a_shipment_is_only_queued(client, agent):
    order = OrderFactory(status=Order.Status.IN_FULFILMENT)
    ShipmentFactory(order=order, status="pending")
    client.force_login(agent)
    page = client.get(f"/desk/orders/{order.number}/").content.decode()
    assert 'id="hold-form"' in page
    assert 'id="hold-lsp-warning"' not in page


def test_hold_form_warns_once_the_provider_has_a_shipment(client, agent):
    order = OrderFactory(status=Order.Status.IN_FULFILMENT)
    ShipmentFactory(order=order, status="dispatched")
    client.force_login(agent)
    page = client.get(f"/desk/orders/{order.number}/").content.decode()
    assert 'id="hold-lsp-warning"' in page


def test_hold_on_accepted_shipment_is_recorded_and_desk_says_the_provider_has_it(client, agent):
    order = OrderFactory(status=Order.Status.IN_FULFILMENT)
    ShipmentFactory(order=order, status="dispatched", provider_reference="SBX-1")
    client.force_login(agent)
    response = client.post(
        f"/desk/orders/{order.number}/hold/", {"reason": "customer_request"}, follow=True
    )
    text = response.content.decode()
    assert order.holds.filter(released_at__isnull=True).count() == 1
    assert "provider already has shipment(s)" in text
    assert "Cancel the order" in text


# --- The empty desk and the customer's other orders (issue 16 item 13) ------------


def test_empty_desk_shows_recent_orders_and_my_active_holds(client, agent, manager):
    from datetime import timedelta

    from django.utils import timezone

    past = timezone.now() - timedelta(days=9)
    recent = OrderFactory(customer_name="Recent Rita", placed_at=timezone.now())
    held = OrderFactory(customer_name="Held Hugo", placed_at=past)
    order_hold_place(order=held, reason=Hold.Reason.CUSTOMER_REQUEST, note="call back", user=agent)
    released = OrderFactory(placed_at=past)
    hold = order_hold_place(order=released, reason=Hold.Reason.MANUAL, user=agent)
    Hold.objects.filter(pk=hold.pk).update(released_at=timezone.now())
    others = OrderFactory(placed_at=past)
    order_hold_place(order=others, reason=Hold.Reason.MANUAL, user=manager)
    _login(client, agent)
    response = client.get("/desk/")
    assert response.status_code == 200
    assert [h.order for h in response.context["recent"]][0] == recent
    assert [h.order for h in response.context["my_holds"]] == [held]
    body = response.content.decode()
    assert 'id="recent-orders"' in body
    assert "Recent Rita" in body
    assert "Customer request" in body
    assert "call back" in body


def test_warehouse_empty_desk_shows_recent_orders_without_contact_or_holds(client, warehouse_user):
    order = OrderFactory(customer_email="quiet@example.com")
    _login(client, warehouse_user)
    body = client.get("/desk/").content.decode()
    assert order.number in body
    assert "quiet@example.com" not in body
    assert 'id="my-holds"' not in body


def test_empty_desk_within_query_budget(client, agent, django_assert_max_num_queries):
    for _ in range(30):
        order_hold_place(order=OrderFactory(), reason=Hold.Reason.MANUAL, user=agent)
    _login(client, agent)
    with django_assert_max_num_queries(SEARCH_BUDGET):
        response = client.get("/desk/")
    assert len(response.context["recent"]) == 20
    assert len(response.context["my_holds"]) == 30


def test_order_page_links_to_all_orders_of_the_customer(client, agent):
    order = OrderFactory(customer_email="Ann+shop@example.com")
    other = OrderFactory(customer_email="ann+SHOP@example.com")
    OrderFactory(customer_email="someone@example.com")
    _login(client, agent)
    body = client.get(f"/desk/orders/{order.number}/").content.decode()
    link = '/desk/?q=Ann%2Bshop%40example.com" id="customer-orders"'
    assert link in body
    results = client.get("/desk/", {"q": "Ann+shop@example.com"})
    assert {hit.order for hit in results.context["hits"]} == {order, other}


def test_warehouse_order_page_has_no_customer_orders_link(client, warehouse_user):
    order = OrderFactory(customer_email="hidden@example.com")
    _login(client, warehouse_user)
    body = client.get(f"/desk/orders/{order.number}/").content.decode()
    assert 'id="customer-orders"' not in body
    assert "hidden%40example.com" not in body
    assert "hidden@example.com" not in body
