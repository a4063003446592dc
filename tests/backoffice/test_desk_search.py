"""The desk search finds an order by whatever a customer reads out."""

import pytest
from django.db import connection

from backoffice.selectors import desk_search
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
        ("1Z999AA10123456784", "shipment_tracking_number"),
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
