"""Picking at own sites: no outbox for own sites, waves (grouping, limits, one wave per
shipment), the pick path, scans refused, confirmations, short picks re-allocated."""

import datetime as dt
import io

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone
from pypdf import PdfReader

from core.errors import Conflict, ValidationFailed
from inventory.bin_selectors import bin_ledger_drift
from inventory.models import Allocation, Bin, BinStock, StockLevel, Warehouse
from logistics.documents import pick_list_pdf
from logistics.hooks import ShortPickOutcome
from logistics.models import DispatchOutbox, PickTask, PickWave, Shipment, ShipmentLine
from logistics.picking_selectors import wave_progress, wave_tasks
from logistics.services.picking import (
    pick_confirm,
    pick_scan_bin,
    pick_scan_item,
    pick_short,
    wave_cancel,
    waves_build,
)
from orders.models import Order, OrderEvent
from tests.inventory.factories import WarehouseFactory
from tests.logistics.factories import ProviderFactory, ServiceLevelFactory
from tests.logistics.picking_world import (
    channel_for,
    own_site,
    planned_order,
    shipment_of,
    stocked,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def site():
    return own_site(bins=(("A-01", "A", 10), ("A-02", "A", 20), ("B-01", "B", 30)))


def _held(site, code, product):
    row = BinStock.objects.filter(bin__warehouse=site, bin__code=code, product=product).first()
    return row.quantity if row else 0


# --- Own sites wait for picking --------------------------------------------------------


def test_own_site_shipment_waits_pending_without_an_outbox_row(site):
    sku = stocked("P-1", site, {"A-01": 5})
    order = planned_order(channel_for(site), [(sku, 2)])

    shipment = shipment_of(order, site)
    assert shipment.status == Shipment.Status.PENDING
    assert not DispatchOutbox.objects.filter(shipment=shipment).exists()
    order.refresh_from_db()
    assert order.status == Order.Status.IN_FULFILMENT


def test_lsp_site_shipment_still_gets_its_outbox_row():
    operator = ProviderFactory(code="lsp-op")
    lsp = WarehouseFactory(code="lsp-1", kind=Warehouse.Kind.LSP, provider=operator)
    from tests.inventory.helpers import product, stock

    sku = product("P-LSP")
    stock(sku, lsp, 5)
    order = planned_order(channel_for(lsp, code="lsp-ch"), [(sku, 1)])

    assert DispatchOutbox.objects.filter(shipment__order=order).count() == 1


# --- Waves ---------------------------------------------------------------------------


def test_waves_follow_the_pick_path_and_move_shipments_to_picking(site):
    a = stocked("P-A", site, {"A-02": 5})
    b = stocked("P-B", site, {"A-01": 5})
    channel = channel_for(site)
    o1 = planned_order(channel, [(a, 1), (b, 2)])
    o2 = planned_order(channel, [(a, 1)])

    (wave,) = waves_build(warehouse=site, now=timezone.now())

    tasks = wave_tasks(wave_id=wave.pk)
    assert [(t.sequence, t.bin.code, t.product.sku) for t in tasks] == [
        (1, "A-01", "P-B"),
        (2, "A-02", "P-A"),
        (3, "A-02", "P-A"),
    ]
    assert wave.zone == "A"
    assert wave.number == 1
    for order in (o1, o2):
        shipment = shipment_of(order, site)
        assert (shipment.status, shipment.pick_wave_id) == (Shipment.Status.PICKING, wave.pk)


def test_a_shipment_is_in_at_most_one_wave(site):
    sku = stocked("P-1", site, {"A-01": 5})
    planned_order(channel_for(site), [(sku, 1)])
    waves_build(warehouse=site)

    assert waves_build(warehouse=site) == []
    assert PickTask.objects.count() == 1


def test_waves_respect_the_shipment_and_unit_limits(site):
    sku = stocked("P-1", site, {"A-01": 50})
    channel = channel_for(site)
    for quantity in (3, 3, 3, 3, 9):
        planned_order(channel, [(sku, quantity)])

    by_shipments = waves_build(warehouse=site, max_shipments=2, max_units=1000)
    assert [w.tasks.count() for w in by_shipments] == [2, 2, 1]

    for wave in by_shipments:
        wave_cancel(wave=wave)
    by_units = waves_build(warehouse=site, max_shipments=100, max_units=7)
    units = [sum(t.quantity for t in w.tasks.all()) for w in by_units]
    # 3+3 fit, the third 3 opens a new wave; the 9-unit shipment is a wave of its own.
    assert units == [6, 6, 9]


def test_waves_group_by_service_level_zone_and_cutoff(site):
    a = stocked("P-A", site, {"A-01": 10})
    b = stocked("P-B", site, {"B-01": 10})
    express = ServiceLevelFactory(provider=ProviderFactory(code="sandbox"), code="express")
    channel = channel_for(site)
    planned_order(channel, [(a, 1)])
    planned_order(channel, [(b, 1)])
    planned_order(channel, [(a, 1)], service_level=express)
    late = planned_order(channel, [(a, 1)])
    Shipment.objects.filter(order=late).update(
        ship_by=timezone.localdate() + dt.timedelta(days=7),
        promised_delivery_date=timezone.localdate() + dt.timedelta(days=10),
    )

    waves = waves_build(warehouse=site, now=timezone.now())

    keys = sorted((w.zone, w.service_level_id or 0, w.cutoff.date()) for w in waves)
    assert len(waves) == 4
    assert len(set(keys)) == 4
    # Earliest cut-off first: the late shipment's wave comes last.
    assert waves[-1].tasks.get().shipment.order_id == late.pk


def test_shipment_whose_units_are_not_in_bins_waits(site):
    sku = stocked("P-1", site, {"A-01": 1})
    from tests.inventory.helpers import stock

    stock(sku, site, 5)  # received, not put away
    order = planned_order(channel_for(site), [(sku, 3)])

    assert waves_build(warehouse=site) == []
    assert shipment_of(order, site).status == Shipment.Status.PENDING


def test_tasks_spread_over_bins_and_do_not_promise_a_bin_twice(site):
    sku = stocked("P-1", site, {"A-01": 2, "A-02": 3})
    channel = channel_for(site)
    planned_order(channel, [(sku, 3)])
    (first,) = waves_build(warehouse=site)
    planned_order(channel, [(sku, 2)])

    (second,) = waves_build(warehouse=site)

    assert [(t.bin.code, t.quantity) for t in wave_tasks(wave_id=first.pk)] == [
        ("A-01", 2),
        ("A-02", 1),
    ]
    assert [(t.bin.code, t.quantity) for t in wave_tasks(wave_id=second.pk)] == [("A-02", 2)]


def test_lsp_site_cannot_build_waves():
    lsp = WarehouseFactory(code="lsp-2", kind=Warehouse.Kind.LSP, provider=ProviderFactory())
    with pytest.raises(ValidationFailed):
        waves_build(warehouse=lsp)


def test_the_wave_constraint_refuses_a_second_task_at_the_same_sequence(site):
    sku = stocked("P-1", site, {"A-01": 5})
    planned_order(channel_for(site), [(sku, 1)])
    (wave,) = waves_build(warehouse=site)
    task = wave.tasks.get()

    with pytest.raises(IntegrityError), transaction.atomic():
        PickTask.objects.create(
            wave=wave, shipment=task.shipment, shipment_line=task.shipment_line,
            product=sku, bin=task.bin, quantity=1, sequence=task.sequence,
        )  # fmt: skip


# --- Scans and confirmations ---------------------------------------------------------


@pytest.fixture
def one_task_wave(site):
    sku = stocked("P-1", site, {"A-01": 5}, barcode="8710000000011")
    stocked("P-2", site, {"A-02": 5}, barcode="8710000000028")
    order = planned_order(channel_for(site), [(sku, 2)])
    (wave,) = waves_build(warehouse=site)
    return wave, wave.tasks.get(), order


def test_scanning_the_wrong_bin_is_refused_with_the_right_one(one_task_wave):
    _, task, _ = one_task_wave
    with pytest.raises(ValidationFailed) as refused:
        pick_scan_bin(task=task, code="A-02")
    assert refused.value.code == "pick_wrong_bin"
    assert "go to bin A-01" in refused.value.detail


def test_an_item_before_its_bin_is_refused(one_task_wave):
    _, task, _ = one_task_wave
    with pytest.raises(ValidationFailed) as refused:
        pick_scan_item(task=task, barcode="8710000000011")
    assert refused.value.code == "pick_bin_not_scanned"


def test_the_wrong_item_and_an_unknown_barcode_are_refused(one_task_wave):
    _, task, _ = one_task_wave
    pick_scan_bin(task=task, code="a-01")
    with pytest.raises(ValidationFailed) as wrong:
        pick_scan_item(task=task, barcode="8710000000028")
    with pytest.raises(ValidationFailed) as unknown:
        pick_scan_item(task=task, barcode="0000")
    assert wrong.value.code == "pick_wrong_item"
    assert "that is P-2; pick P-1" in wrong.value.detail
    assert unknown.value.code == "pick_unknown_barcode"
    task.refresh_from_db()
    assert task.picked_quantity == 0


def test_scanning_items_picks_them_out_of_the_bin_and_an_extra_one_is_refused(site, one_task_wave):
    wave, task, order = one_task_wave
    pick_scan_bin(task=task, code="A-01")
    pick_scan_item(task=task, barcode="8710000000011")
    assert _held(site, "A-01", task.product) == 4
    pick_scan_item(task=task, barcode="8710000000011")

    with pytest.raises(Conflict) as extra:
        pick_scan_item(task=task, barcode="8710000000011")

    assert extra.value.code == "pick_task_done"
    assert _held(site, "A-01", task.product) == 3
    task.refresh_from_db()
    assert (task.status, task.picked_quantity) == (PickTask.Status.PICKED, 2)
    assert shipment_of(order, site).status == Shipment.Status.PICKED
    wave.refresh_from_db()
    assert wave.status == PickWave.Status.DONE
    assert bin_ledger_drift() == []


def test_confirming_more_than_is_left_is_refused(one_task_wave):
    _, task, _ = one_task_wave
    with pytest.raises(Conflict) as refused:
        pick_confirm(task=task, quantity=3)
    assert refused.value.code == "pick_too_many"


def test_progress_counts_the_done_picks(site):
    a = stocked("P-A", site, {"A-01": 5})
    b = stocked("P-B", site, {"A-02": 5})
    planned_order(channel_for(site), [(a, 1), (b, 1)])
    (wave,) = waves_build(warehouse=site)
    first = wave_progress(wave_id=wave.pk).current

    pick_confirm(task=first, quantity=1)

    progress = wave_progress(wave_id=wave.pk)
    assert (progress.position, progress.total, progress.current.product.sku) == (2, 2, "P-B")


def test_a_started_wave_cannot_be_cancelled(one_task_wave):
    wave, task, _ = one_task_wave
    pick_confirm(task=task, quantity=1)
    with pytest.raises(Conflict):
        wave_cancel(wave=wave)


def test_cancelling_a_wave_gives_its_shipments_back(site, one_task_wave):
    wave, _, order = one_task_wave
    wave_cancel(wave=wave)
    shipment = shipment_of(order, site)
    assert (shipment.status, shipment.pick_wave_id) == (Shipment.Status.PENDING, None)
    assert len(waves_build(warehouse=site)) == 1


# --- Short picks ---------------------------------------------------------------------


def test_short_pick_reallocates_at_a_second_site_and_the_shipment_goes_on(site):
    other = own_site("own-two", bins=(("Z-01", "Z", 1),))
    sku = stocked("P-S", site, {"A-01": 3})
    stocked("P-S", other, {"Z-01": 5})
    keep = stocked("P-K", site, {"A-02": 5})
    order = planned_order(channel_for(site, other), [(sku, 3), (keep, 1)])
    (wave,) = waves_build(warehouse=site)
    task = wave.tasks.get(product=sku)
    pick_scan_bin(task=task, code="A-01")
    pick_scan_item(task=task, barcode=sku.barcode)

    outcome = pick_short(task=task, found_quantity=1)

    assert outcome == ShortPickOutcome.CONTINUE
    first = shipment_of(order, site)
    line = ShipmentLine.objects.get(shipment=first, order_line__product=sku)
    assert line.quantity == 1
    second = shipment_of(order, other)
    assert second.lines.get().quantity == 2
    assert (
        Allocation.objects.get(order_line__product=sku, warehouse=other, status="active").quantity
        == 2
    )
    # The two missing units are gone from the bin and from on hand (nobody promises them).
    assert _held(site, "A-01", sku) == 0
    level = StockLevel.objects.get(product=sku, warehouse=site)
    assert (level.on_hand, level.reserved) == (1, 1)
    assert bin_ledger_drift() == []
    order.refresh_from_db()
    assert order.status == Order.Status.IN_FULFILMENT
    assert OrderEvent.objects.filter(order=order, type="deallocated").exists()
    # The other task is still to pick; once it is, the shipment is picked.
    pick_confirm(task=wave.tasks.get(product=keep), quantity=1)
    first.refresh_from_db()
    assert first.status == Shipment.Status.PICKED


def test_short_pick_with_no_stock_elsewhere_backorders_the_rest(site):
    sku = stocked("P-S", site, {"A-01": 2})
    order = planned_order(channel_for(site), [(sku, 2)])
    (wave,) = waves_build(warehouse=site)
    task = wave.tasks.get()

    pick_short(task=task, found_quantity=1)

    order.refresh_from_db()
    assert order.status == Order.Status.BACKORDERED
    shipment = shipment_of(order, site)
    assert shipment.status == Shipment.Status.PICKED
    assert shipment.lines.get().quantity == 1


def test_nothing_found_cancels_the_shipment(site):
    sku = stocked("P-S", site, {"A-01": 2})
    order = planned_order(channel_for(site), [(sku, 2)])
    (wave,) = waves_build(warehouse=site)

    pick_short(task=wave.tasks.get(), found_quantity=0)

    assert shipment_of(order, site).status == Shipment.Status.CANCELLED
    order.refresh_from_db()
    assert order.status == Order.Status.BACKORDERED


def test_short_pick_of_a_ship_complete_order_makes_the_shipment_wait(site):
    sku = stocked("P-S", site, {"A-01": 2})
    order = planned_order(channel_for(site), [(sku, 2)])
    OrderEvent.objects.create(
        order=order, type="allocated", parameters={"routing": {"split_policy": "complete"}}
    )
    (wave,) = waves_build(warehouse=site)

    outcome = pick_short(task=wave.tasks.get(), found_quantity=1)

    assert outcome == ShortPickOutcome.WAIT
    assert shipment_of(order, site).status == Shipment.Status.PICKING


def test_short_pick_shows_in_the_exception_queue(site):
    from backoffice.selectors.ops import exception_queue

    sku = stocked("P-S", site, {"A-01": 2})
    planned_order(channel_for(site), [(sku, 2)])
    (wave,) = waves_build(warehouse=site)
    pick_short(task=wave.tasks.get(), found_quantity=1)

    queue = exception_queue(kind="short_pick")["short_pick"]

    assert queue["count"] == 1
    assert "P-S short at A-01" in queue["items"][0].subject


def test_short_found_must_be_fewer_than_asked(one_task_wave):
    _, task, _ = one_task_wave
    with pytest.raises(ValidationFailed) as refused:
        pick_short(task=task, found_quantity=2)
    assert refused.value.code == "pick_invalid_short"


# --- Pick list PDF -------------------------------------------------------------------


def test_pick_list_pdf_lists_bins_and_skus_in_path_order(site):
    a = stocked("SKU-AAA", site, {"A-02": 5})
    b = stocked("SKU-BBB", site, {"B-01": 5})
    planned_order(channel_for(site), [(a, 1), (b, 2)])
    (wave,) = waves_build(warehouse=site, by=("cutoff",))

    pdf = pick_list_pdf(title="Pick list", tasks=wave_tasks(wave_id=wave.pk))

    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    assert text.index("A-02") < text.index("B-01")
    assert "SKU-AAA" in text
    assert "SKU-BBB" in text
    assert Bin.objects.filter(code="B-01").exists()
