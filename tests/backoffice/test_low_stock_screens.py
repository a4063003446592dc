"""Issue 17 item 5 / issue 16 item 16: every screen counts low stock by the one rule."""

import pytest
from django.core.cache import cache
from django.db.models import F

from inventory.models import LowStockAlert, StockLevel
from inventory.services.stock import (
    StockChange,
    stock_adjust,
    stock_apply,
    stock_thresholds_set,
)
from tests.inventory.helpers import product, stock, warehouses

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_password_hashing")]

# (sku, on hand, reserved, threshold): rows where "on hand <= threshold" and
# "available <= threshold" disagree, the boundary, no threshold, and a cleared one.
LEVELS = [
    ("RESERVED-AWAY", 10, 8, 5),  # available 2: low; on hand 10 is above 5
    ("SHORT", 4, 0, 5),  # low either way
    ("AT-THRESHOLD", 5, 0, 5),  # low: at the threshold counts
    ("PLENTY", 20, 0, 5),  # not low
    ("PLENTY-RESERVED", 20, 10, 5),  # available 10: not low
    ("NO-THRESHOLD", 3, 0, 0),  # not watched
    ("EMPTY-NO-THRESHOLD", 0, 0, 0),  # 0 <= 0 on hand, but not watched
    ("EMPTY-NO-THRESHOLD-2", 0, 0, 0),
]
EXPECTED_LOW = sum(1 for _, on_hand, reserved, t in LEVELS if t > 0 and on_hand - reserved <= t)


@pytest.fixture
def low_stock_data():
    wh = warehouses("wh-a")[0]
    for sku, on_hand, reserved, threshold in LEVELS:
        item = product(sku)
        if on_hand:
            stock(item, wh, on_hand)
        else:
            stock(item, wh, 1)
            stock_adjust(product=item, warehouse=wh, delta=-1, reason="damaged")
        if reserved:
            stock_apply(
                changes=[
                    StockChange(
                        product_id=item.pk,
                        warehouse_id=wh.pk,
                        reserved_delta=reserved,
                        type="reservation",
                    )
                ]
            )
        stock_thresholds_set(thresholds={(item.pk, wh.pk): threshold})
    # A level that was low with a threshold that has since been cleared.
    cleared = product("CLEARED")
    stock(cleared, wh, 2)
    stock_thresholds_set(thresholds={(cleared.pk, wh.pk): 5})
    stock_thresholds_set(thresholds={(cleared.pk, wh.pk): 0})
    cache.clear()  # the dashboard's figures are cached for a minute
    return wh


def test_dashboard_queue_stock_list_and_admin_count_the_same_low_stock(
    client, manager, low_stock_data
):
    client.force_login(manager)
    # The data set tells the rules apart: the on-hand rules the screens used before
    # (queue and dashboard; stock list without the threshold check) count otherwise.
    assert EXPECTED_LOW == 3
    on_hand_rule = StockLevel.objects.filter(
        low_stock_threshold__gt=0, on_hand__lte=F("low_stock_threshold")
    )
    assert on_hand_rule.count() == 2
    assert StockLevel.objects.filter(on_hand__lte=F("low_stock_threshold")).count() == 4

    dashboard = client.get("/ops/dashboard/").context["figures"]["stock_alerts_count"]
    queue = client.get("/ops/exceptions/?kind=stock").context["queue"]["stock"]["count"]
    stock_list = client.get("/warehouse/stock/?low=1").context["page_obj"].paginator.count
    admin_levels = client.get("/admin/inventory/stocklevel/?low=1").context["cl"].result_count
    admin_alerts = (
        client.get("/admin/inventory/lowstockalert/?resolved_at__isempty=1")
        .context["cl"]
        .result_count
    )

    assert dashboard == queue == stock_list == admin_levels == admin_alerts == EXPECTED_LOW
    assert LowStockAlert.objects.filter(resolved_at__isnull=True).count() == EXPECTED_LOW
