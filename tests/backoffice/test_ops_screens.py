"""Issue 16 item 16: the exception queue's and the dashboard's screen behaviour."""

import re
from datetime import datetime, time, timedelta
from html import unescape

import pytest
from django.core.cache import cache
from django.utils import timezone

from orders.models import Order
from orders.services.holds import order_hold_place
from tests.inventory.factories import StockLevelFactory
from tests.logistics.factories import ShipmentFactory
from tests.orders.factories import OrderFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_password_hashing")]


@pytest.fixture
def ops_client(client, manager):
    cache.clear()  # the dashboard's figures are cached for a minute
    client.force_login(manager)
    return client


# --- Exception queue -----------------------------------------------------------


@pytest.mark.parametrize(
    ("days", "message"),
    [
        ("-1", "Days must be 0 or more."),
        ("-9999999999999999999999", "Days must be 0 or more."),
        ("366", "Days must be at most 365."),
        ("three", "Days must be a whole number."),
    ],
)
def test_queue_refuses_days_it_cannot_use_with_a_form_error(ops_client, days, message):
    response = ops_client.get("/ops/exceptions/", {"days": days})

    assert response.status_code == 400
    body = response.content.decode()
    assert message in unescape(body)
    assert 'id="filter-errors"' in body
    assert response.context["queue"] == {}
    assert f'value="{days}"' in body  # what was typed stays in the box


def test_queue_accepts_zero_days_and_defaults_to_three(ops_client):
    assert ops_client.get("/ops/exceptions/", {"days": "0"}).status_code == 200
    response = ops_client.get("/ops/exceptions/")
    assert response.status_code == 200
    assert response.context["backorder_days"] == 3


def test_queue_refuses_an_unknown_kind(ops_client):
    response = ops_client.get("/ops/exceptions/", {"kind": "nonsense"})
    assert response.status_code == 400
    assert "Unknown kind of exception." in unescape(response.content.decode())


def test_stock_alert_rows_link_to_their_stock_level(ops_client):
    level = StockLevelFactory(on_hand=2, low_stock_threshold=5)
    StockLevelFactory(on_hand=50, low_stock_threshold=5)

    body = ops_client.get("/ops/exceptions/", {"kind": "stock"}).content.decode()

    url = f"/warehouse/stock/{level.pk}/"
    assert f'<a href="{url}">{level.product.sku} at {level.warehouse.code}</a>' in body
    target = ops_client.get(url)
    assert target.status_code == 200
    assert target.context["level"] == level


def test_sections_with_orders_have_a_select_all_box(ops_client, manager):
    order = OrderFactory(status=Order.Status.ALLOCATED)
    order_hold_place(order=order, reason="manual", user=manager)
    StockLevelFactory(on_hand=2, low_stock_threshold=5)

    body = ops_client.get("/ops/exceptions/").content.decode()

    hold_section = body[
        body.index('id="q-hold"') : body.index("</section>", body.index('id="q-hold"'))
    ]
    stock_section = body[
        body.index('id="q-stock"') : body.index("</section>", body.index('id="q-stock"'))
    ]
    assert "data-select-all" in hold_section
    assert "data-select-all" not in stock_section  # stock rows have no order to tick


def test_queue_of_stock_alerts_is_within_a_fixed_query_budget(
    ops_client, django_assert_max_num_queries
):
    StockLevelFactory.create_batch(30, on_hand=1, low_stock_threshold=5)
    with django_assert_max_num_queries(25):
        response = ops_client.get("/ops/exceptions/", {"kind": "stock"})
    assert response.context["queue"]["stock"]["count"] == 30


# --- Dashboard -----------------------------------------------------------------


def _result_count(client, url: str) -> int:
    response = client.get(url)
    assert response.status_code == 200, url
    assert "?e=1" not in response.get("Location", "")
    if "cl" in response.context:
        return response.context["cl"].result_count
    return response.context["page_obj"].paginator.count


def _links(body: str, fragment: str) -> list[str]:
    return [unescape(h) for h in re.findall(r'href="([^"]*)"', body) if fragment in unescape(h)]


