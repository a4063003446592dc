"""Bins in the stock engine: putaway, moves, picks, on_hand drops, suggestions, the ledger check."""

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import IntegrityError, connection, transaction

from core.errors import Conflict, ValidationFailed
from inventory.bin_selectors import bin_ledger_drift, bins_for_pick, putaway_suggestion
from inventory.errors import InsufficientStock
from inventory.models import AdjustmentReason, BinMovement, BinStock, StockLevel
from inventory.services.bins import (
    BinPick,
    BinRow,
    bin_create,
    bin_move,
    bin_pick,
    bin_picks,
    bin_putaway,
    bins_import,
    bins_putaway_unbinned,
)
from inventory.services.stock import stock_adjust, stock_set_on_hand
from tests.inventory.factories import WarehouseFactory
from tests.inventory.helpers import product, stock

pytestmark = pytest.mark.django_db


@pytest.fixture
def site():
    return WarehouseFactory(code="own-1")


def _bins(site, *specs):
    return [
        bin_create(warehouse=site, code=code, zone=zone, pick_sequence=seq, max_units=limit)
        for code, zone, seq, limit in specs
    ]


def _held(bin, sku):
    row = BinStock.objects.filter(bin=bin, product=sku).first()
    return row.quantity if row else 0


def test_putaway_moves_unbinned_units_into_the_bin_and_journals_it(site):
    sku = product("BIN-1")
    stock(sku, site, 10)
    (a1,) = _bins(site, ("A-01", "A", 1, None))

    row = bin_putaway(warehouse=site, product=sku, bin=a1, quantity=6)

    assert row.quantity == 6
    assert _held(a1, sku) == 6
    movement = BinMovement.objects.get()
    assert (movement.type, movement.delta) == (BinMovement.Type.PUTAWAY, 6)
    assert bin_ledger_drift() == []


def test_putaway_refuses_more_than_the_unbinned_units(site):
    sku = product("BIN-2")
    stock(sku, site, 5)
    a1, a2 = _bins(site, ("A-01", "A", 1, None), ("A-02", "A", 2, None))
    bin_putaway(warehouse=site, product=sku, bin=a1, quantity=4)

    with pytest.raises(InsufficientStock) as refused:
        bin_putaway(warehouse=site, product=sku, bin=a2, quantity=2)

    assert refused.value.code == "unbinned_short"
    assert _held(a2, sku) == 0


def test_putaway_refuses_past_the_bins_unit_limit(site):
    sku = product("BIN-3")
    stock(sku, site, 10)
    (small,) = _bins(site, ("S-01", "S", 1, 3))

    with pytest.raises(Conflict) as refused:
        bin_putaway(warehouse=site, product=sku, bin=small, quantity=4)

    assert refused.value.code == "bin_full"


def test_putaway_refuses_another_warehouses_bin(site):
    sku = product("BIN-4")
    stock(sku, site, 10)
    other = WarehouseFactory(code="own-2")
    (foreign,) = _bins(other, ("X-01", "X", 1, None))

    with pytest.raises(ValidationFailed):
        bin_putaway(warehouse=site, product=sku, bin=foreign, quantity=1)


def test_bins_belong_to_own_sites_only(site):
    from tests.logistics.factories import ProviderFactory

    lsp = WarehouseFactory(code="lsp-1", kind="lsp", provider=ProviderFactory())

    with pytest.raises(ValidationFailed):
        bin_create(warehouse=lsp, code="L-01")


def test_move_keeps_the_total_and_refuses_more_than_the_bin_holds(site):
    sku = product("BIN-5")
    stock(sku, site, 8)
    a1, b1 = _bins(site, ("A-01", "A", 1, None), ("B-01", "B", 2, None))
    bin_putaway(warehouse=site, product=sku, bin=a1, quantity=8)

    source, target = bin_move(from_bin=a1, to_bin=b1, product=sku, quantity=5)

    assert (source.quantity, target.quantity) == (3, 5)
    with pytest.raises(InsufficientStock) as refused:
        bin_move(from_bin=a1, to_bin=b1, product=sku, quantity=4)
    assert refused.value.code == "bin_short"
    assert (_held(a1, sku), _held(b1, sku)) == (3, 5)
    assert bin_ledger_drift() == []


