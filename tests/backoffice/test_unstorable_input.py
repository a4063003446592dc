"""Issue 16, item 2: NUL anywhere in a back-office request is a 404 or a 400, never a 500.

Postgres text cannot hold NUL. core.middleware.UnstorableInputMiddleware answers for
every view: NUL in the path names nothing (404); in a query string or form field it is
a 400 (a plain page here, problem+json under /api/).
"""

import pytest
from django.test import Client

from orders.models import OrderEvent
from tests.inventory.factories import StockLevelFactory
from tests.orders.factories import OrderFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def client(superuser):
    # A 500 must show as a status here, not as an exception raised into the test.
    client = Client(raise_request_exception=False)
    client.force_login(superuser)
    return client


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("get", "/desk/orders/%00/"),
        ("get", "/desk/orders/%00/address/"),
        ("post", "/desk/orders/%00/address/"),
        ("post", "/desk/orders/%00/notes/"),
        ("post", "/desk/orders/%00/cancel/"),
        ("post", "/desk/orders/%00/cancel-rest/"),
        ("post", "/desk/orders/%00/returns/"),
        ("post", "/desk/orders/CS-%00/hold/"),
        ("get", "/admin/orders/order/%00/change/"),
    ],
)
def test_nul_in_the_path_is_404(client, method, url):
    response = getattr(client, method)(url, {"text": "x", "reason": "x"})
    assert response.status_code == 404


@pytest.mark.parametrize(
    "url",
    [
        "/warehouse/stock/?sku=%00",
        "/warehouse/stock/?warehouse=%00",
        "/warehouse/stock/?sku=SHIRT%00&low=1",
        "/ops/exceptions/?channel=%00",
        "/desk/?q=CS-%00",
        "/admin/orders/order/?q=%00",
    ],
)
def test_nul_in_a_query_parameter_is_a_400_page(client, url):
    response = client.get(url)
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")
    page = response.content.decode()
    assert "cannot be stored" in page
    assert "Traceback" not in page


def test_nul_in_a_form_field_is_a_400_and_nothing_is_written(client):
    order = OrderFactory()
    events = OrderEvent.objects.count()
    response = client.post(f"/desk/orders/{order.number}/notes/", {"text": "call back\x00"})
    assert response.status_code == 400
    assert "form field &#x27;text&#x27;" in response.content.decode()
    assert OrderEvent.objects.count() == events


def test_nul_in_a_form_field_name_is_a_400(client):
    level = StockLevelFactory(on_hand=4)
    response = client.post(f"/warehouse/stock/{level.pk}/count/", {"counted\x00": "1"})
    assert response.status_code == 400


def test_plain_input_still_works(client):
    assert client.get("/warehouse/stock/", {"sku": "SHIRT%00"}).status_code == 200
    assert client.get("/desk/", {"q": "100%"}).status_code == 200


def test_nul_in_an_api_query_parameter_is_a_400_problem(api_client):
    response = api_client.get("/api/v1/inventory/?sku=%00")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert "query parameter 'sku'" in response.json()["detail"]


def test_nul_in_an_api_path_is_a_404_problem(api_client):
    response = api_client.get("/api/v1/orders/CS-%00/")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"


def test_session_cookie_with_nul_is_no_session_not_a_500():
    # A quoted cookie value may carry NUL as an octal escape.
    client = Client(raise_request_exception=False, HTTP_COOKIE='sessionid="abcdefghij\\000kl"')
    response = client.get("/desk/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
    assert client.get("/desk/?q=%00").status_code == 400
