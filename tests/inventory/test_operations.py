"""Counts, receiving (ASNs) and LSP snapshot reconciliation."""

import pytest
from django.core.management import call_command

from core.errors import Conflict, NotFound, ValidationFailed
from inventory import error_codes
from inventory.errors import InsufficientStock, StockLevelLocked
from inventory.models import (
    InboundReceipt,
    StockCount,
    StockLevel,
    StockMovement,
    StockSnapshot,
    Warehouse,
)
from inventory.selectors import snapshot_differences
from inventory.services.counts import stock_count_complete, stock_count_record, stock_count_start
from inventory.services.receiving import inbound_close, inbound_receive
from inventory.services.reconciliation import (
    snapshot_accept,
    snapshot_record,
    snapshot_rows_from_csv,
)
from inventory.services.stock import stock_adjust
from tests.inventory.factories import WarehouseFactory
from tests.inventory.helpers import asn, product, stock, warehouses
from tests.logistics.factories import ProviderFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def shirt():
    return product("SHIRT")


@pytest.fixture
def wh():
    return warehouses("wh-a")[0]


@pytest.fixture
def lsp_wh():
    return WarehouseFactory(code="lsp-1", kind=Warehouse.Kind.LSP, provider=ProviderFactory())


def _on_hand(p, w) -> int:
    return StockLevel.objects.get(product=p, warehouse=w).on_hand


# --- counts -------------------------------------------------------------------


def test_count_sets_on_hand_and_records_difference(shirt, wh, warehouse_user):
    stock(shirt, wh, 10)

    count = stock_count_record(product=shirt, warehouse=wh, counted=8, user=warehouse_user)

    assert (count.counted, count.difference, count.status) == (8, -2, "completed")
    assert _on_hand(shirt, wh) == 8
    assert StockMovement.objects.get(type="count").on_hand_delta == -2
    call_command("verify_stock_ledger")


def test_count_on_a_locked_sku_is_refused(shirt, wh):
    stock(shirt, wh, 10)
    stock_count_start(product=shirt, warehouse=wh)

    with pytest.raises(StockLevelLocked, match="locked by a count in progress") as exc:
        stock_count_record(product=shirt, warehouse=wh, counted=9)

    assert exc.value.code == error_codes.STOCK_LEVEL_LOCKED
    assert _on_hand(shirt, wh) == 10


def test_adjustment_during_open_count_is_refused(shirt, wh):
    stock(shirt, wh, 10)
    stock_count_start(product=shirt, warehouse=wh)

    with pytest.raises(StockLevelLocked):
        stock_adjust(product=shirt, warehouse=wh, delta=-1, reason="damaged")


def test_completed_count_cannot_be_completed_again(shirt, wh):
    stock(shirt, wh, 3)
    count = stock_count_record(product=shirt, warehouse=wh, counted=3)

    with pytest.raises(Conflict, match="completed"):
        stock_count_complete(count=count, counted=1)


@pytest.mark.parametrize("counted", [-1, "7", None])
def test_count_refuses_bad_quantity(shirt, wh, counted):
    with pytest.raises(ValidationFailed, match="zero or more"):
        stock_count_record(product=shirt, warehouse=wh, counted=counted)

    assert not StockCount.objects.exists()


def test_count_below_reserved_is_refused_with_clear_message(shirt, wh):
    stock(shirt, wh, 5)
    StockLevel.objects.update(reserved=4)
    count = stock_count_start(product=shirt, warehouse=wh)

    with pytest.raises(InsufficientStock, match="below the 4 reserved"):
        stock_count_complete(count=count, counted=2)

    count.refresh_from_db()
    assert count.status == StockCount.Status.OPEN


# --- receiving ----------------------------------------------------------------


def test_receiving_by_barcode_and_sku_puts_stock_away_and_reports_discrepancies(shirt, wh):
    hat = product("HAT")
    inbound = asn(warehouse=wh, reference="ASN-1", lines=[("SHIRT", 5), ("HAT", 2)])

    inbound_receive(inbound=inbound, code=shirt.barcode, quantity=3, source="scan")
    inbound_receive(inbound=inbound, code="SHIRT", quantity=1)
    sock = product("SOCK")
    inbound_receive(inbound=inbound, code="SOCK", quantity=1)  # not on the ASN
    discrepancies = inbound_close(inbound=inbound)

    assert _on_hand(shirt, wh) == 4
    assert _on_hand(sock, wh) == 1
    assert not StockLevel.objects.filter(product=hat, on_hand__gt=0).exists()
    assert sorted(discrepancies, key=lambda d: d["sku"]) == [
        {"sku": "HAT", "expected": 2, "received": 0, "difference": -2},
        {"sku": "SHIRT", "expected": 5, "received": 4, "difference": -1},
        {"sku": "SOCK", "expected": 0, "received": 1, "difference": 1},
    ]
    assert set(StockMovement.objects.values_list("reference", flat=True)) == {
        f"asn:{inbound.number}"
    }


