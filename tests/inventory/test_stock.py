"""The stock service: every change is locked, validated and written to the ledger."""

import pytest
from django.core.management import CommandError, call_command
from django.db import IntegrityError, transaction

from core.errors import ValidationFailed
from inventory import error_codes
from inventory.errors import InsufficientStock
from inventory.models import LowStockAlert, StockLevel, StockMovement
from inventory.services.stock import stock_adjust, stock_receive, stock_return
from tests.inventory.helpers import product, stock, warehouses

pytestmark = pytest.mark.django_db


@pytest.fixture
def shirt():
    return product("SHIRT")


@pytest.fixture
def wh():
    return warehouses("wh-a")[0]


def test_receive_creates_level_and_ledger_row(shirt, wh, warehouse_user):
    level = stock_receive(
        product=shirt, warehouse=wh, quantity=7, reference="asn:1", user=warehouse_user
    )

    assert (level.on_hand, level.reserved) == (7, 0)
    movement = StockMovement.objects.get()
    assert (movement.type, movement.on_hand_delta, movement.reference) == ("receipt", 7, "asn:1")
    assert movement.actor == warehouse_user


@pytest.mark.parametrize("quantity", [0, -3, 1.5, "4", True])
def test_receive_refuses_quantity_that_is_not_a_positive_whole_number(shirt, wh, quantity):
    with pytest.raises(ValidationFailed, match="greater than zero") as exc:
        stock_receive(product=shirt, warehouse=wh, quantity=quantity)

    assert exc.value.code == error_codes.INVALID_QUANTITY
    assert not StockMovement.objects.exists()


def test_adjust_refuses_zero_delta(shirt, wh):
    with pytest.raises(ValidationFailed, match="non-zero"):
        stock_adjust(product=shirt, warehouse=wh, delta=0, reason="damaged")


def test_adjust_refuses_unknown_reason(shirt, wh):
    stock(shirt, wh, 5)

    with pytest.raises(ValidationFailed, match="Unknown adjustment reason") as exc:
        stock_adjust(product=shirt, warehouse=wh, delta=-1, reason="because")

    assert exc.value.code == error_codes.INVALID_REASON


def test_adjust_down_records_reason(shirt, wh):
    stock(shirt, wh, 5)

    level = stock_adjust(product=shirt, warehouse=wh, delta=-2, reason="damaged", note="wet box")

    assert level.on_hand == 3
    movement = StockMovement.objects.get(type="adjustment")
    assert (movement.on_hand_delta, movement.reason, movement.note) == (-2, "damaged", "wet box")


def test_adjust_refuses_taking_more_than_on_hand(shirt, wh):
    stock(shirt, wh, 2)

    with pytest.raises(InsufficientStock, match="SHIRT at wh-a") as exc:
        stock_adjust(product=shirt, warehouse=wh, delta=-3, reason="lost")

    assert exc.value.code == error_codes.INSUFFICIENT_STOCK
    assert StockLevel.objects.get().on_hand == 2


def test_adjust_refuses_going_below_reserved(shirt, wh):
    stock(shirt, wh, 5)
    StockLevel.objects.update(reserved=4)  # as if allocated; ledger not the point here

    with pytest.raises(InsufficientStock, match="below the 4 reserved") as exc:
        stock_adjust(product=shirt, warehouse=wh, delta=-2, reason="lost")

    assert exc.value.code == error_codes.BELOW_RESERVED


def test_adjust_on_a_product_never_stocked_there_is_refused(shirt, wh):
    with pytest.raises(InsufficientStock):
        stock_adjust(product=shirt, warehouse=wh, delta=-1, reason="lost")


def test_database_check_refuses_reserved_above_on_hand(shirt, wh):
    stock(shirt, wh, 1)

    with pytest.raises(IntegrityError), transaction.atomic():
        StockLevel.objects.update(reserved=2)


def test_low_stock_alert_raised_and_resolved(shirt, wh):
    stock(shirt, wh, 10)
    StockLevel.objects.update(low_stock_threshold=3)

    stock_adjust(product=shirt, warehouse=wh, delta=-8, reason="damaged")
    alert = LowStockAlert.objects.get()
    assert (alert.available, alert.threshold, alert.resolved_at) == (2, 3, None)

    stock_receive(product=shirt, warehouse=wh, quantity=5)
    alert.refresh_from_db()
    assert alert.resolved_at is not None


def test_return_restocks_with_return_movement(shirt, wh):
    level = stock_return(product=shirt, warehouse=wh, quantity=2, reference="rma:9")

    assert level.on_hand == 2
    assert StockMovement.objects.get().type == "return"


def test_verify_stock_ledger_exits_non_zero_on_drift(shirt, wh, capsys):
    stock(shirt, wh, 5)
    StockLevel.objects.update(on_hand=6)  # a write that bypassed the service

    # manage.py turns CommandError into sys.exit(returncode).
    with pytest.raises(CommandError, match="drift on 1 level") as exc:
        call_command("verify_stock_ledger")

    assert exc.value.returncode == 1
    assert "DRIFT SHIRT@wh-a: level on_hand=6" in capsys.readouterr().err
