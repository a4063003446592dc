"""The exception queue's promise_at_risk, and the promise on the desk's order page."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.cache import cache
from django.db import connection
from django.utils import timezone

from backoffice.selectors import exception_queue
from backoffice.selectors.ops import promise_at_risk_orders
from inventory.models import Allocation
from logistics.models import Shipment
from orders.models import Order
from tests.inventory.factories import WarehouseFactory
from tests.logistics.factories import ShipmentFactory
from tests.orders.factories import OrderFactory, OrderLineFactory

pytestmark = pytest.mark.django_db

UTC = dt.UTC
MONDAY = dt.date(2026, 12, 7)
KIND = "promise_at_risk"


def _utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _margin(settings):
    settings.PROMISE_AT_RISK_MINUTES = 60


@pytest.fixture
def berlin():
    # Cut-off 15:00 CET = 14:00 UTC in December: at risk from 13:00 UTC.
    return WarehouseFactory(code="ber", timezone="Europe/Berlin", cutoff_time=dt.time(15, 0))


def _allocated(site, *, ship_by=MONDAY, status=Order.Status.ALLOCATED, **kwargs) -> Order:
    order = OrderFactory(
        status=status,
        ship_by=ship_by,
        promised_delivery_date=ship_by + dt.timedelta(days=2),
        **kwargs,
    )
    line = OrderLineFactory(order=order, line_number=1)
    Allocation.objects.create(order_line=line, warehouse=site, quantity=1)
    return order


def _queued(now: dt.datetime) -> list[str]:
    queue = exception_queue(kind=KIND, now=now)
    return [item.order.number for item in queue[KIND]["items"]]


def test_an_order_enters_the_queue_an_hour_before_its_site_s_cutoff(berlin):
    order = _allocated(berlin)
    assert _queued(_utc(2026, 12, 7, 12, 59)) == []
    assert _queued(_utc(2026, 12, 7, 13, 0)) == [order.number]
    assert _queued(_utc(2026, 12, 7, 18, 0)) == [order.number]


def test_an_order_whose_ship_by_has_passed_is_at_risk_all_day(berlin):
    order = _allocated(berlin, ship_by=MONDAY - dt.timedelta(days=3))
    assert _queued(_utc(2026, 12, 7, 6, 0)) == [order.number]


def test_a_later_ship_by_is_not_at_risk_yet(berlin):
    _allocated(berlin, ship_by=MONDAY + dt.timedelta(days=1))
    assert _queued(_utc(2026, 12, 7, 20, 0)) == []


def test_the_site_s_own_time_zone_decides():
    # New York, cut-off 17:00 EST = 22:00 UTC: at risk from 21:00 UTC; a Berlin site
    # would have been at risk since 13:00 UTC.
    site = WarehouseFactory(timezone="America/New_York", cutoff_time=dt.time(17, 0))
    order = _allocated(site)
    assert _queued(_utc(2026, 12, 7, 20, 59)) == []
    assert _queued(_utc(2026, 12, 7, 21, 0)) == [order.number]


def test_a_margin_setting_moves_the_moment(berlin, settings):
    settings.PROMISE_AT_RISK_MINUTES = 180
    order = _allocated(berlin)
    assert _queued(_utc(2026, 12, 7, 10, 59)) == []
    assert _queued(_utc(2026, 12, 7, 11, 0)) == [order.number]


@pytest.mark.parametrize(
    ("shipment_status", "queued"),
    [
        (Shipment.Status.PENDING, True),
        (Shipment.Status.DISPATCH_FAILED, True),
        (Shipment.Status.DISPATCHED, False),
        (Shipment.Status.IN_TRANSIT, False),
    ],
)
def test_in_fulfilment_only_while_a_shipment_waits_for_its_provider(
    berlin, shipment_status, queued
):
    order = _allocated(berlin, status=Order.Status.IN_FULFILMENT)
    ShipmentFactory(order=order, warehouse=berlin, status=shipment_status)
    assert (_queued(_utc(2026, 12, 7, 13, 30)) == [order.number]) is queued


@pytest.mark.parametrize(
    "status", [Order.Status.BACKORDERED, Order.Status.ON_HOLD, Order.Status.ALLOCATED]
)
def test_open_statuses_are_watched(berlin, status):
    order = _allocated(berlin, status=status)
    assert _queued(_utc(2026, 12, 7, 13, 30)) == [order.number]


@pytest.mark.parametrize(
    "status", [Order.Status.SHIPPED, Order.Status.CANCELLED, Order.Status.RECEIVED]
)
def test_orders_that_left_or_never_will_are_not(berlin, status):
    _allocated(berlin, status=status)
    assert _queued(_utc(2026, 12, 7, 13, 30)) == []


def test_a_waiting_shipment_s_site_counts_before_the_allocations():
    # The shipment waits at a New York site; the allocation is at Berlin's. The shipment
    # names the site shown and judged first, but either site past its moment is a risk.
    ny = WarehouseFactory(code="nyc", timezone="America/New_York", cutoff_time=dt.time(17, 0))
    order = OrderFactory(
        status=Order.Status.IN_FULFILMENT,
        ship_by=MONDAY,
        promised_delivery_date=MONDAY + dt.timedelta(days=2),
    )
    ShipmentFactory(order=order, warehouse=ny, status=Shipment.Status.PENDING)
    assert _queued(_utc(2026, 12, 7, 13, 30)) == []
    items = exception_queue(kind=KIND, now=_utc(2026, 12, 7, 21, 30))[KIND]["items"]
    assert [item.order.number for item in items] == [order.number]
    assert "nyc" in items[0].subject


def test_an_order_with_no_site_yet_is_judged_by_the_default_calendar():
    order = OrderFactory(
        status=Order.Status.BACKORDERED,
        ship_by=MONDAY,
        promised_delivery_date=MONDAY + dt.timedelta(days=2),
    )
    assert _queued(_utc(2026, 12, 7, 12, 59)) == []
    assert _queued(_utc(2026, 12, 7, 13, 0)) == [order.number]


def test_the_item_names_the_order_the_site_and_the_ship_by(berlin):
    order = _allocated(berlin)
    (item,) = exception_queue(kind=KIND, now=_utc(2026, 12, 7, 13, 30))[KIND]["items"]
    assert item.order.number == order.number
    assert item.subject == "Ship by Mon 7 Dec from ber"
    assert item.due_at == _utc(2026, 12, 7, 14, 0)
    assert item.since == _utc(2026, 12, 7, 13, 0)


def test_the_queue_reads_a_constant_number_of_queries(berlin, django_assert_max_num_queries):
    ny = WarehouseFactory(timezone="America/New_York")
    for n in range(12):
        order = _allocated(berlin if n % 2 else ny, ship_by=MONDAY - dt.timedelta(days=n % 3))
        if n % 4 == 0:
            Order.objects.filter(pk=order.pk).update(status=Order.Status.IN_FULFILMENT)
            ShipmentFactory(order=order, warehouse=berlin, status=Shipment.Status.PENDING)
    # Count + items, and the promise tables once (four queries) when not yet cached.
    with django_assert_max_num_queries(6):
        queue = exception_queue(kind=KIND, now=_utc(2026, 12, 8, 0, 0))
    assert queue[KIND]["count"] == 12


def test_the_queue_reads_the_partial_index(berlin):
    _allocated(berlin)
    sql, params = promise_at_risk_orders(now=_utc(2026, 12, 7, 13, 30)).query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "order_promise_open" in plan


def test_the_queue_page_shows_the_order(client, manager, berlin):
    order = _allocated(berlin, ship_by=timezone.now().date() - dt.timedelta(days=2))
    cache.clear()
    client.force_login(manager)
    response = client.get("/ops/exceptions/", {"kind": KIND})
    assert response.status_code == 200
    body = response.content.decode()
    assert order.number in body
    assert "from ber" in body


# --- The desk's order page -----------------------------------------------------------


def test_the_order_page_tells_the_customer_the_promise(client, agent, berlin):
    order = _allocated(berlin, status=Order.Status.IN_FULFILMENT)
    ShipmentFactory(
        order=order,
        warehouse=berlin,
        status=Shipment.Status.PENDING,
        ship_by=MONDAY,
        promised_delivery_date=MONDAY + dt.timedelta(days=2),
    )
    client.force_login(agent)
    response = client.get(f"/desk/orders/{order.number}/")
    assert response.status_code == 200
    summary = response.context["summary"]
    assert summary.promise_text == (
        "Ships by Monday 7 December 2026, arrives by Wednesday 9 December 2026."
    )
    assert summary.expected_delivery == MONDAY + dt.timedelta(days=2)
    body = response.content.decode()
    assert 'id="promise"' in body
    assert "ships by Mon 7 Dec, arrives by Wed 9 Dec" in body


def test_a_shipped_order_page_tells_only_the_arrival(client, agent, berlin):
    order = _allocated(berlin, status=Order.Status.SHIPPED)
    client.force_login(agent)
    summary = client.get(f"/desk/orders/{order.number}/").context["summary"]
    assert summary.promise_text == "Arrives by Wednesday 9 December 2026."


def test_an_order_without_a_promise_shows_none(client, agent):
    order = OrderFactory(status=Order.Status.BACKORDERED)
    client.force_login(agent)
    response = client.get(f"/desk/orders/{order.number}/")
    assert response.context["summary"].promise_text == ""
    assert 'id="promise"' not in response.content.decode()
