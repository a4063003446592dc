"""orders/sql.py, shipment progress section: each statement agrees with its ORM equivalent."""

import pytest
from django.db.models import F

from orders import sql
from orders.models import OrderLine
from tests.orders.factories import OrderFactory, OrderLineFactory

pytestmark = pytest.mark.django_db


def _lines(order, counts):
    return [
        OrderLineFactory(
            order=order,
            line_number=number,
            quantity=5,
            quantity_shipped=shipped,
            quantity_delivered=delivered,
        )
        for number, (shipped, delivered) in enumerate(counts, start=1)
    ]


def _counters(lines):
    return [
        OrderLine.objects.values_list("quantity_shipped", "quantity_delivered").get(pk=line.pk)
        for line in lines
    ]


def test_order_lines_progress_add_matches_the_orm_update():
    counts = [(0, 0), (2, 1), (5, 0)]
    deltas = [(3, 0), (0, 1), (0, 5)]
    by_sql = _lines(OrderFactory(), counts)
    by_orm = _lines(OrderFactory(), counts)
    untouched = OrderLineFactory(order=by_sql[0].order, line_number=9, quantity_shipped=1)

    # Unsorted on purpose: the statement sorts (lock order); the result must not depend on it.
    sql.order_lines_progress_add(
        deltas={line.pk: delta for line, delta in reversed(list(zip(by_sql, deltas, strict=True)))}
    )
    for line, (shipped, delivered) in zip(by_orm, deltas, strict=True):
        OrderLine.objects.filter(pk=line.pk).update(
            quantity_shipped=F("quantity_shipped") + shipped,
            quantity_delivered=F("quantity_delivered") + delivered,
        )

    assert _counters(by_sql) == _counters(by_orm) == [(3, 0), (2, 2), (5, 5)]
    assert _counters([untouched]) == [(1, 0)]


def test_order_lines_progress_add_with_nothing_to_add_sends_no_statement(
    django_assert_num_queries,
):
    with django_assert_num_queries(0):
        sql.order_lines_progress_add(deltas={})
