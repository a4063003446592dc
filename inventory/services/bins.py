"""Bins of own warehouses: putaway, bin-to-bin moves, picks, bin maintenance.

Bin stock is changed only here and in `stock.stock_apply` (which takes an on_hand drop
out of the bins when the unbinned units cannot cover it), always under the lock of the
stock level it belongs to: levels by pk, then bins by pk (only a bin with a unit
limit, on the way in), then bin stock rows by pk (inventory.services.bin_stock).
Per (product, warehouse): sum(BinStock.quantity) <= StockLevel.on_hand; the rest is
"unbinned" (received and not yet put away, or picked and not yet shipped).
Every change writes BinMovement rows in the same transaction
(`manage.py verify_stock_ledger` checks them).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.db import transaction
from django.db.models import Sum

from core.errors import Conflict, ValidationFailed
from inventory import error_codes
from inventory.errors import InsufficientStock
from inventory.models import (
    AdjustmentReason,
    Bin,
    BinMovement,
    BinStock,
    Product,
    StockLevel,
    StockMovement,
    Warehouse,
)
from inventory.services.bin_stock import (
    BinDelta,
    bin_deltas_write,
    bin_movements_write,
    bin_stock_lock,
)
from inventory.services.imports import rows_from_csv
from inventory.services.stock import (
    StockChange,
    require_positive,
    stock_apply,
    stock_levels_lock,
)

if TYPE_CHECKING:
    from core.users import ActingUser

M = BinMovement.Type


def _bin_usable(bin: Bin, *, warehouse_id: int, incoming: bool) -> None:
    if bin.warehouse_id != warehouse_id:
        raise ValidationFailed(
            f"Bin {bin.code} is not in this warehouse.",
            code=error_codes.INVALID_BIN,
            errors=[{"field": "bin", "message": "Choose a bin of this warehouse."}],
        )
    if incoming and not bin.is_active:
        raise ValidationFailed(
            f"Bin {bin.code} is inactive: nothing can be put into it.",
            code=error_codes.INVALID_BIN,
            errors=[{"field": "bin", "message": "Choose an active bin."}],
        )


def _level_locked(*, product: Product, warehouse_id: int) -> StockLevel:
    level = stock_levels_lock(keys=[(product.pk, warehouse_id)]).get((product.pk, warehouse_id))
    if level is None:
        raise InsufficientStock(
            f"{product.sku} has no stock here.",
            code=error_codes.UNBINNED_SHORT,
            sku=product.sku,
        )
    return level


def _rows_ensure_and_lock(
    *, product: Product, warehouse_id: int, bin_ids: Iterable[int]
) -> dict[int, BinStock]:
    # New rows are inserted under the level lock (every writer of this product's bin stock
    # holds it), then all the product's rows at the site are locked in pk order.
    BinStock.objects.bulk_create(
        [BinStock(bin_id=b, product=product) for b in sorted(set(bin_ids))],
        ignore_conflicts=True,
    )
    return {r.bin_id: r for r in bin_stock_lock(keys=[(product.pk, warehouse_id)])}


def _room_check(bin: Bin, *, quantity: int) -> None:
    # The bin row is locked (bins by pk, after the levels), so two products put into the
    # same limited bin at once are checked one after the other.
    if bin.max_units is None:
        return
    Bin.objects.select_for_update().filter(pk=bin.pk).values_list("pk").get()
    held = BinStock.objects.filter(bin=bin).aggregate(n=Sum("quantity"))["n"] or 0
    if held + quantity > bin.max_units:
        raise Conflict(
            f"Bin {bin.code} holds {held} of at most {bin.max_units} units; "
            f"{quantity} more do not fit.",
            code=error_codes.BIN_FULL,
            errors=[{"field": "bin", "message": f"Room for {max(bin.max_units - held, 0)}."}],
        )


@transaction.atomic
def bin_putaway(
    *,
    warehouse: Warehouse,
    product: Product,
    bin: Bin,
    quantity: int,
    user: ActingUser | None = None,
    reference: str = "",
) -> BinStock:
    """Put `quantity` unbinned units of `product` at `warehouse` into `bin`.

    Raises ValidationFailed (invalid_quantity; invalid_bin: another warehouse's or an
    inactive bin), InsufficientStock (unbinned_short: fewer units are unbinned) and
    Conflict (bin_full: past the bin's max_units). Returns the bin's stock row.
    """
    require_positive(quantity)
    _bin_usable(bin, warehouse_id=warehouse.pk, incoming=True)
    level = _level_locked(product=product, warehouse_id=warehouse.pk)
    _room_check(bin, quantity=quantity)
    rows = _rows_ensure_and_lock(product=product, warehouse_id=warehouse.pk, bin_ids=[bin.pk])
    unbinned = level.on_hand - sum(r.quantity for r in rows.values())
    if quantity > unbinned:
        raise InsufficientStock(
            f"{product.sku} at {warehouse.code}: {unbinned} unbinned; cannot put away {quantity}.",
            code=error_codes.UNBINNED_SHORT,
            sku=product.sku,
            unbinned=unbinned,
        )
    bin_deltas_write(
        deltas=[BinDelta(bin.pk, product.pk, quantity, M.PUTAWAY, reference)], user=user
    )
    row = rows[bin.pk]
    row.quantity += quantity
    return row


@transaction.atomic
def bin_move(
    *,
    from_bin: Bin,
    to_bin: Bin,
    product: Product,
    quantity: int,
    user: ActingUser | None = None,
    reference: str = "",
) -> tuple[BinStock, BinStock]:
    """Move `quantity` of `product` from one bin to another of the same warehouse.

    on_hand and the unbinned remainder do not change. Raises ValidationFailed
    (invalid_quantity; invalid_bin: the same bin, different warehouses, an inactive
    target), InsufficientStock (bin_short) and Conflict (bin_full). Returns the two
    stock rows (from, to) with their new quantities.
    """
    require_positive(quantity)
    if from_bin.pk == to_bin.pk:
        raise ValidationFailed(
            "Moving to the same bin changes nothing.",
            code=error_codes.INVALID_BIN,
            errors=[{"field": "to_bin", "message": "Choose another bin."}],
        )
    _bin_usable(to_bin, warehouse_id=from_bin.warehouse_id, incoming=True)
    _level_locked(product=product, warehouse_id=from_bin.warehouse_id)
    _room_check(to_bin, quantity=quantity)
    rows = _rows_ensure_and_lock(
        product=product, warehouse_id=from_bin.warehouse_id, bin_ids=[to_bin.pk]
    )
    source = rows.get(from_bin.pk)
    held = source.quantity if source else 0
    if quantity > held:
        raise InsufficientStock(
            f"Bin {from_bin.code} holds {held} of {product.sku}; cannot move {quantity}.",
            code=error_codes.BIN_SHORT,
            sku=product.sku,
            bin=from_bin.code,
            held=held,
        )
    bin_deltas_write(
        deltas=[
            BinDelta(from_bin.pk, product.pk, -quantity, M.MOVE, reference, to_bin.pk),
            BinDelta(to_bin.pk, product.pk, quantity, M.MOVE, reference, from_bin.pk),
        ],
        user=user,
    )
    target = rows[to_bin.pk]
    assert source is not None  # noqa: S101 - held > 0 above
    source.quantity -= quantity
    target.quantity += quantity
    return source, target


@dataclass(frozen=True)
class BinPick:
    """One pick for `bin_picks`: `quantity` of a product taken out of a bin."""

    bin: Bin
    product_id: int
    quantity: int
    reference: str = ""


@transaction.atomic
def bin_pick(
    *,
    bin: Bin,
    product: Product,
    quantity: int,
    user: ActingUser | None = None,
    reference: str = "",
) -> BinStock:
    """Take `quantity` of `product` out of `bin` for an order (picking).

    Only the bin stock drops: the units become unbinned (in the tote) and on_hand
    and reserved change when the shipment ships (stock_ship_allocations), which
    takes them from the unbinned units. Raises ValidationFailed (invalid_quantity)
    and InsufficientStock (bin_short). Returns the bin's stock row.
    """
    bin_picks(picks=[BinPick(bin, product.pk, quantity, reference)], user=user)
    return BinStock.objects.get(bin=bin, product=product)


@transaction.atomic
def bin_picks(*, picks: Sequence[BinPick], user: ActingUser | None = None) -> None:
    """`bin_pick` for many picks in one transaction (a wave, a pick list).

    All stock levels are locked first (pk order), then the bin stock rows, so two
    pickers never deadlock. All or nothing: InsufficientStock (bin_short) when any bin
    holds less than its picks together.
    """
    if not picks:
        return
    wanted: dict[tuple[int, int], int] = defaultdict(int)
    for p in picks:
        require_positive(p.quantity)
        wanted[(p.bin.pk, p.product_id)] += p.quantity
    keys = {(p.product_id, p.bin.warehouse_id) for p in picks}
    stock_levels_lock(keys=keys)
    rows = {(r.bin_id, r.product_id): r for r in bin_stock_lock(keys=keys)}
    bins = {p.bin.pk: p.bin for p in picks}
    for (bin_id, product_id), quantity in wanted.items():
        held = rows[(bin_id, product_id)].quantity if (bin_id, product_id) in rows else 0
        if quantity > held:
            sku = Product.objects.values_list("sku", flat=True).get(pk=product_id)
            raise InsufficientStock(
                f"Bin {bins[bin_id].code} holds {held} of {sku}; cannot pick {quantity}.",
                code=error_codes.BIN_SHORT,
                sku=sku,
                bin=bins[bin_id].code,
                held=held,
            )
    bin_deltas_write(
        deltas=[BinDelta(p.bin.pk, p.product_id, -p.quantity, M.PICK, p.reference) for p in picks],
        user=user,
    )


@transaction.atomic
def bins_putaway_unbinned(
    *, warehouse: Warehouse, user: ActingUser | None = None, reference: str = "initial putaway"
) -> int:
    """Put every unbinned unit of the warehouse away at once: a site that starts using
    bins (or the demo). A product already in a bin gets the rest there (the bin holding
    most of it); the others are dealt to the active bins without a unit limit along the
    pick path, in turn (several products share a bin when there are more products than
    bins). Returns the units put away (0 without such bins).

    Locks every level of the warehouse (pk order), then its bin stock, like any other
    stock change; writes in a few statements whatever the number of products.
    """
    _own_site(warehouse)
    product_ids = StockLevel.objects.filter(warehouse=warehouse, on_hand__gt=0).values_list(
        "product_id", flat=True
    )
    keys = [(p, warehouse.pk) for p in product_ids]
    locked = stock_levels_lock(keys=keys)
    held: dict[tuple[int, int], int] = {}
    binned: dict[int, int] = defaultdict(int)
    home: dict[int, tuple[int, int]] = {}
    for row in bin_stock_lock(keys=keys):
        held[(row.bin_id, row.product_id)] = row.quantity
        binned[row.product_id] += row.quantity
        if row.quantity > home.get(row.product_id, (0, 0))[0]:
            home[row.product_id] = (row.quantity, row.bin_id)
    bins = list(
        Bin.objects.filter(warehouse=warehouse, is_active=True, max_units__isnull=True)
        .order_by("pick_sequence", "code")
        .values_list("pk", flat=True)
    )
    if not bins:
        return 0
    deltas, turn = [], 0
    for (product_id, _), level in sorted(locked.items()):
        unbinned = level.on_hand - binned[product_id]
        if unbinned <= 0:
            continue
        if product_id in home:
            target = home[product_id][1]
        else:
            target, turn = bins[turn % len(bins)], turn + 1
        deltas.append(BinDelta(target, product_id, unbinned, M.PUTAWAY, reference))
    # The rows are locked (or new, under the level locks): writing the new quantity is
    # adding the delta, in one statement for the whole site.
    BinStock.objects.bulk_create(
        [
            BinStock(
                bin_id=d.bin_id,
                product_id=d.product_id,
                quantity=held.get((d.bin_id, d.product_id), 0) + d.delta,
            )
            for d in deltas
        ],
        update_conflicts=True,
        unique_fields=["bin", "product"],
        update_fields=["quantity", "updated_at"],
        batch_size=1000,
    )
    bin_movements_write(deltas=deltas, user=user)
    return sum(d.delta for d in deltas)


@transaction.atomic
def bin_pick_missing(
    *,
    bin: Bin,
    product: Product,
    quantity: int,
    reference: str = "",
    user: ActingUser | None = None,
) -> int:
    """A picker found `quantity` units of `product` missing from `bin` (a short pick).

    They leave the bin (a `removal` row) and on_hand (an adjustment, reason `lost`) in
    one transaction under the level lock, so nothing can be promised from them again.
    The caller has released their reservation first (reserved <= on_hand holds).
    Returns how many units left the bin (fewer than `quantity` when it held fewer).
    Raises InsufficientStock when on_hand would fall below what is still reserved.
    """
    require_positive(quantity)
    level = _level_locked(product=product, warehouse_id=bin.warehouse_id)
    rows = _rows_ensure_and_lock(product=product, warehouse_id=bin.warehouse_id, bin_ids=[bin.pk])
    taken = min(quantity, rows[bin.pk].quantity)
    if taken:
        bin_deltas_write(
            deltas=[BinDelta(bin.pk, product.pk, -taken, M.REMOVAL, reference)], user=user
        )
    stock_apply(
        changes=[
            StockChange(
                product_id=product.pk,
                warehouse_id=bin.warehouse_id,
                on_hand_delta=-quantity,
                type=StockMovement.Type.ADJUSTMENT,
                reason=AdjustmentReason.LOST,
                reference=reference,
                note=f"short pick at bin {bin.code}",
            )
        ],
        user=user,
        locked={(product.pk, bin.warehouse_id): level},
    )
    return taken


# --- Bin maintenance --------------------------------------------------------------------


def _own_site(warehouse: Warehouse) -> None:
    if warehouse.kind != Warehouse.Kind.OWN:
        raise ValidationFailed(
            f"{warehouse.code} is operated by an LSP: bins belong to own warehouses only.",
            code=error_codes.INVALID_BIN,
            errors=[{"field": "warehouse", "message": "Choose an own warehouse."}],
        )


@dataclass(frozen=True)
class BinRow:
    """One bin as imported: `code,zone,pick_sequence`."""

    code: str
    zone: str
    pick_sequence: int


BIN_CSV_COLUMNS = {"code", "zone", "pick_sequence"}


def bin_rows_from_csv(*, text: str) -> list[BinRow]:
    """Read `code,zone,pick_sequence` rows (header first). Raises ValidationFailed
    (import_invalid: a missing column; invalid_bin: a sequence that is not a whole number)."""
    rows = rows_from_csv(text=text, required=BIN_CSV_COLUMNS)
    out, errors = [], []
    for n, row in enumerate(rows, start=2):
        raw = row.get("pick_sequence", "")
        try:
            sequence = int(raw or "0")
        except ValueError:
            errors.append(
                {"field": f"line {n}", "message": f"pick_sequence {raw!r} is not a number."}
            )
            continue
        out.append(
            BinRow(code=row.get("code", ""), zone=row.get("zone", ""), pick_sequence=sequence)
        )
    if errors:
        raise ValidationFailed(
            f"{len(errors)} bin row(s) are invalid; nothing was imported.",
            code=error_codes.INVALID_BIN,
            errors=errors,
        )
    return out


@transaction.atomic
def bins_import(*, warehouse: Warehouse, rows: Sequence[BinRow]) -> tuple[int, int]:
    """Create the bins of `rows` at an own warehouse, or update zone and pick sequence of
    those that exist (by code). Returns (created, updated).

    Raises ValidationFailed (invalid_bin) for an LSP site, a blank or too long code or
    zone, a negative sequence or a code twice in the file; nothing is applied then.
    """
    _own_site(warehouse)
    errors = []
    seen: set[str] = set()
    for n, row in enumerate(rows, start=1):
        problem = _bin_row_problem(row, seen)
        if problem:
            errors.append({"field": f"row {n}", "message": problem})
        seen.add(row.code)
    if errors:
        raise ValidationFailed(
            f"{len(errors)} bin row(s) are invalid; nothing was imported.",
            code=error_codes.INVALID_BIN,
            errors=errors,
        )
    existing = {b.code: b for b in Bin.objects.filter(warehouse=warehouse, code__in=seen)}
    new = [
        Bin(warehouse=warehouse, code=r.code, zone=r.zone, pick_sequence=r.pick_sequence)
        for r in rows
        if r.code not in existing
    ]
    changed = []
    for r in rows:
        old = existing.get(r.code)
        if old is not None and (old.zone, old.pick_sequence) != (r.zone, r.pick_sequence):
            old.zone, old.pick_sequence = r.zone, r.pick_sequence
            changed.append(old)
    Bin.objects.bulk_create(new, batch_size=1000)
    Bin.objects.bulk_update(changed, ["zone", "pick_sequence", "updated_at"], batch_size=1000)
    return len(new), len(changed)


def _bin_row_problem(row: BinRow, seen: set[str]) -> str:
    code_max = Bin._meta.get_field("code").max_length or 0
    zone_max = Bin._meta.get_field("zone").max_length or 0
    if not row.code or len(row.code) > code_max:
        return f"A bin code is 1 to {code_max} characters."
    if row.code in seen:
        return f"Bin {row.code} appears twice."
    if len(row.zone) > zone_max:
        return f"A zone is at most {zone_max} characters."
    if row.pick_sequence < 0 or row.pick_sequence > 2_000_000_000:
        return "The pick sequence is a whole number of zero or more."
    return ""


@transaction.atomic
def bin_create(
    *,
    warehouse: Warehouse,
    code: str,
    zone: str = "",
    pick_sequence: int = 0,
    max_units: int | None = None,
) -> Bin:
    """Create one bin at an own warehouse (full_clean: unique code per warehouse)."""
    _own_site(warehouse)
    bin = Bin(
        warehouse=warehouse,
        code=code,
        zone=zone,
        pick_sequence=pick_sequence,
        max_units=max_units,
    )
    bin.full_clean()
    bin.save()
    return bin
