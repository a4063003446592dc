"""orders/sql.py's bulk loading (the demo seeder's path) writes what the ORM writes."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.db import connection

from orders.models import Hold, Order, OrderEvent, OrderLine
from orders.sql import (
    HoldRow,
    OrderEventRow,
    OrderLineRow,
    OrderRow,
    order_ids_and_numbers_draw,
    order_line_ids_draw,
    orders_bulk_copy,
)
from tests.core.bulk_twins import assert_same_row, orm_twin
from tests.inventory.factories import ProductFactory
from tests.logistics.factories import ServiceLevelFactory
from tests.orders.factories import ChannelFactory

pytestmark = pytest.mark.django_db

AT = dt.datetime(2026, 3, 4, 5, 6, 7, tzinfo=dt.UTC)


def _rows(
    order_id: int, number: int, line_id: int
) -> tuple[OrderRow, OrderLineRow, OrderEventRow, HoldRow]:
    channel, level, product = ChannelFactory(), ServiceLevelFactory(), ProductFactory()
    order = OrderRow(
        id=order_id, created_at=AT, updated_at=AT + dt.timedelta(hours=1),
        number=f"CS-{number:06d}", channel_id=channel.pk, external_reference=f"BULK-{number}",
        status=Order.Status.ON_HOLD, currency="EUR", total_amount="39.90", priority=1,
        customer_email="ada@example.com", customer_name="Ada Lovelace",
        customer_phone="+31 6 1234 5678", customer_phone_key="31612345678",
        shipping_name="Ada Lovelace", shipping_line1="Kerkstraat 1", shipping_line2="Apt 2",
        shipping_city="Utrecht", shipping_postcode="3511 AB", shipping_postcode_key="3511AB",
        shipping_region="Utrecht", shipping_country="NL", service_level_id=level.pk,
        placed_at=AT, cancelled_at=None, ship_by=dt.date(2026, 3, 4),
        promised_delivery_date=dt.date(2026, 3, 6),
    )  # fmt: skip
    line = OrderLineRow(
        id=line_id, order_id=order_id, line_number=1, product_id=product.pk, sku=product.sku,
        quantity=2, unit_price="19.95", quantity_shipped=1, quantity_delivered=1,
        quantity_returned=0,
    )  # fmt: skip
    event = OrderEventRow(
        order_id=order_id, type=OrderEvent.Type.HOLD_PLACED,
        parameters=json.dumps({"reason": "manual", "note": "checking"}), user_id=None,
        actor="system", created_at=AT,
    )  # fmt: skip
    hold = HoldRow(
        created_at=AT, updated_at=AT, order_id=order_id, reason=Hold.Reason.MANUAL,
        note="checking", owner_id=None, due_at=AT + dt.timedelta(days=1), placed_by_id=None,
        released_at=None, released_by_id=None, release_note="",
    )  # fmt: skip
    return order, line, event, hold


def test_orders_bulk_copy_writes_the_rows_the_orm_writes():
    with connection.cursor() as cursor:
        ((order_id, number),) = order_ids_and_numbers_draw(cursor, count=1)
        (line_id,) = order_line_ids_draw(cursor, count=1)
        order, line, event, hold = _rows(order_id, number, line_id)
        orders_bulk_copy(cursor, orders=[order], lines=[line], events=[event], holds=[hold])

    twin = orm_twin(Order, order, number="CS-TWIN", external_reference="TWIN")
    line_twin = orm_twin(OrderLine, line, order_id=twin.pk)
    event_twin = orm_twin(OrderEvent, event, order_id=twin.pk)
    hold_twin = orm_twin(Hold, hold, order_id=twin.pk)

    # The ORM stamps its own created_at/updated_at; COPY keeps the generated history's.
    copied = assert_same_row(
        Order, order_id, twin.pk,
        ignore=["number", "external_reference", "created_at", "updated_at"],
    )  # fmt: skip
    assert (copied["created_at"], copied["updated_at"]) == (order.created_at, order.updated_at)
    assert_same_row(OrderLine, line_id, line_twin.pk, ignore=["order_id"])
    copied_event = OrderEvent.objects.get(order_id=order_id)
    assert_same_row(OrderEvent, copied_event.pk, event_twin.pk, ignore=["order_id", "created_at"])
    assert copied_event.created_at == AT
    copied_hold = Hold.objects.get(order_id=order_id)
    assert_same_row(
        Hold, copied_hold.pk, hold_twin.pk, ignore=["order_id", "created_at", "updated_at"]
    )
    assert (copied_hold.created_at, copied_hold.updated_at) == (AT, AT)


def test_drawn_order_ids_and_numbers_are_never_handed_out_again():
    with connection.cursor() as cursor:
        drawn = order_ids_and_numbers_draw(cursor, count=3)
        again = order_ids_and_numbers_draw(cursor, count=1)
    ids, numbers = zip(*drawn, strict=True)
    assert len(set(ids)) == len(set(numbers)) == 3
    assert again[0][0] > max(ids)
    assert again[0][1] > max(numbers)


def test_order_ship_to_fragment_is_the_orders_shipping_address():
    from orders.sql import ORDER_SHIP_TO
    from tests.orders.factories import OrderFactory

    order = OrderFactory(shipping_line2="Apt 2", shipping_region="Utrecht")
    with connection.cursor() as cursor:
        statement = f"SELECT number, ship_to FROM ({ORDER_SHIP_TO}) o WHERE o.id = %s"  # noqa: S608
        cursor.execute(statement, [order.pk])
        number, ship_to = cursor.fetchone()
    assert number == order.number
    assert (json.loads(ship_to) if isinstance(ship_to, str) else ship_to) == {
        "name": order.shipping_name,
        "line1": order.shipping_line1,
        "line2": order.shipping_line2,
        "city": order.shipping_city,
        "postcode": order.shipping_postcode,
        "region": order.shipping_region,
        "country": order.shipping_country,
    }