def test_pick_takes_from_the_bin_and_leaves_on_hand_to_the_shipment(site):
    sku = product("BIN-6")
    stock(sku, site, 5)
    (a1,) = _bins(site, ("A-01", "A", 1, None))
    bin_putaway(warehouse=site, product=sku, bin=a1, quantity=5)

    bin_pick(bin=a1, product=sku, quantity=2, reference="shipment:1")

    assert _held(a1, sku) == 3
    assert StockLevel.objects.get(product=sku, warehouse=site).on_hand == 5
    # The shipment's on_hand drop is covered by the picked (unbinned) units.
    stock_adjust(product=sku, warehouse=site, delta=-2, reason=AdjustmentReason.CORRECTION)
    assert _held(a1, sku) == 3
    assert not BinMovement.objects.filter(type=BinMovement.Type.REMOVAL).exists()


def test_picks_are_all_or_nothing(site):
    one, two = product("BIN-7"), product("BIN-8")
    stock(one, site, 3)
    stock(two, site, 3)
    (a1,) = _bins(site, ("A-01", "A", 1, None))
    bin_putaway(warehouse=site, product=one, bin=a1, quantity=3)
    bin_putaway(warehouse=site, product=two, bin=a1, quantity=1)

    with pytest.raises(InsufficientStock):
        bin_picks(picks=[BinPick(a1, one.pk, 2), BinPick(a1, two.pk, 2)])

    assert (_held(a1, one), _held(a1, two)) == (3, 1)


def test_on_hand_drop_takes_unbinned_first_then_the_last_bins_of_the_path(site):
    sku = product("BIN-9")
    stock(sku, site, 10)
    a1, a2, a3 = _bins(site, ("A-01", "A", 1, None), ("A-02", "A", 2, None), ("A-03", "A", 3, None))
    for b in (a1, a2, a3):
        bin_putaway(warehouse=site, product=sku, bin=b, quantity=3)  # 1 unbinned

    stock_adjust(product=sku, warehouse=site, delta=-5, reason=AdjustmentReason.DAMAGED)

    # 1 from unbinned, then 3 from A-03 and 1 from A-02.
    assert [_held(b, sku) for b in (a1, a2, a3)] == [3, 2, 0]
    removals = BinMovement.objects.filter(type=BinMovement.Type.REMOVAL)
    assert sorted(m.delta for m in removals) == [-3, -1]
    assert bin_ledger_drift() == []


def test_a_count_to_zero_empties_the_bins(site):
    sku = product("BIN-10")
    stock(sku, site, 4)
    (a1,) = _bins(site, ("A-01", "A", 1, None))
    bin_putaway(warehouse=site, product=sku, bin=a1, quantity=4)

    stock_set_on_hand(product=sku, warehouse=site, on_hand=0, type="count")

    assert _held(a1, sku) == 0
    assert bin_ledger_drift() == []


def test_the_database_refuses_bins_holding_more_than_on_hand(site):
    sku = product("BIN-11")
    stock(sku, site, 2)
    (a1,) = _bins(site, ("A-01", "A", 1, None))
    bin_putaway(warehouse=site, product=sku, bin=a1, quantity=2)

    def tamper():
        with transaction.atomic():
            BinStock.objects.filter(bin=a1, product=sku).update(quantity=3)
            with connection.cursor() as cursor:
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")

    with pytest.raises(IntegrityError):
        tamper()


def test_bins_for_pick_lists_bins_in_path_order_in_one_query(site, django_assert_num_queries):
    one, two = product("BIN-12"), product("BIN-13")
    stock(one, site, 5)
    stock(two, site, 5)
    late, early = _bins(site, ("Z-09", "Z", 90, None), ("A-01", "A", 1, None))
    bin_putaway(warehouse=site, product=one, bin=late, quantity=2)
    bin_putaway(warehouse=site, product=one, bin=early, quantity=3)
    bin_putaway(warehouse=site, product=two, bin=late, quantity=1)

    with django_assert_num_queries(1):
        found = bins_for_pick(warehouse_id=site.pk, product_ids=[one.pk, two.pk])

    assert [(b.code, q) for b, q in found[one.pk]] == [("A-01", 3), ("Z-09", 2)]
    assert [(b.code, q) for b, q in found[two.pk]] == [("Z-09", 1)]


def test_suggestion_prefers_a_bin_already_holding_the_product_with_room(site):
    sku = product("SUG-1")
    stock(sku, site, 20)
    _bins(site, ("A-01", "A", 1, None))
    (b5,) = _bins(site, ("B-05", "B", 5, 10))
    bin_putaway(warehouse=site, product=sku, bin=b5, quantity=8)

    assert putaway_suggestion(warehouse=site, product=sku, quantity=2) == b5


def test_suggestion_falls_back_to_an_empty_bin_in_the_products_zone(site):
    sku = product("SUG-2")
    stock(sku, site, 20)
    _bins(site, ("A-01", "A", 1, None))
    b5, b6 = _bins(site, ("B-05", "B", 5, 10), ("B-06", "B", 6, None))
    bin_putaway(warehouse=site, product=sku, bin=b5, quantity=10)  # full

    assert putaway_suggestion(warehouse=site, product=sku, quantity=1) == b6


