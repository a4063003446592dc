"""Picking at own sites: pick waves, the pick path, scans, confirmations and short picks.

An own site's shipment waits `pending` after planning (no dispatch outbox row:
logistics.services.shipments.dispatches_through_outbox). `waves_build` batches the
open ones into pick waves, each shipment in at most one (Shipment.pick_wave), and moves
them to `picking`; the picker walks the wave's tasks in bin pick-sequence order,
scanning the bin, then each item. When every task of a shipment is done it is
`picked` and waits for the pack station (which moves it to `packed`, then
`dispatched`).

Stock: a confirmed pick takes the units out of the bin through the stock engine
(inventory.services.bins.bin_pick: they become unbinned, in the tote; on_hand and
reserved drop when the shipment ships). A short pick hands the missing units to the
order workflow (logistics.hooks.pick_shortfall), which releases them here, has the
stock engine record them lost and lets allocation find them elsewhere.

Lock order: the order row (short picks only, through the port), the pick task, the
shipment, then the stock engine's levels and bin rows.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple

from django.db import transaction
from django.db.models import F, Q, Sum
from django.utils import timezone

from core.errors import Conflict, ValidationFailed
from core.users import recorded_user
from inventory.bin_selectors import bins_for_pick
from inventory.models import Bin, Product, ProductBarcode, Warehouse
from inventory.services.bins import bin_pick
from logistics import error_codes, sql
from logistics.hooks import ShortPickOutcome, order_timeline, pick_shortfall
from logistics.models import PickTask, PickWave, Shipment, ShipmentLine
from logistics.promise import ship_by_date
from logistics.promise_tables import promise_tables

if TYPE_CHECKING:
    from core.users import ActingUser

logger = logging.getLogger(__name__)

GROUP_BY = ("cutoff", "service_level", "zone")
DEFAULT_MAX_SHIPMENTS = 25
DEFAULT_MAX_UNITS = 250
# Orders in these states are not picked: a hold stops them, a cancel closes them.
_NOT_PICKABLE_ORDER_STATUSES = ("on_hold", "cancelled")


# --- Building waves ------------------------------------------------------------------


class _Task(NamedTuple):
    """A pick task before it is written (waves_build writes thousands: no model instances)."""

    shipment_id: int
    line_id: int
    product_id: int
    bin: Bin
    quantity: int


@dataclass
class _Candidate:
    shipment_id: int
    ship_by: dt.date | None
    service_level_id: int | None
    cutoff: dt.datetime | None = None
    zone: str = ""
    units: int = 0
    tasks: list[_Task] = field(default_factory=list)


def _own_site(warehouse: Warehouse) -> None:
    if warehouse.kind != Warehouse.Kind.OWN:
        raise ValidationFailed(
            f"{warehouse.code} is operated by an LSP: it picks its own shipments.",
            code=error_codes.NOT_AN_OWN_SITE,
        )


def _open_shipments(warehouse: Warehouse) -> list[_Candidate]:
    """The site's shipments waiting for a wave, locked (others building waves skip them)."""
    rows = (
        Shipment.objects.select_for_update(of=("self",), skip_locked=True)
        .filter(
            warehouse=warehouse,
            direction=Shipment.Direction.OUTBOUND,
            status=Shipment.Status.PENDING,
            pick_wave__isnull=True,
        )
        .exclude(order__status__in=_NOT_PICKABLE_ORDER_STATUSES)
        # Held at the customs gate: the declaration is incomplete.
        .exclude(Q(customs_declaration__isnull=False) & ~Q(customs_declaration__problems=[]))
        .order_by("ship_by", "pk")
        .values_list("pk", "ship_by", "service_level_id")
    )
    return [_Candidate(pk, ship_by, level) for pk, ship_by, level in rows]


def _promised_elsewhere(warehouse: Warehouse) -> dict[tuple[int, int], int]:
    """Units open tasks of other waves will take from each (bin, product)."""
    rows = (
        PickTask.objects.filter(status=PickTask.Status.OPEN, bin__warehouse=warehouse)
        .values("bin_id", "product_id")
        .annotate(n=Sum(F("quantity") - F("picked_quantity")))
    )
    return {(r["bin_id"], r["product_id"]): r["n"] for r in rows}


