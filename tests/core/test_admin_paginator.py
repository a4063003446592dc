from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from core import admin_paginator
from core.admin_paginator import EstimatedCountPaginator
from orders.models import Order

pytestmark = pytest.mark.django_db


@pytest.fixture
def orders_500(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    call_command("seed_demo", orders=500, workers=1, stdout=StringIO())
    return Order.objects.count()


def test_unfiltered_big_table_is_counted_from_the_planner_estimate(orders_500, monkeypatch):
    monkeypatch.setattr(admin_paginator, "COUNT_CAP", 100)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE orders_order")
    paginator = EstimatedCountPaginator(Order.objects.order_by("-id"), 50)
    with CaptureQueriesContext(connection) as captured:
        count = paginator.count
    assert not any("count(" in q["sql"].lower() for q in captured.captured_queries)
    assert abs(count - orders_500) <= orders_500 * 0.1


def test_filtered_list_count_stops_at_the_cap(orders_500, monkeypatch):
    monkeypatch.setattr(admin_paginator, "COUNT_CAP", 100)
    paginator = EstimatedCountPaginator(Order.objects.filter(total_amount__gte=0), 50)
    with CaptureQueriesContext(connection) as captured:
        count = paginator.count
    assert count == 101
    assert all("LIMIT" in q["sql"] for q in captured.captured_queries if "COUNT" in q["sql"])


def test_small_table_gets_an_exact_count(orders_500):
    paginator = EstimatedCountPaginator(Order.objects.filter(status="delivered"), 50)
    assert paginator.count == Order.objects.filter(status="delivered").count()


def test_never_analysed_table_falls_back_to_a_capped_count(orders_500):
    assert admin_paginator.table_row_estimate(model=Order) < admin_paginator.COUNT_CAP
    assert EstimatedCountPaginator(Order.objects.all(), 50).count == orders_500
