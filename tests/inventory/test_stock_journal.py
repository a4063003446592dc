"""The stock journal: every ledger row carries its transaction's id, and the changes cursor
finds every change after it, also one committed late by a transaction that began early.

The statements of inventory/sql.py for the feed are compared here with their ORM
equivalents (STYLE.md rule 18).
"""

from __future__ import annotations

import datetime as dt
import json
import threading

import pytest
from django.db import connection, connections, transaction
from django.db.models import F, Sum
from django.utils import timezone

from inventory.models import Product, StockLevel, StockMovement
from inventory.selectors import (
    ChangesCursor,
    stock_changes_cursor,
    stock_changes_since,
    stock_feed_page,
)
from inventory.services.stock import stock_adjust
from inventory.sql import StockMovementRow, stock_movements_bulk_apply
from tests.inventory.factories import ProductFactory
from tests.inventory.helpers import channel_with_warehouses, order_with_lines, product, stock
from tests.inventory.helpers import warehouses as make_warehouses


def _txid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_current_xact_id()::text")
        return int(cursor.fetchone()[0])


@pytest.mark.django_db
def test_orm_writes_record_their_transaction_id():
    (warehouse,) = make_warehouses("j-1")
    item = product("J-ORM")
    with transaction.atomic():
        stock(item, warehouse, 5)
        current = _txid()
    movement = StockMovement.objects.get(product=item)
    assert movement.xid == current


@pytest.mark.django_db
def test_copy_writes_record_their_transaction_id():
    (warehouse,) = make_warehouses("j-2")
    item = product("J-COPY")
    row = StockMovementRow(
        product_id=item.pk,
        warehouse_id=warehouse.pk,
        type=StockMovement.Type.RECEIPT,
        on_hand_delta=3,
        reserved_delta=0,
        reason="",
        reference="bulk",
        order_id=None,
        actor_id=None,
        note="",
        created_at=timezone.now(),
    )
    with transaction.atomic(), connection.cursor() as cursor:
        stock_movements_bulk_apply(cursor, movements=[row], reference="bulk", replenish_extra=0)
        current = _txid()
    assert StockMovement.objects.get(product=item).xid == current


@pytest.mark.django_db
def test_reservation_statement_records_its_transaction_id():
    from orders.services.fulfilment import order_fulfil

    (warehouse,) = make_warehouses("j-3")
    item = product("J-RESERVE")
    stock(item, warehouse, 5)
    order = order_with_lines(channel_with_warehouses("j-shop", [warehouse]), [(item, 2)])
    with transaction.atomic():
        order_fulfil(order=order, actor="test")
        current = _txid()
    reservation = StockMovement.objects.get(product=item, type=StockMovement.Type.RESERVATION)
    assert reservation.xid == current


@pytest.mark.django_db
def test_changes_since_lists_changed_skus_at_the_warehouses_only():
    mine, other = make_warehouses("j-mine", "j-other")
    a, b, c = product("J-A"), product("J-B"), product("J-C")
    stock(a, mine, 5)
    cursor = stock_changes_cursor()
    stock(b, mine, 1)
    stock(c, other, 1)
    stock_adjust(product=a, warehouse=mine, delta=-1, reason="damaged")
    skus, after = stock_changes_since(cursor=cursor, warehouse_ids=[mine.pk])
    assert skus == ["J-A", "J-B"]
    assert after.xmax >= cursor.xmax
    # This test's transaction is still open, so its own writes stay unseen (and come back);
    # nothing else changed at the other warehouse.
    assert stock_changes_since(cursor=after, warehouse_ids=[other.pk])[0] == ["J-C"]


