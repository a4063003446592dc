"""The desk search finds an order by whatever a customer reads out."""

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from backoffice.selectors import (
    SEARCH_LIMIT,
    desk_search,
    holds_active_placed_by,
    orders_recent,
)
from orders.models import Hold
from orders.services.holds import order_hold_place
from tests.logistics.factories import ShipmentFactory
from tests.orders.factories import OrderFactory

pytestmark = pytest.mark.django_db


def _numbers(query):
    return [hit.order.number for hit in desk_search(query=query)]


def test_finds_order_by_full_number():
    order = OrderFactory()
    OrderFactory()
    assert _numbers(order.number) == [order.number]


def test_finds_order_by_number_prefix():
    order = OrderFactory(number="CS-4242001")
    OrderFactory(number="CS-5550001")
    assert _numbers("CS-42420") == [order.number]


def test_finds_order_by_short_number_without_padding():
    order = OrderFactory(number="CS-000123")
    assert _numbers("123") == [order.number]
    assert _numbers("cs-123") == [order.number]


def test_finds_order_by_external_reference_case_insensitively():
    order = OrderFactory(external_reference="Shop-9981-ab")
    assert _numbers("SHOP-9981-AB") == [order.number]


def test_finds_order_by_email_case_insensitively():
    order = OrderFactory(customer_email="Jane.Doe@Example.com")
    OrderFactory(customer_email="john@example.com")
    assert _numbers("jane.doe@example.COM") == [order.number]


def test_finds_order_by_part_of_the_name():
    order = OrderFactory(customer_name="Margaretha Vandenbroucke")
    OrderFactory(customer_name="John Smith")
    assert _numbers("denbrou") == [order.number]


def test_finds_order_by_local_phone_number_against_international_form():
    order = OrderFactory(customer_phone="+44 7700 900123")
    OrderFactory(customer_phone="+44 7700 900999")
    assert _numbers("07700 900123") == [order.number]


def test_finds_order_by_postcode_ignoring_case_and_spaces():
    order = OrderFactory(shipping_postcode="SW1A 1AA")
    OrderFactory(shipping_postcode="EC1A 1BB")
    assert _numbers("sw1a1aa") == [order.number]


def test_finds_order_by_shipment_tracking_number():
    shipment = ShipmentFactory(tracking_number="1Z999AA10123456784")
    assert _numbers("1Z999AA10123456784") == [shipment.order.number]


def test_finds_order_by_parcel_tracking_number():
    shipment = ShipmentFactory(tracking_number="")
    shipment.parcels.create(tracking_number="PCL-0007788")
    assert _numbers("PCL-0007788") == [shipment.order.number]


def test_finds_order_by_shipment_tracking_number_in_any_case():
    shipment = ShipmentFactory(tracking_number="1Z999AA10123456784")
    ShipmentFactory(tracking_number="1Z999AA10123456799")
    assert _numbers("1z999aa10123456784") == [shipment.order.number]


def test_finds_order_by_parcel_tracking_number_in_any_case():
    shipment = ShipmentFactory(tracking_number="")
    shipment.parcels.create(tracking_number="PCL-0007788")
    assert _numbers("pcl-0007788") == [shipment.order.number]


def test_lower_case_tracking_number_on_file_is_found_by_upper_case_query():
    shipment = ShipmentFactory(tracking_number="jd014600003828061234")
    assert _numbers("JD014600003828061234") == [shipment.order.number]


def test_finds_orders_by_city_in_any_case_newest_first():
    older = OrderFactory(shipping_city="Rotterdam", placed_at=timezone.now() - timedelta(days=2))
    newer = OrderFactory(shipping_city="ROTTERDAM", placed_at=timezone.now() - timedelta(days=1))
    OrderFactory(shipping_city="Utrecht")
    assert _numbers("rotterdam") == [newer.number, older.number]
    assert desk_search(query="Rotterdam")[0].matched_by == ["city"]


def test_finds_city_of_two_words():
    order = OrderFactory(shipping_city="Den Haag")
    OrderFactory(shipping_city="Haag")
    assert _numbers("den haag") == [order.number]


def test_city_search_shows_the_newest_orders_of_a_large_city():
    now = timezone.now()
    orders = [
        OrderFactory(shipping_city="Zwolle", placed_at=now - timedelta(minutes=minutes))
        for minutes in range(SEARCH_LIMIT + 5)
    ]
    newest = [order.number for order in orders[:SEARCH_LIMIT]]
    assert _numbers("zwolle") == newest