def _tasks_for(
    candidate: _Candidate,
    lines: list[tuple[int, int, int]],
    where: dict[int, list[tuple[Bin, int]]],
    free: dict[tuple[int, int], int],
) -> bool:
    """Fill `candidate.tasks` from the bins along the path; False (nothing taken from
    `free`) when some line cannot be covered from the bins."""
    taken: dict[tuple[int, int], int] = defaultdict(int)
    tasks: list[_Task] = []
    for line_id, product_id, quantity in lines:
        need = quantity
        for bin, held in where.get(product_id, []):
            if not need:
                break
            key = (bin.pk, product_id)
            left = min(held, free.get(key, held)) - taken[key]
            take = min(left, need)
            if take <= 0:
                continue
            taken[key] += take
            need -= take
            tasks.append(_Task(candidate.shipment_id, line_id, product_id, bin, take))
        if need:
            return False
    for key, n in taken.items():
        free[key] = free.get(key, _held(where, key)) - n
    candidate.tasks = tasks
    candidate.units = sum(t.quantity for t in tasks)
    first = min(tasks, key=lambda t: (t.bin.pick_sequence, t.bin.code))
    candidate.zone = first.bin.zone
    return True


def _held(where: dict[int, list[tuple[Bin, int]]], key: tuple[int, int]) -> int:
    bin_id, product_id = key
    return next(q for b, q in where[product_id] if b.pk == bin_id)


def _group_key(candidate: _Candidate, by: Sequence[str]) -> tuple[object, ...]:
    values = {
        "cutoff": candidate.cutoff,
        "service_level": candidate.service_level_id,
        "zone": candidate.zone,
    }
    return tuple(values[name] for name in by)


def _chunks(
    candidates: list[_Candidate], *, max_shipments: int, max_units: int
) -> list[list[_Candidate]]:
    # In ship-by order; a shipment bigger than max_units alone makes a wave.
    chunks: list[list[_Candidate]] = []
    current: list[_Candidate] = []
    units = 0
    for c in candidates:
        if current and (len(current) >= max_shipments or units + c.units > max_units):
            chunks.append(current)
            current, units = [], 0
        current.append(c)
        units += c.units
    if current:
        chunks.append(current)
    return chunks


def _lines_by_shipment(candidates: list[_Candidate]) -> dict[int, list[tuple[int, int, int]]]:
    # {shipment id: [(line id, product id, quantity), ...]} in line order: one query.
    by_shipment: dict[int, list[tuple[int, int, int]]] = defaultdict(list)
    for line_id, shipment_id, product_id, quantity in (
        ShipmentLine.objects.filter(shipment_id__in=[c.shipment_id for c in candidates])
        .order_by("shipment_id", "order_line__line_number", "pk")
        .values_list("pk", "shipment_id", "order_line__product_id", "quantity")
    ):
        by_shipment[shipment_id].append((line_id, product_id, quantity))
    return by_shipment


def _grouped(
    *, warehouse: Warehouse, candidates: list[_Candidate], now: dt.datetime, by: Sequence[str]
) -> list[list[_Candidate]]:
    """The candidates whose lines the bins cover (tasks filled in), grouped by `by`."""
    by_shipment = _lines_by_shipment(candidates)
    where = bins_for_pick(
        warehouse_id=warehouse.pk,
        product_ids={p for lines in by_shipment.values() for _, p, _ in lines},
    )
    free = {
        (bin.pk, product_id): held - promised
        for (bin_id, product_id), promised in _promised_elsewhere(warehouse).items()
        for bin, held in where.get(product_id, [])
        if bin.pk == bin_id
    }
    calendar = promise_tables().calendar(warehouse.pk)
    default_day = ship_by_date(calendar, now)
    groups: dict[tuple[object, ...], list[_Candidate]] = defaultdict(list)
    skipped = 0
    for c in candidates:
        lines = by_shipment.get(c.shipment_id)
        if not lines or not _tasks_for(c, lines, where, free):
            skipped += 1
            continue
        c.cutoff = calendar.cutoff_at(c.ship_by or default_day)
        groups[_group_key(c, by)].append(c)
    if skipped:
        logger.info("%s shipment(s) at %s not waved: units not in bins", skipped, warehouse.code)
    return list(groups.values())


