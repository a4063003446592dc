"""The one low-stock rule: LOW_STOCK (SQL), StockLevel.is_low (Python) and the alert rows."""

import itertools

import pytest

from inventory.models import LowStockAlert, StockLevel
from inventory.services.stock import (
    StockChange,
    low_stock_alerts_sync,
    stock_adjust,
    stock_apply,
    stock_thresholds_set,
)
from tests.inventory.factories import StockLevelFactory
from tests.inventory.helpers import product, stock, warehouses

pytestmark = pytest.mark.django_db


def _reserve(level: StockLevel, quantity: int) -> None:
    stock_apply(
        changes=[
            StockChange(
                product_id=level.product_id,
                warehouse_id=level.warehouse_id,
                reserved_delta=quantity,
                type="reservation",
            )
        ]
    )


def _open_alert_keys() -> set[tuple[int, int]]:
    return set(
        LowStockAlert.objects.filter(resolved_at__isnull=True).values_list(
            "product_id", "warehouse_id"
        )
    )


def _low_keys() -> set[tuple[int, int]]:
    return set(StockLevel.objects.low().values_list("product_id", "warehouse_id"))


def test_sql_rule_and_python_rule_agree_on_every_combination():
    grid = list(itertools.product([0, 3, 5, 8], [0, 2, 5], [0, 4, 5]))
    levels = [
        StockLevelFactory(on_hand=on_hand, reserved=min(reserved, on_hand), low_stock_threshold=t)
        for on_hand, reserved, t in grid
    ]
    expected = {lv.pk for lv in levels if lv.is_low}

    assert set(StockLevel.objects.low().values_list("pk", flat=True)) == expected
    # Spelled out once more, independently of both: threshold set and available <= threshold.
    assert expected == {
        lv.pk
        for lv in levels
        if lv.low_stock_threshold > 0 and lv.on_hand - lv.reserved <= lv.low_stock_threshold
    }


def test_reservations_make_a_level_low_although_on_hand_is_above_threshold():
    shirt = product("SHIRT")
    wh = warehouses("wh-a")[0]
    stock(shirt, wh, 10)
    stock_thresholds_set(thresholds={(shirt.pk, wh.pk): 5})
    level = StockLevel.objects.get()
    assert not level.is_low
    assert not _open_alert_keys()

    _reserve(level, 6)

    level.refresh_from_db()
    assert level.on_hand > level.low_stock_threshold
    assert level.is_low
    assert _open_alert_keys() == _low_keys() == {(shirt.pk, wh.pk)}


def test_clearing_the_threshold_resolves_the_open_alert():
    shirt = product("SHIRT")
    wh = warehouses("wh-a")[0]
    stock(shirt, wh, 10)
    stock_thresholds_set(thresholds={(shirt.pk, wh.pk): 5})
    stock_adjust(product=shirt, warehouse=wh, delta=-8, reason="damaged")
    assert _open_alert_keys() == {(shirt.pk, wh.pk)}

    stock_thresholds_set(thresholds={(shirt.pk, wh.pk): 0})

    assert _open_alert_keys() == _low_keys() == set()


def test_sync_brings_alerts_in_line_after_a_bulk_load():
    shirt, cap = product("SHIRT"), product("CAP")
    wh = warehouses("wh-a")[0]
    stock(shirt, wh, 10)
    stock(cap, wh, 10)
    stock_thresholds_set(thresholds={(shirt.pk, wh.pk): 5, (cap.pk, wh.pk): 5})
    stock_adjust(product=cap, warehouse=wh, delta=-8, reason="damaged")
    # A loader that bypasses the stock service (demo and benchmark data do).
    StockLevel.objects.filter(product=shirt).update(on_hand=1)
    StockLevel.objects.filter(product=cap).update(on_hand=50)
    assert _open_alert_keys() == {(cap.pk, wh.pk)}

    raised, resolved = low_stock_alerts_sync()

    assert (raised, resolved) == (1, 1)
    assert _open_alert_keys() == _low_keys() == {(shirt.pk, wh.pk)}
    assert low_stock_alerts_sync() == (0, 0)