def test_reports_which_identifier_matched():
    order = OrderFactory(customer_email="a@b.example")
    [hit] = desk_search(query="A@B.example")
    assert hit.order == order
    assert hit.matched_by == ["email"]


def test_unknown_value_finds_nothing():
    OrderFactory()
    assert _numbers("nothing-like-this") == []


def test_blank_query_runs_no_query(django_assert_num_queries):
    with django_assert_num_queries(0):
        assert desk_search(query="   ") == []


def test_search_uses_two_queries_whatever_the_input(django_assert_num_queries):
    OrderFactory(customer_name="Some Body")
    with django_assert_num_queries(2):
        desk_search(query="Some Body")


@pytest.mark.parametrize(
    ("query", "index"),
    [
        ("jane@example.com", "order_email_ci"),
        ("07700 900123", "order_phone_key"),
        ("SW1A 1AA", "order_postcode_key"),
        ("Vandenbroucke", "order_name_trgm"),
        ("1z999aa10123456784", "shipment_tracking_ci"),
        ("pcl-0007788", "parcel_tracking_ci"),
        ("amsterdam", "order_city_ci"),
        ("EXT-REF-1", "order_extref_ci"),
        ("CS-0001", "orders_order_number"),
    ],
)
def test_each_lookup_uses_its_index(query, index):
    """With sequential scans priced out, every lookup must still be answerable from an index."""
    from backoffice.selectors import desk_search_lookups

    OrderFactory()
    plans = []
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        for lookup in desk_search_lookups(query=query):
            sql, params = lookup.query.sql_with_params()
            cursor.execute("EXPLAIN " + sql, params)
            plans.append("\n".join(row[0] for row in cursor.fetchall()))
    plan = "\n".join(plans)
    assert index in plan, plan
    assert "Seq Scan" not in plan, plan


def _plan(queryset) -> str:
    """The plan with sequential scans and sorts priced out (a test table is too small to
    tell): an index must then both find the rows and hand them over in order."""
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_sort = off")
        cursor.execute("EXPLAIN " + sql, params)
        return "\n".join(row[0] for row in cursor.fetchall())


def test_city_lookup_reads_newest_first_from_its_index_without_sorting():
    from backoffice.selectors import desk_search_lookups

    OrderFactory()
    [city] = [
        lookup for lookup in desk_search_lookups(query="Amsterdam") if "city" in str(lookup.query)
    ]
    plan = _plan(city)
    assert "order_city_ci" in plan, plan
    assert "Sort" not in plan, plan


# --- The empty desk ---------------------------------------------------------------


def test_recent_orders_are_the_newest_placed_first():
    now = timezone.now()
    old = OrderFactory(placed_at=now - timedelta(days=3))
    new = OrderFactory(placed_at=now - timedelta(hours=1))
    middle = OrderFactory(placed_at=now - timedelta(days=1))
    assert orders_recent(limit=2) == [new, middle]
    assert orders_recent() == [new, middle, old]


def test_recent_orders_read_the_end_of_an_index(django_assert_num_queries):
    from orders.models import Order

    OrderFactory()
    with django_assert_num_queries(1):
        orders_recent()
    plan = _plan(Order.objects.select_related("channel").order_by("-placed_at", "-id")[:20])
    assert "order_placed" in plan, plan
    assert "Sort" not in plan, plan


def test_my_holds_are_the_active_holds_the_user_placed(agent, manager):
    mine = order_hold_place(order=OrderFactory(), reason=Hold.Reason.MANUAL, user=agent)
    released = order_hold_place(order=OrderFactory(), reason=Hold.Reason.MANUAL, user=agent)
    Hold.objects.filter(pk=released.pk).update(released_at=timezone.now())
    order_hold_place(order=OrderFactory(), reason=Hold.Reason.MANUAL, user=manager)
    assert holds_active_placed_by(user=agent) == [mine]


def test_my_holds_use_the_partial_index(agent, django_assert_num_queries):
    order_hold_place(order=OrderFactory(), reason=Hold.Reason.MANUAL, user=agent)
    with django_assert_num_queries(1):
        [hold] = holds_active_placed_by(user=agent)
        assert hold.order.channel.code
    plan = _plan(
        Hold.objects.filter(placed_by=agent, released_at__isnull=True).order_by("-created_at")
    )
    assert "hold_active_placed_by" in plan, plan