@transaction.atomic
def waves_build(
    *,
    warehouse: Warehouse,
    now: dt.datetime | None = None,
    max_shipments: int = DEFAULT_MAX_SHIPMENTS,
    max_units: int = DEFAULT_MAX_UNITS,
    by: Sequence[str] = GROUP_BY,
    user: ActingUser | None = None,
) -> list[PickWave]:
    """Batch the own site's open shipments into pick waves and move them to `picking`.

    Open: outbound, `pending`, in no wave, the order neither on hold nor cancelled, not
    held at the customs gate. Shipments are grouped by `by` (any of "cutoff": the site's
    cut-off on their ship-by day, or the next one at `now` without a ship-by;
    "service_level"; "zone": the zone of their first bin on the pick path), earliest
    cut-off first, and each group is cut into waves of at most `max_shipments` shipments
    and `max_units` units (a bigger shipment is a wave of its own). Each line is taken
    from the bins along the pick path, net of what open tasks already take; a shipment
    whose units are not all in bins waits for the next build. Returns the new waves, in
    that order. Raises ValidationFailed for an LSP site or bad limits.
    """
    _own_site(warehouse)
    if max_shipments < 1 or max_units < 1 or not set(by) <= set(GROUP_BY):
        raise ValidationFailed(
            "Wave limits must be at least 1 and groups one of cutoff, service_level, zone.",
            code=error_codes.WAVE_INVALID_LIMITS,
        )
    now = now or timezone.now()
    # One build per site at a time (the wave numbers count up per site). No key update:
    # rows referencing the site (stock movements, shipments) are still written meanwhile.
    Warehouse.objects.select_for_update(no_key=True).filter(pk=warehouse.pk).values("pk").get()
    candidates = _open_shipments(warehouse)
    if not candidates:
        return []
    groups = _grouped(warehouse=warehouse, candidates=candidates, now=now, by=by)
    ordered = sorted(groups, key=lambda cs: (cs[0].cutoff, cs[0].service_level_id or 0, cs[0].zone))
    return _waves_write(
        warehouse=warehouse,
        chunks=[
            chunk
            for group in ordered
            for chunk in _chunks(group, max_shipments=max_shipments, max_units=max_units)
        ],
        by=by,
        user=user,
    )


def _waves_write(
    *,
    warehouse: Warehouse,
    chunks: list[list[_Candidate]],
    by: Sequence[str],
    user: ActingUser | None,
) -> list[PickWave]:
    last = (
        PickWave.objects.filter(warehouse=warehouse)
        .order_by("-number")
        .values_list("number", flat=True)
        .first()
    ) or 0
    creator = recorded_user(user)
    waves = PickWave.objects.bulk_create(
        [
            PickWave(
                warehouse=warehouse,
                number=last + i,
                cutoff=chunk[0].cutoff if "cutoff" in by else None,
                service_level_id=chunk[0].service_level_id if "service_level" in by else None,
                zone=chunk[0].zone if "zone" in by else "",
                created_by=creator,
            )
            for i, chunk in enumerate(chunks, start=1)
        ]
    )
    rows: list[tuple[object, ...]] = []
    shipment_ids: list[int] = []
    wave_ids: list[int] = []
    for wave, chunk in zip(waves, chunks, strict=True):
        path = sorted(
            (t for c in chunk for t in c.tasks),
            key=lambda t: (t.bin.pick_sequence, t.bin.code, t.shipment_id, t.line_id),
        )
        rows += [
            (wave.pk, t.shipment_id, t.line_id, t.product_id, t.bin.pk, t.quantity, sequence)
            for sequence, t in enumerate(path, start=1)
        ]
        shipment_ids += [c.shipment_id for c in chunk]
        wave_ids += [wave.pk] * len(chunk)
    sql.pick_tasks_write(rows=rows)
    sql.shipments_into_waves(
        shipment_ids=shipment_ids, wave_ids=wave_ids, status=Shipment.Status.PICKING
    )
    return waves


@transaction.atomic
def wave_cancel(*, wave: PickWave, user: ActingUser | None = None) -> PickWave:
    """Give an unstarted wave's shipments back to the open pool (`pending`, no wave).

    Raises Conflict (wave_not_cancellable) once anything in it was picked.
    """
    locked = PickWave.objects.select_for_update().get(pk=wave.pk)
    started = locked.tasks.exclude(status=PickTask.Status.OPEN).exists() or (
        locked.tasks.filter(picked_quantity__gt=0).exists()
    )
    if locked.status not in (PickWave.Status.OPEN, PickWave.Status.PICKING) or started:
        raise Conflict(
            f"Wave {locked.code} has picks already; finish it instead.",
            code=error_codes.WAVE_NOT_CANCELLABLE,
        )
    locked.tasks.update(status=PickTask.Status.CANCELLED)
    Shipment.objects.filter(pick_wave=locked, status=Shipment.Status.PICKING).update(
        pick_wave=None, status=Shipment.Status.PENDING, updated_at=timezone.now()
    )
    locked.status = PickWave.Status.CANCELLED
    locked.save(update_fields=["status", "updated_at"])
    wave.status = locked.status
    return locked


# --- Picking -------------------------------------------------------------------------


def _task_lock(task: PickTask) -> PickTask:
    return (
        PickTask.objects.select_for_update(of=("self",))
        .select_related("bin", "product", "wave")
        .get(pk=task.pk)
    )