def test_suggestion_remembers_the_zone_of_the_last_putaway(site):
    sku = product("SUG-3")
    stock(sku, site, 5)
    _bins(site, ("A-01", "A", 1, None))
    c1, c2 = _bins(site, ("C-01", "C", 30, None), ("C-02", "C", 31, None))
    bin_putaway(warehouse=site, product=sku, bin=c1, quantity=5)
    bin_pick(bin=c1, product=sku, quantity=5)  # C-01 empty again; the zone is remembered
    other = product("SUG-3B")
    stock(other, site, 1)
    bin_putaway(warehouse=site, product=other, bin=c1, quantity=1)

    assert putaway_suggestion(warehouse=site, product=sku) == c2


def test_suggestion_without_history_is_the_first_empty_active_bin(site):
    sku = product("SUG-4")
    a1, a2 = _bins(site, ("A-01", "A", 1, None), ("A-02", "A", 2, None))
    a1.is_active = False
    a1.save()

    assert putaway_suggestion(warehouse=site, product=sku) == a2


def test_suggestion_is_none_without_bins(site):
    assert putaway_suggestion(warehouse=site, product=product("SUG-5")) is None


def test_verify_stock_ledger_catches_a_tampered_bin(site):
    sku = product("TAMPER-1")
    stock(sku, site, 5)
    (a1,) = _bins(site, ("A-01", "A", 1, None))
    bin_putaway(warehouse=site, product=sku, bin=a1, quantity=4)
    call_command("verify_stock_ledger")

    BinStock.objects.filter(bin=a1, product=sku).update(quantity=3)

    with pytest.raises(CommandError, match="1 bin problem"):
        call_command("verify_stock_ledger")
    assert bin_ledger_drift() == [
        {
            "kind": "journal",
            "warehouse": "own-1",
            "bin": "A-01",
            "sku": "TAMPER-1",
            "quantity": 3,
            "journal": 4,
        }
    ]


def test_import_creates_and_updates_bins_and_refuses_bad_rows(site):
    created, updated = bins_import(
        warehouse=site, rows=[BinRow("A-01", "A", 1), BinRow("A-02", "A", 2)]
    )
    assert (created, updated) == (2, 0)
    created, updated = bins_import(
        warehouse=site, rows=[BinRow("A-02", "B", 7), BinRow("A-03", "A", 3)]
    )
    assert (created, updated) == (1, 1)
    with pytest.raises(ValidationFailed):
        bins_import(warehouse=site, rows=[BinRow("", "A", 1), BinRow("A-09", "A", -1)])
    assert site.bins.count() == 3


def test_initial_putaway_deals_all_unbinned_stock_to_the_bins(site, django_assert_max_num_queries):
    skus = [product(f"INIT-{n}") for n in range(5)]
    for sku in skus:
        stock(sku, site, 7)
    a1, a2 = _bins(site, ("A-01", "A", 1, None), ("A-02", "A", 2, None))
    _bins(site, ("S-01", "S", 0, 3))  # limited: skipped
    bin_putaway(warehouse=site, product=skus[0], bin=a2, quantity=2)

    with django_assert_max_num_queries(12):
        put = bins_putaway_unbinned(warehouse=site)

    assert put == 5 * 7 - 2
    assert _held(a2, skus[0]) == 7  # the rest joins the bin already holding it
    assert [_held(a1, s) for s in skus[1:]] == [7, 0, 7, 0]
    assert [_held(a2, s) for s in skus[1:]] == [0, 7, 0, 7]
    assert bin_ledger_drift() == []
    assert bins_putaway_unbinned(warehouse=site) == 0


def test_bulk_loaders_on_hand_drop_takes_from_the_bins_too(site):
    import datetime as dt

    from inventory.sql import StockMovementRow, stock_movements_bulk_apply

    sku = product("BULK-1")
    stock(sku, site, 6)
    (a1,) = _bins(site, ("A-01", "A", 1, None))
    bin_putaway(warehouse=site, product=sku, bin=a1, quantity=6)
    shipped = StockMovementRow(
        product_id=sku.pk, warehouse_id=site.pk, type="shipment", on_hand_delta=-4,
        reserved_delta=0, reason="", reference="demo", order_id=None, actor_id=None, note="",
        created_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    )  # fmt: skip

    with connection.cursor() as cursor:
        stock_movements_bulk_apply(cursor, movements=[shipped], reference="demo", replenish_extra=0)

    assert _held(a1, sku) == 2
    assert bin_ledger_drift() == []