@pytest.fixture
def dashboard_data():
    now = timezone.now()
    OrderFactory.create_batch(3, status=Order.Status.RECEIVED)
    OrderFactory.create_batch(2, status=Order.Status.BACKORDERED)
    OrderFactory(status=Order.Status.DELIVERED)
    old = OrderFactory(status=Order.Status.RECEIVED)
    Order.objects.filter(pk=old.pk).update(created_at=now - timedelta(days=40))
    on_time = ShipmentFactory(
        status="delivered", dispatched_at=now - timedelta(hours=30), delivered_at=now
    )
    provider = on_time.provider
    ShipmentFactory(
        provider=provider,
        status="delivered",
        dispatched_at=now - timedelta(hours=100),
        delivered_at=now,
    )
    ShipmentFactory(provider=provider, status="exception")
    ShipmentFactory(provider=provider, status="dispatch_failed")
    ShipmentFactory(provider=provider, status="in_transit")
    StockLevelFactory.create_batch(3, on_hand=1, low_stock_threshold=5)
    return provider


def test_dashboard_numbers_link_to_lists_with_the_same_numbers(ops_client, dashboard_data):
    response = ops_client.get("/ops/dashboard/")
    figures = response.context["figures"]
    links = response.context["links"]
    body = response.content.decode()

    assert _result_count(ops_client, links["orders"]) == figures["orders_total"]
    assert _result_count(ops_client, links["backlog"]) == figures["backlog_total"]
    assert _result_count(ops_client, links["stock_alerts"]) == figures["stock_alerts_count"] == 3
    for link in (links["orders"], links["backlog"], links["stock_alerts"]):
        assert f'href="{link.replace("&", "&amp;")}"' in body

    backlog_links = _links(body, "/admin/orders/order/?status__exact=")
    assert [_result_count(ops_client, url) for url in backlog_links] == [
        n for _, n in figures["backlog"]
    ]
    exception_links = _links(body, "status__in=exception")
    assert [_result_count(ops_client, url) for url in exception_links] == [
        n for _, n in figures["exceptions"]
    ]
    assert [row["delivered"] for row in response.context["on_time"]] == [2]
    assert _result_count(ops_client, response.context["on_time"][0]["url"]) == 2


def test_dashboard_shows_the_sample_size_next_to_each_percentage(ops_client, dashboard_data):
    body = ops_client.get("/ops/dashboard/").content.decode()

    code = dashboard_data.code
    assert f"{code} (n=2)" in body  # the chart's label
    assert "50.0 % of 2" in body  # the table under it


def test_dashboard_date_range_counts_orders_and_deliveries_in_it(ops_client):
    tz = timezone.get_current_timezone()
    start = timezone.localdate() - timedelta(days=60)
    end = start + timedelta(days=9)

    def at(day, hour=12):
        return datetime.combine(day, time(hour), tzinfo=tz)

    inside = [start, start + timedelta(days=4), end]
    for day in [*inside, start - timedelta(days=1), end + timedelta(days=1)]:
        order = OrderFactory()
        Order.objects.filter(pk=order.pk).update(created_at=at(day))
    shipped = ShipmentFactory(
        status="delivered", dispatched_at=at(start), delivered_at=at(start, hour=20)
    )
    ShipmentFactory(  # delivered after the range: not in it
        provider=shipped.provider,
        status="delivered",
        dispatched_at=at(end),
        delivered_at=at(end + timedelta(days=3)),
    )

    response = ops_client.get("/ops/dashboard/", {"start": start, "end": end})

    assert response.status_code == 200
    figures = response.context["figures"]
    assert figures["orders_total"] == len(inside)
    assert len(figures["days"]) == 10
    assert _result_count(ops_client, response.context["links"]["orders"]) == len(inside)
    assert [row["delivered"] for row in response.context["on_time"]] == [1]
    assert _result_count(ops_client, response.context["on_time"][0]["url"]) == 1
    assert f"{start:%-d %b %Y} to {end:%-d %b %Y}" in response.content.decode()


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"start": "2026-03-10", "end": "2026-03-01"}, "must start on or before its last day"),
        ({"start": "2026-03-10"}, "Give both dates of the range, or neither."),
        ({"start": "2026-01-01", "end": "2026-12-31"}, "at most 92 days"),
        ({"start": "yesterday", "end": "2026-03-01"}, "Enter a valid date."),
        ({"start": "99999-01-01", "end": "2026-03-01"}, "Enter a valid date."),
    ],
)
def test_dashboard_refuses_a_range_it_cannot_use_with_a_form_error(ops_client, params, message):
    response = ops_client.get("/ops/dashboard/", params)

    assert response.status_code == 400
    assert message in unescape(response.content.decode())
    assert response.context["figures"]["ranged"] is False  # the default window instead