def _task_open(task: PickTask) -> None:
    if task.status != PickTask.Status.OPEN:
        raise Conflict(
            f"This pick is done: {task.picked_quantity} of {task.quantity} "
            f"{task.product.sku} picked ({task.get_status_display().lower()}).",
            code=error_codes.PICK_TASK_DONE,
        )


def _sync(target: PickTask, source: PickTask) -> PickTask:
    for name in ("status", "picked_quantity", "bin_scanned", "picked_at", "picked_by_id"):
        setattr(target, name, getattr(source, name))
    return source


def _wave_started(wave: PickWave) -> None:
    if wave.status == PickWave.Status.OPEN:
        PickWave.objects.filter(pk=wave.pk, status=PickWave.Status.OPEN).update(
            status=PickWave.Status.PICKING, updated_at=timezone.now()
        )
        wave.status = PickWave.Status.PICKING


@transaction.atomic
def pick_scan_bin(*, task: PickTask, code: str, user: ActingUser | None = None) -> PickTask:
    """The picker scanned a bin label for `task`. Raises ValidationFailed (pick_wrong_bin)
    naming the right bin, Conflict (pick_task_done) when the task is done."""
    locked = _task_lock(task)
    _task_open(locked)
    scanned = (code or "").strip()
    if scanned.upper() != locked.bin.code.upper():
        raise ValidationFailed(
            f"Wrong bin: you scanned {scanned or 'nothing'}; go to bin {locked.bin.code}.",
            code=error_codes.PICK_WRONG_BIN,
            errors=[{"field": "code", "message": f"Scan bin {locked.bin.code}."}],
        )
    if not locked.bin_scanned:
        locked.bin_scanned = True
        locked.save(update_fields=["bin_scanned"])
    _wave_started(locked.wave)
    return _sync(task, locked)


def product_for_barcode(barcode: str) -> Product | None:
    """The product a scanned barcode (any of its barcodes, or its SKU) names, or None."""
    code = (barcode or "").strip()
    if not code:
        return None
    product_id = (
        ProductBarcode.objects.filter(barcode=code).values_list("product_id", flat=True).first()
    )
    if product_id is not None:
        return Product.objects.get(pk=product_id)
    return Product.objects.filter(sku__iexact=code).first()


@transaction.atomic
def pick_scan_item(*, task: PickTask, barcode: str, user: ActingUser | None = None) -> PickTask:
    """The picker scanned one item for `task`: one unit is picked (`pick_confirm`).

    Refused with a message saying what to do: the bin not scanned yet
    (pick_bin_not_scanned), an unknown barcode (pick_unknown_barcode), another product
    (pick_wrong_item), an extra unit of a done task (pick_task_done).
    """
    locked = _task_lock(task)
    _task_open(locked)
    if not locked.bin_scanned:
        raise ValidationFailed(
            f"Scan bin {locked.bin.code} first.",
            code=error_codes.PICK_BIN_NOT_SCANNED,
            errors=[{"field": "code", "message": f"Scan bin {locked.bin.code}."}],
        )
    product = product_for_barcode(barcode)
    if product is None:
        raise ValidationFailed(
            f"Unknown barcode {barcode.strip()!r}: scan the item's barcode.",
            code=error_codes.PICK_UNKNOWN_BARCODE,
            errors=[{"field": "code", "message": "Unknown barcode."}],
        )
    if product.pk != locked.product_id:
        raise ValidationFailed(
            f"Wrong item: that is {product.sku}; pick {locked.product.sku} "
            f"({locked.product.name}) from bin {locked.bin.code}.",
            code=error_codes.PICK_WRONG_ITEM,
            errors=[{"field": "code", "message": f"Pick {locked.product.sku}."}],
        )
    return _sync(task, _confirm(locked, quantity=1, user=user))


@transaction.atomic
def pick_confirm(*, task: PickTask, quantity: int, user: ActingUser | None = None) -> PickTask:
    """`quantity` more units of `task` are in the tote: they leave the bin (stock engine).

    Two pickers confirming the same task are serialised on its row: the second sees
    what the first picked and is refused (pick_too_many / pick_task_done) rather than
    taking the units out of the bin twice. When the task is complete its shipment may
    become `picked` and its wave `done`.
    """
    locked = _task_lock(task)
    _task_open(locked)
    return _sync(task, _confirm(locked, quantity=quantity, user=user))


