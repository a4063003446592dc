import pytest

from logistics.models import Shipment
from orders.models import Order
from tests.fixtures.admin_book import (
    BOOK_ROWS,
    QUERY_BUDGET,
    admin_url,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_password_hashing")]


def test_order_book_has_the_rows_the_budget_is_proven_with(admin_book):
    from orders.models import Hold, OrderEvent, OrderLine

    for model in (Order, OrderLine, OrderEvent, Hold):
        assert model.objects.count() >= BOOK_ROWS


def test_order_change_page_shows_lines_shipments_and_timeline(admin_book, staff_client):
    order = Order.objects.filter(status="delivered").first()
    response = staff_client.get(admin_url(Order, "change", order.pk))
    body = response.content.decode()
    assert "Timeline" in body
    assert order.lines.first().sku in body
    assert order.shipments.first().tracking_number in body


def test_orders_cannot_be_added_edited_or_deleted_in_the_admin(admin_book, staff_client):
    order = Order.objects.first()
    assert staff_client.get(admin_url(Order, "add")).status_code == 403
    assert staff_client.get(admin_url(Order, "delete", order.pk)).status_code == 403
    response = staff_client.post(admin_url(Order, "change", order.pk), {"status": "cancelled"})
    assert response.status_code == 403
    order.refresh_from_db()
    assert order.status != "cancelled"


def test_order_events_cannot_be_deleted_in_the_admin(admin_book, staff_client):
    from orders.models import OrderEvent

    event = OrderEvent.objects.first()
    assert (
        staff_client.post(admin_url(OrderEvent, "delete", event.pk), {"post": "yes"}).status_code
        == 403
    )
    assert OrderEvent.objects.filter(pk=event.pk).exists()


def _search(client, term: str) -> list[int]:
    response = client.get(admin_url(Order, "changelist"), {"q": term})
    assert response.status_code == 200
    return [o.pk for o in response.context["cl"].result_list]


def test_order_search_finds_by_number(admin_book, staff_client):
    order = Order.objects.order_by("?").first()
    assert _search(staff_client, order.number.lower()) == [order.pk]


def test_order_search_finds_by_postcode_without_spaces(admin_book, staff_client):
    order = Order.objects.filter(shipping_postcode__contains=" ").first()
    found = _search(staff_client, order.shipping_postcode.replace(" ", "").lower())
    assert order.pk in found


def test_order_search_finds_by_phone_as_read_out_locally(admin_book, staff_client):
    order = Order.objects.filter(customer_phone__startswith="+31 6").first()
    local = "06 " + order.customer_phone.removeprefix("+31 6").strip()
    assert order.pk in _search(staff_client, local)


def test_order_search_finds_by_tracking_number(admin_book, staff_client):
    shipment = Shipment.objects.exclude(tracking_number="").first()
    assert _search(staff_client, shipment.tracking_number) == [shipment.order_id]


def test_order_search_stays_within_query_budget(
    admin_book, staff_client, django_assert_max_num_queries
):
    with django_assert_max_num_queries(QUERY_BUDGET + 1):
        response = staff_client.get(admin_url(Order, "changelist"), {"q": "Jansen"})
    assert response.status_code == 200


def test_customer_service_agent_sees_orders_view_only(admin_book, client):
    from django.contrib.auth import get_user_model

    client.force_login(get_user_model().objects.get(username="agent"))
    order = Order.objects.order_by("pk").first()
    assert client.get(admin_url(Order, "changelist")).status_code == 200
    page = client.get(admin_url(Order, "change", order.pk))
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()


def test_customer_service_agent_cannot_open_the_stock_ledger(admin_book, client):
    from django.contrib.auth import get_user_model

    from inventory.models import StockMovement

    client.force_login(get_user_model().objects.get(username="agent"))
    assert client.get(admin_url(StockMovement, "changelist")).status_code == 403


@pytest.mark.parametrize("username", ["admin", "agent", "warehouse", "manager"])
def test_admin_index_loads_for_every_demo_user(admin_book, client, username):
    from django.contrib.auth import get_user_model
    from django.urls import reverse

    client.force_login(get_user_model().objects.get(username=username))
    response = client.get(reverse("admin:index"))
    assert response.status_code == 200
    assert "Orders" in response.content.decode()