@pytest.mark.django_db
def test_changes_since_leaves_out_retired_products():
    (warehouse,) = make_warehouses("j-4")
    retired = ProductFactory(sku="J-RETIRED", is_active=False)
    cursor = stock_changes_cursor()
    stock(retired, warehouse, 2)
    assert stock_changes_since(cursor=cursor, warehouse_ids=[warehouse.pk])[0] == []


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_a_change_committed_after_a_poll_by_a_transaction_begun_before_it_is_found():
    """The case the transaction-id cursor exists for.

    Writer A takes its ledger id first and commits last; writer B writes after A and
    commits before the poll. The poll sees B, not A; an id or time cursor taken from
    what the poll saw (B's) would skip A for good. The changes cursor must not.
    """
    # The setup's stock is at a warehouse of its own: the race is alone at `warehouse`.
    warehouse, setup = make_warehouses("j-race", "j-setup")
    slow, quick = product("J-SLOW"), product("J-QUICK")
    stock(slow, setup, 10)
    stock(quick, setup, 10)
    start = stock_changes_cursor()
    written, release, done = threading.Event(), threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def writer_a():
        try:
            with transaction.atomic():
                stock(slow, warehouse, 1)
                written.set()
                assert release.wait(30)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)
        finally:
            connection.close()
            done.set()

    thread = threading.Thread(target=writer_a)
    thread.start()
    assert written.wait(30)
    stock(quick, warehouse, 1)  # B, committed

    skus, cursor = stock_changes_since(cursor=start, warehouse_ids=[warehouse.pk])
    assert skus == ["J-QUICK"]  # A is not committed yet
    assert not StockMovement.objects.filter(warehouse=warehouse, product=slow).exists()
    release.set()
    assert done.wait(30)
    thread.join(30)
    assert errors == []

    a_row = StockMovement.objects.get(warehouse=warehouse, product=slow)
    b_row = StockMovement.objects.get(warehouse=warehouse, product=quick)
    assert a_row.id < b_row.id  # an id cursor ("after B") would have skipped A
    # A's transaction began before B's and was still open at the poll: the cursor the poll
    # handed out lists it in progress, which is why the next poll finds it.
    assert a_row.xid is not None
    assert b_row.xid is not None
    assert a_row.xid < b_row.xid
    assert a_row.xid in cursor.in_progress
    skus, _ = stock_changes_since(cursor=cursor, warehouse_ids=[warehouse.pk])
    assert "J-SLOW" in skus
    # and the feed's delta finds it too
    page = stock_feed_page(
        warehouse_ids=[warehouse.pk], after_sku="", size=10, changed_since=cursor
    )
    assert "J-SLOW" in [item["sku"] for item in json.loads(page.results_json)]


# --- the feed statement against its ORM equivalent ---------------------------------------


def _orm_feed(*, warehouse_ids, by_warehouse, only=None):
    """Every active product (or those in `only`) with availability over the active
    warehouses among `warehouse_ids`, by SKU, as the feed renders it."""
    from inventory.models import Warehouse

    active = list(Warehouse.objects.filter(pk__in=warehouse_ids, is_active=True).order_by("code"))
    products = Product.objects.filter(is_active=True).order_by("sku")
    if only is not None:
        products = products.filter(pk__in=only)
    levels = {
        (level["product_id"], level["warehouse_id"]): level["free"]
        for level in StockLevel.objects.filter(warehouse__in=active).values(
            "product_id", "warehouse_id", free=F("on_hand") - F("reserved")
        )
    }
    out = []
    for item in products:
        per = [(w.code, max(levels.get((item.pk, w.pk), 0), 0)) for w in active]
        total = (
            StockLevel.objects.filter(product=item, warehouse__in=active).aggregate(
                s=Sum(F("on_hand") - F("reserved"))
            )["s"]
            or 0
        )
        row = {"sku": item.sku, "available": max(total, 0)}
        if by_warehouse:
            row["warehouses"] = [{"warehouse": code, "available": n} for code, n in per]
        out.append(row)
    return out


def _walk(**kwargs):
    items, after, pages = [], "", 0
    while True:
        page = stock_feed_page(after_sku=after, **kwargs)
        items += json.loads(page.results_json)
        pages += 1
        if not page.has_next:
            return items, pages
        after = page.last_sku


@pytest.fixture
def feed_world(db):
    east, west, closed, foreign = make_warehouses("f-east", "f-west", "f-closed", "f-foreign")
    closed.is_active = False
    closed.save(update_fields=["is_active"])
    items = [product(f"F-{n:02d}") for n in range(7)]
    ProductFactory(sku="F-RETIRED", is_active=False)
    for n, item in enumerate(items):
        if n % 3 != 2:
            stock(item, east, n + 1)
        if n % 2:
            stock(item, west, 10 * n)
        stock(item, closed, 100)
        stock(item, foreign, 1000)
    StockLevel.objects.filter(product=items[1], warehouse=east).update(reserved=2)
    return {"ids": [east.pk, west.pk, closed.pk], "items": items, "east": east}