def _confirm(task: PickTask, *, quantity: int, user: ActingUser | None) -> PickTask:
    if not isinstance(quantity, int) or quantity < 1 or quantity > task.remaining:
        raise Conflict(
            f"Only {task.remaining} of {task.product.sku} left to pick here (got {quantity}).",
            code=error_codes.PICK_TOO_MANY,
        )
    bin_pick(
        bin=task.bin,
        product=task.product,
        quantity=quantity,
        user=user,
        reference=f"{task.wave.code} SHP-{task.shipment_id}",
    )
    task.picked_quantity += quantity
    fields = ["picked_quantity"]
    if task.picked_quantity == task.quantity:
        task.status = PickTask.Status.PICKED
        task.picked_by = recorded_user(user)
        task.picked_at = timezone.now()
        fields += ["status", "picked_by", "picked_at"]
    task.save(update_fields=fields)
    _wave_started(task.wave)
    if task.status != PickTask.Status.OPEN:
        _after_task(task)
    return task


@transaction.atomic
def pick_short(
    *, task: PickTask, found_quantity: int, user: ActingUser | None = None
) -> ShortPickOutcome:
    """The bin holds only `found_quantity` units for `task` (those scanned so far count).

    The found units leave the bin; the missing ones go to the order workflow
    (logistics.hooks.pick_shortfall): released here, recorded lost from the bin,
    re-allocated elsewhere or backordered. The rest of the shipment continues (its line
    shrinks) or, for a ship-complete order, waits. The task shows in the exception
    queue (short_pick) until the shipment is packed. Raises ValidationFailed
    (pick_invalid_short) unless picked so far <= found < quantity.
    """
    order_id = Shipment.objects.values_list("order_id", flat=True).get(pk=task.shipment_id)
    pick_shortfall.impl.order_lock(order_id=order_id)
    locked = _task_lock(task)
    _task_open(locked)
    if (
        not isinstance(found_quantity, int)
        or found_quantity < locked.picked_quantity
        or found_quantity >= locked.quantity
    ):
        raise ValidationFailed(
            f"Found must be between {locked.picked_quantity} and {locked.quantity - 1} "
            f"for a short pick of {locked.product.sku}.",
            code=error_codes.PICK_INVALID_SHORT,
            errors=[{"field": "found", "message": "Enter how many units you found."}],
        )
    more = found_quantity - locked.picked_quantity
    if more:
        bin_pick(
            bin=locked.bin,
            product=locked.product,
            quantity=more,
            user=user,
            reference=f"{locked.wave.code} SHP-{locked.shipment_id}",
        )
    missing = locked.quantity - found_quantity
    shipment = (
        Shipment.objects.select_for_update(of=("self",))
        .select_related("warehouse", "order")
        .get(pk=locked.shipment_id)
    )
    # An open task's line exists (a line only goes when a short pick empties it).
    line = ShipmentLine.objects.select_related("order_line").get(pk=locked.shipment_line_id or 0)
    outcome = pick_shortfall.impl.short_pick_reallocate(
        shipment=shipment, shipment_line=line, bin_id=locked.bin_id, missing=missing, user=user
    )
    locked.picked_quantity = found_quantity
    locked.status = PickTask.Status.SHORT
    locked.holds_shipment = outcome == ShortPickOutcome.WAIT
    locked.picked_by = recorded_user(user)
    locked.picked_at = timezone.now()
    locked.save(
        update_fields=["picked_quantity", "status", "holds_shipment", "picked_by", "picked_at"]
    )
    _wave_started(locked.wave)
    if not ShipmentLine.objects.filter(shipment=shipment).exists():
        # Nothing of it was found: the shipment is over (its units are re-allocated).
        shipment.status = Shipment.Status.CANCELLED
        shipment.save(update_fields=["status", "updated_at"])
        order_timeline.impl.shipment_cancelled_event(
            shipment=shipment, at_provider=False, user=user, actor="system:picking"
        )
    _after_task(locked)
    _sync(task, locked)
    task.holds_shipment = locked.holds_shipment
    return outcome


def _after_task(task: PickTask) -> None:
    """A task is done: its shipment is `picked` once all of its tasks are (and none of
    them holds it back), its wave `done` once none is open."""
    if not PickTask.objects.filter(
        Q(status=PickTask.Status.OPEN) | Q(holds_shipment=True), shipment_id=task.shipment_id
    ).exists():
        Shipment.objects.filter(pk=task.shipment_id, status=Shipment.Status.PICKING).update(
            status=Shipment.Status.PICKED, updated_at=timezone.now()
        )
    if not PickTask.objects.filter(wave_id=task.wave_id, status=PickTask.Status.OPEN).exists():
        PickWave.objects.filter(pk=task.wave_id).exclude(status=PickWave.Status.DONE).update(
            status=PickWave.Status.DONE, updated_at=timezone.now()
        )
        task.wave.status = PickWave.Status.DONE
