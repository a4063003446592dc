"""Picking under real concurrency (parallel Postgres connections): two pickers confirming
the same task take the units out of the bin once; two wave builds never put a shipment
in two waves."""

import threading

import pytest
from django.db import connection

from core.errors import Conflict
from inventory.bin_selectors import bin_ledger_drift
from inventory.models import BinStock
from logistics.models import PickTask, PickWave, Shipment
from logistics.services.picking import pick_confirm, pick_short, waves_build
from tests.logistics.picking_world import channel_for, own_site, planned_order, stocked

pytestmark = pytest.mark.integration


def _race(jobs) -> tuple[list[object], list[BaseException]]:
    """Run each job on its own thread and database connection, all released at once."""
    results: list[object] = []
    errors: list[BaseException] = []
    start = threading.Barrier(len(jobs))

    def worker(job):
        try:
            start.wait()
            results.append(job())
        except Conflict as exc:
            results.append(exc)
        except BaseException as exc:  # noqa: BLE001 - every other failure is reported
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results, errors


@pytest.fixture
def wave(transactional_db):
    site = own_site("own-race", bins=(("A-01", "A", 1),))
    sku = stocked("RACE-P", site, {"A-01": 10})
    planned_order(channel_for(site, code="race-ch"), [(sku, 3)])
    (wave,) = waves_build(warehouse=site)
    connection.close()
    return wave


def test_two_pickers_confirming_the_same_task_take_the_units_once(wave):
    task = wave.tasks.get()

    results, errors = _race(
        [lambda: pick_confirm(task=PickTask.objects.get(pk=task.pk), quantity=3)] * 2
    )

    assert errors == []
    assert sum(isinstance(r, Conflict) for r in results) == 1
    assert BinStock.objects.get(bin__code="A-01").quantity == 7
    task.refresh_from_db()
    assert (task.status, task.picked_quantity) == (PickTask.Status.PICKED, 3)
    assert bin_ledger_drift() == []


def test_a_confirm_racing_a_short_pick_never_counts_both(wave):
    task = wave.tasks.get()

    results, errors = _race(
        [
            lambda: pick_confirm(task=PickTask.objects.get(pk=task.pk), quantity=3),
            lambda: pick_short(task=PickTask.objects.get(pk=task.pk), found_quantity=1),
        ]
    )

    assert errors == []
    assert sum(isinstance(r, Conflict) for r in results) == 1
    task.refresh_from_db()
    held = BinStock.objects.get(bin__code="A-01").quantity
    if task.status == PickTask.Status.PICKED:
        assert held == 7
    else:
        # Short: one found and picked, two recorded missing from the bin.
        assert (task.status, held) == (PickTask.Status.SHORT, 7)
    assert bin_ledger_drift() == []


def test_two_wave_builds_never_share_a_shipment(transactional_db):
    site = own_site("own-build", bins=(("A-01", "A", 1),))
    sku = stocked("BUILD-P", site, {"A-01": 100})
    channel = channel_for(site, code="build-ch")
    for _ in range(20):
        planned_order(channel, [(sku, 1)])
    connection.close()

    results, errors = _race([lambda: waves_build(warehouse=site, max_shipments=3)] * 2)

    assert errors == []
    assert PickTask.objects.values("shipment_id").distinct().count() == 20
    assert PickTask.objects.count() == 20
    assert Shipment.objects.filter(status="picking").count() == 20
    numbers = list(PickWave.objects.values_list("number", flat=True))
    assert len(numbers) == len(set(numbers)) == 7