@pytest.mark.parametrize("by_warehouse", [False, True])
@pytest.mark.parametrize("size", [1, 3, 100])
def test_feed_statement_matches_the_orm(feed_world, by_warehouse, size):
    items, pages = _walk(warehouse_ids=feed_world["ids"], size=size, by_warehouse=by_warehouse)
    assert items == _orm_feed(warehouse_ids=feed_world["ids"], by_warehouse=by_warehouse)
    assert pages == -(-7 // size) + (1 if 7 % size == 0 else 0) or pages == -(-7 // size)


@pytest.mark.parametrize("by_warehouse", [False, True])
def test_feed_delta_statements_match_the_orm(feed_world, by_warehouse):
    cursor = stock_changes_cursor()
    before = timezone.now() - dt.timedelta(microseconds=1)
    changed = feed_world["items"][3]
    stock_adjust(product=changed, warehouse=feed_world["east"], delta=1, reason="found")
    since_time = StockMovement.objects.filter(created_at__gte=before).values("product_id")
    by_time, _ = _walk(
        warehouse_ids=feed_world["ids"],
        size=2,
        by_warehouse=by_warehouse,
        changed_since=before,
    )
    assert by_time == _orm_feed(
        warehouse_ids=feed_world["ids"], by_warehouse=by_warehouse, only=since_time
    )
    by_cursor, _ = _walk(
        warehouse_ids=feed_world["ids"], size=2, by_warehouse=by_warehouse, changed_since=cursor
    )
    # The cursor also reports what this (still open) test transaction wrote: a superset of the
    # change, every item rendered as the full feed renders it.
    full = {
        row["sku"]: row
        for row in _orm_feed(warehouse_ids=feed_world["ids"], by_warehouse=by_warehouse)
    }
    assert changed.sku in [row["sku"] for row in by_cursor]
    assert all(row == full[row["sku"]] for row in by_cursor)


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_a_change_seen_by_a_poll_is_not_sent_again():
    """Exact, not just safe: committed changes the previous read saw do not come back,
    whatever else runs in the cluster meanwhile (an open transaction elsewhere would hold
    back a cursor that kept only the snapshot's xmin)."""
    (warehouse,) = make_warehouses("j-exact")
    before, after = product("J-BEFORE"), product("J-AFTER")
    other = connections.create_connection("default")  # a transaction left open
    try:
        with other.cursor() as cursor:
            cursor.execute("BEGIN")
            cursor.execute("SELECT pg_current_xact_id()")
            stock(before, warehouse, 1)  # committed after the open one began
            start = stock_changes_cursor()
            stock(after, warehouse, 1)
            skus, cursor_next = stock_changes_since(cursor=start, warehouse_ids=[warehouse.pk])
            assert skus == ["J-AFTER"]
            assert stock_changes_since(cursor=cursor_next, warehouse_ids=[warehouse.pk])[0] == []
            cursor.execute("ROLLBACK")
    finally:
        other.close()


def test_a_cursor_with_too_many_transactions_in_progress_falls_back_to_the_oldest():
    cursor = ChangesCursor(xmax=100, in_progress=(40, 50, 60))
    assert cursor.bounded(3) is cursor
    assert cursor.bounded(2) == ChangesCursor(xmax=40)


@pytest.mark.parametrize("bad", [(0, ()), (2**63, ()), (10, (10,)), (10, (0,))])
def test_a_changes_cursor_is_a_snapshot(bad):
    with pytest.raises(ValueError, match="snapshot"):
        ChangesCursor(xmax=bad[0], in_progress=bad[1])


@pytest.mark.django_db
def test_a_cursor_taken_in_a_writing_transaction_counts_its_own_writes_as_unseen():
    (warehouse,) = make_warehouses("j-own")
    first, second = product("J-OWN-1"), product("J-OWN-2")
    stock(first, warehouse, 1)  # this (test) transaction now has an id
    cursor = stock_changes_cursor()
    own = _txid()
    assert own in cursor.in_progress or own >= cursor.xmax  # unseen either way
    stock(second, warehouse, 1)
    skus, _ = stock_changes_since(cursor=cursor, warehouse_ids=[warehouse.pk])
    assert skus == ["J-OWN-1", "J-OWN-2"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10:20::", ChangesCursor(xmax=20)),
        ("10:20:12,15:", ChangesCursor(xmax=20, in_progress=(12, 15))),
        ("10:20:12,15:13", ChangesCursor(xmax=20, in_progress=(12, 13, 15))),
        ("10:20:12:25", ChangesCursor(xmax=20, in_progress=(12,))),  # own id past xmax
    ],
)
def test_cursor_from_snapshot_text(text, expected):
    assert ChangesCursor.from_snapshot(text) == expected
