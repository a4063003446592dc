"""Bin stock under real concurrency: parallel Postgres connections moving, picking, putting
away and dropping on_hand on the same bins. Never negative, never more in bins than on hand,
no deadlock, and the journal still explains every bin."""

import random
import threading

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.models import Sum

from inventory.bin_selectors import bin_ledger_drift
from inventory.errors import InsufficientStock
from inventory.models import AdjustmentReason, Bin, BinStock, Product, StockLevel, Warehouse
from inventory.services.bins import BinPick, bin_create, bin_move, bin_pick, bin_picks, bin_putaway
from inventory.services.stock import stock_adjust
from tests.inventory.factories import WarehouseFactory
from tests.inventory.helpers import product, stock

THREADS = 8


def _run(jobs) -> list[BaseException]:
    """Run each job in its own thread on its own database connection, all at once."""
    errors: list[BaseException] = []
    start = threading.Barrier(len(jobs))

    def worker(job):
        try:
            start.wait()
            job()
        except InsufficientStock:
            pass  # a refusal is the right answer when another thread took the units first
        except BaseException as exc:  # noqa: BLE001 - every other failure is reported
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return errors


def _assert_invariants():
    assert not BinStock.objects.filter(quantity__lt=0).exists()
    for level in StockLevel.objects.all():
        binned = (
            BinStock.objects.filter(
                product_id=level.product_id, bin__warehouse_id=level.warehouse_id
            ).aggregate(n=Sum("quantity"))["n"]
            or 0
        )
        assert binned <= level.on_hand
    assert bin_ledger_drift() == []
    call_command("verify_stock_ledger")


@pytest.fixture
def shelf(transactional_db):
    site = WarehouseFactory(code="own-race")
    sku = product("RACE-1")
    stock(sku, site, 10)
    a = bin_create(warehouse=site, code="A-01", zone="A", pick_sequence=1)
    b = bin_create(warehouse=site, code="B-01", zone="B", pick_sequence=2)
    bin_putaway(warehouse=site, product=sku, bin=a, quantity=10)
    connection.close()  # the threads open their own connections
    return site, sku, a, b


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_parallel_picks_of_the_same_bin_take_exactly_what_it_holds(shelf):
    site, sku, a, _ = shelf
    picked = []

    def pick():
        bin_pick(bin=Bin.objects.get(pk=a.pk), product=sku, quantity=1, reference="race")
        picked.append(1)

    errors = _run([pick] * (THREADS * 2))

    assert errors == []
    assert len(picked) == 10
    assert BinStock.objects.get(bin=a, product=sku).quantity == 0
    _assert_invariants()


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_moves_picks_putaways_and_on_hand_drops_racing_keep_the_invariants(shelf):
    site, sku, a, b = shelf
    rng = random.Random(21)

    def mover(src, dst):
        def job():
            for _ in range(5):
                try:
                    bin_move(
                        from_bin=Bin.objects.get(pk=src.pk),
                        to_bin=Bin.objects.get(pk=dst.pk),
                        product=sku,
                        quantity=rng.randint(1, 3),
                    )
                except InsufficientStock:
                    continue

        return job

    def picker():
        for _ in range(3):
            for target in (a, b):
                try:
                    bin_pick(bin=Bin.objects.get(pk=target.pk), product=sku, quantity=1)
                except InsufficientStock:
                    continue

    def dropper():
        for _ in range(3):
            try:
                stock_adjust(
                    product=Product.objects.get(pk=sku.pk),
                    warehouse=Warehouse.objects.get(pk=site.pk),
                    delta=-1,
                    reason=AdjustmentReason.DAMAGED,
                )
            except InsufficientStock:
                continue

    def receiver():
        for _ in range(3):
            stock_adjust(
                product=Product.objects.get(pk=sku.pk),
                warehouse=Warehouse.objects.get(pk=site.pk),
                delta=2,
                reason=AdjustmentReason.FOUND,
            )
            try:
                bin_putaway(
                    warehouse=Warehouse.objects.get(pk=site.pk),
                    product=sku,
                    bin=Bin.objects.get(pk=b.pk),
                    quantity=2,
                )
            except InsufficientStock:
                continue

    errors = _run([mover(a, b), mover(b, a), mover(a, b), picker, picker, dropper, receiver])

    assert errors == []
    _assert_invariants()


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_pick_batches_in_opposite_orders_do_not_deadlock(transactional_db):
    site = WarehouseFactory(code="own-dl")
    one, two = product("DL-1"), product("DL-2")
    stock(one, site, 50)
    stock(two, site, 50)
    a = bin_create(warehouse=site, code="A-01", zone="A", pick_sequence=1)
    bin_putaway(warehouse=site, product=one, bin=a, quantity=50)
    bin_putaway(warehouse=site, product=two, bin=a, quantity=50)
    connection.close()

    def batch(first, second):
        def job():
            for _ in range(5):
                bin_picks(picks=[BinPick(a, first.pk, 1), BinPick(a, second.pk, 1)])

        return job

    errors = _run([batch(one, two), batch(two, one)] * (THREADS // 2))

    assert errors == []
    assert BinStock.objects.get(bin=a, product=one).quantity == 50 - 5 * THREADS
    assert BinStock.objects.get(bin=a, product=two).quantity == 50 - 5 * THREADS
    _assert_invariants()


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_different_products_racing_into_a_limited_bin_never_overfill_it(transactional_db):
    site = WarehouseFactory(code="own-cap")
    skus = [product(f"CAP-{n}") for n in range(THREADS)]
    for sku in skus:
        stock(sku, site, 5)
    small = bin_create(warehouse=site, code="S-01", zone="S", pick_sequence=1, max_units=12)
    connection.close()

    def putaway(sku):
        def job():
            bin_putaway(
                warehouse=Warehouse.objects.get(pk=site.pk),
                product=sku,
                bin=Bin.objects.get(pk=small.pk),
                quantity=5,
            )

        return job

    errors = _run([putaway(sku) for sku in skus])

    assert [e.code for e in errors] == ["bin_full"] * (THREADS - 2)
    assert BinStock.objects.filter(bin=small).aggregate(n=Sum("quantity"))["n"] == 10
    _assert_invariants()