def test_receiving_unknown_barcode_is_refused(wh):
    inbound = asn(warehouse=wh, reference="ASN-1", lines=[(product("SHIRT").sku, 1)])

    with pytest.raises(NotFound, match="No product has the barcode or SKU 'NOPE'") as exc:
        inbound_receive(inbound=inbound, code="NOPE")

    assert exc.value.code == error_codes.UNKNOWN_SKU


def test_receiving_on_closed_inbound_is_refused(shirt, wh):
    inbound = asn(warehouse=wh, reference="ASN-1", lines=[("SHIRT", 1)])
    inbound_close(inbound=inbound)

    with pytest.raises(Conflict, match="is received"):
        inbound_receive(inbound=inbound, code="SHIRT")


def test_lsp_receipt_event_is_applied_once(shirt, lsp_wh):
    inbound = asn(warehouse=lsp_wh, reference="LSP-IN-7", lines=[("SHIRT", 4)])

    for _ in range(2):
        inbound_receive(
            inbound=inbound, code="SHIRT", quantity=4, source="lsp", external_id="ev1:0"
        )

    assert _on_hand(shirt, lsp_wh) == 4
    assert InboundReceipt.objects.get().source == "lsp"


# --- LSP reconciliation -------------------------------------------------------


def test_snapshot_shows_differences_and_accept_adjusts_with_reason(shirt, lsp_wh, manager):
    hat = product("HAT")
    stock(shirt, lsp_wh, 10)
    stock(hat, lsp_wh, 3)
    rows = snapshot_rows_from_csv(text="sku,on_hand\nSHIRT,8\nHAT,3\nNEW,1\n")
    product("NEW")

    snapshot = snapshot_record(warehouse=lsp_wh, rows=rows)
    differences = snapshot_differences(snapshot=snapshot)
    applied = snapshot_accept(snapshot=snapshot, user=manager)

    assert [(d["sku"], d["difference"]) for d in differences] == [("SHIRT", -2), ("NEW", 1)]
    assert sorted(applied, key=lambda d: d["sku"]) == [
        {"sku": "NEW", "difference": 1},
        {"sku": "SHIRT", "difference": -2},
    ]
    assert _on_hand(shirt, lsp_wh) == 8
    reasons = set(StockMovement.objects.filter(type="adjustment").values_list("reason", flat=True))
    assert reasons == {"lsp_reconciliation"}
    snapshot.refresh_from_db()
    assert snapshot.status == StockSnapshot.Status.ACCEPTED
    call_command("verify_stock_ledger")


def test_snapshot_keeps_bad_rows_as_errors(shirt, lsp_wh):
    rows = snapshot_rows_from_csv(text="sku,on_hand\nSHIRT,x\nGHOST,1\nSHIRT,-1\n")

    snapshot = snapshot_record(warehouse=lsp_wh, rows=rows)

    assert [e["row"] for e in snapshot.errors] == [1, 2, 3]
    assert not snapshot.lines.exists()


def test_snapshot_accept_is_all_or_nothing_when_a_sku_would_fall_below_reserved(shirt, lsp_wh):
    hat = product("HAT")
    stock(shirt, lsp_wh, 10)
    stock(hat, lsp_wh, 5)
    StockLevel.objects.filter(product=hat).update(reserved=4)
    snapshot = snapshot_record(
        warehouse=lsp_wh, rows=[{"sku": "SHIRT", "on_hand": 9}, {"sku": "HAT", "on_hand": 1}]
    )

    with pytest.raises(InsufficientStock, match="HAT"):
        snapshot_accept(snapshot=snapshot)

    assert _on_hand(shirt, lsp_wh) == 10


def test_snapshot_for_own_warehouse_is_refused(wh):
    with pytest.raises(ValidationFailed, match="not LSP-operated"):
        snapshot_record(warehouse=wh, rows=[])


def test_snapshot_cannot_be_accepted_twice(shirt, lsp_wh):
    snapshot = snapshot_record(warehouse=lsp_wh, rows=[{"sku": "SHIRT", "on_hand": 1}])
    snapshot_accept(snapshot=snapshot)

    with pytest.raises(Conflict, match="already accepted"):
        snapshot_accept(snapshot=snapshot)


def test_count_below_reserved_backorders_the_newest_order(shirt, wh):
    import datetime as dt

    from django.utils import timezone

    from orders.models import Order
    from orders.services.allocation import order_allocate
    from tests.inventory.helpers import channel_with_warehouses, order_with_lines

    channel = channel_with_warehouses("webshop", [wh])
    stock(shirt, wh, 5)
    older = order_with_lines(
        channel, [(shirt, 2)], placed_at=timezone.now() - dt.timedelta(hours=1)
    )
    newer = order_with_lines(channel, [(shirt, 2)])
    order_allocate(order=older)
    order_allocate(order=newer)

    count = stock_count_record(product=shirt, warehouse=wh, counted=2)

    older.refresh_from_db()
    newer.refresh_from_db()
    assert (older.status, newer.status) == (Order.Status.ALLOCATED, Order.Status.BACKORDERED)
    level = StockLevel.objects.get(product=shirt, warehouse=wh)
    assert (level.on_hand, level.reserved, count.difference) == (2, 2, -3)
    assert newer.events.filter(type="deallocated").exists()
    call_command("verify_stock_ledger")
