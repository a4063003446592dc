"""Issue 16 items 7 and 17: where login and logout land, the 403 and 404 pages, and what
the warehouse sees of a customer."""

import pytest

from orders.models import Order
from tests.orders.factories import OrderFactory, OrderLineFactory

pytestmark = pytest.mark.django_db

LOGIN = "/admin/login/"
PASSWORD = "pw-test-123!"


@pytest.mark.parametrize(
    ("role", "start"),
    [
        ("agent", "/desk/"),
        ("warehouse_user", "/warehouse/stock/"),
        ("manager", "/ops/dashboard/"),
        ("superuser", "/ops/dashboard/"),
    ],
)
def test_login_without_next_lands_on_the_roles_start_screen(client, request, role, start):
    user = request.getfixturevalue(role)
    page = client.get(LOGIN)
    assert page.status_code == 200
    response = client.post(
        LOGIN, {"username": user.username, "password": PASSWORD, **_next_field(page)}, follow=True
    )
    assert response.redirect_chain[-1][0] == start
    assert response.status_code == 200


def _next_field(page) -> dict:
    # What the form's hidden `next` field carries, as a browser would post it.
    import re

    match = re.search(r'name="next" value="([^"]*)"', page.content.decode())
    return {"next": match.group(1)} if match else {}


def test_login_keeps_an_explicit_next(client, agent):
    response = client.post(
        f"{LOGIN}?next=/desk/?q=x",
        {"username": "agent", "password": PASSWORD, "next": "/desk/?q=x"},
    )
    assert response["Location"] == "/desk/?q=x"


def test_login_refuses_a_next_on_another_site(client, agent):
    response = client.post(
        LOGIN, {"username": "agent", "password": PASSWORD, "next": "https://evil.example/"}
    )
    assert response["Location"] == "/"


def test_logged_in_visit_to_the_login_page_goes_to_the_start_screen(client, agent):
    client.force_login(agent)
    response = client.get(LOGIN)
    assert response["Location"] == "/"


def test_login_page_loads_the_time_zone_script(client):
    assert "backoffice/app.js" in client.get(LOGIN).content.decode()


def test_logout_lands_on_the_login_page(client, agent):
    client.force_login(agent)
    response = client.post("/admin/logout/")
    assert response.status_code == 302
    assert response["Location"] == LOGIN


def test_forbidden_page_keeps_the_navigation(client, agent):
    client.force_login(agent)
    response = client.get("/ops/dashboard/")
    assert response.status_code == 403
    body = response.content.decode()
    assert 'id="user-tools"' in body
    assert 'href="/desk/"' in body
    assert "Not allowed" in body


def test_unknown_order_is_a_styled_not_found_page(client, agent):
    client.force_login(agent)
    response = client.get("/desk/orders/CS-999999/")
    assert response.status_code == 404
    body = response.content.decode()
    assert "There is no order CS-999999." in body
    assert 'id="user-tools"' in body
    assert 'id="desk-q"' in body


def test_unknown_address_is_a_styled_not_found_page(client, agent):
    client.force_login(agent)
    response = client.get("/no-such-screen/")
    assert response.status_code == 404
    assert 'id="user-tools"' in response.content.decode()


def test_not_found_page_for_an_anonymous_visitor_shows_no_user_tools(client):
    response = client.get("/no-such-screen/")
    assert response.status_code == 404
    assert 'id="user-tools"' not in response.content.decode()


# --- Item 7: the warehouse gets what its work needs ---------------------------------


@pytest.fixture
def order():
    order = OrderFactory(
        status=Order.Status.ALLOCATED,
        customer_email="nora@example.se",
        customer_phone="+46 70 123 45 67",
    )
    OrderLineFactory(order=order, line_number=1)
    return order


def test_warehouse_does_not_see_customer_contact_on_the_order_page(client, warehouse_user, order):
    client.force_login(warehouse_user)
    body = client.get(f"/desk/orders/{order.number}/").content.decode()
    assert order.shipping_city in body
    assert "nora@example.se" not in body
    assert "123 45 67" not in body


def test_agent_sees_customer_contact_on_the_order_page(client, agent, order):
    client.force_login(agent)
    body = client.get(f"/desk/orders/{order.number}/").content.decode()
    assert "nora@example.se" in body
    assert "+46 70 123 45 67" in body


@pytest.mark.parametrize("query", ["nora@example.se", "070 123 45 67"])
def test_warehouse_cannot_find_an_order_by_customer_contact(
    client, warehouse_user, agent, order, query
):
    client.force_login(agent)
    assert order.number in client.get("/desk/", {"q": query}).content.decode()
    client.force_login(warehouse_user)
    body = client.get("/desk/", {"q": query}).content.decode()
    assert order.number not in body


def test_warehouse_search_results_have_no_e_mail_column(client, warehouse_user, order):
    client.force_login(warehouse_user)
    body = client.get("/desk/", {"q": order.number}).content.decode()
    assert order.number in body
    assert "nora@example.se" not in body


def test_warehouse_does_not_see_customer_contact_in_the_admin(client, warehouse_user, order):
    client.force_login(warehouse_user)
    response = client.get(f"/admin/orders/order/{order.pk}/change/")
    assert response.status_code == 200
    body = response.content.decode()
    assert order.number in body
    assert "nora@example.se" not in body
