"""Bin stock under the stock engine's locks: the part `stock.stock_apply` calls.

Every writer of BinStock holds the StockLevel row of the same (product, warehouse)
first, so the level lock serialises all bin changes of a product at a site and the
invariant sum(bins) <= on_hand is checked against a value nobody else can change.
Lock order everywhere: stock levels by pk, then bins by pk (only bins with a unit
limit, on the way in), then bin stock rows by pk.

This module imports nothing from `stock.py` (which imports it); the public bin
operations are in `inventory.services.bins`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.db.models import F
from django.utils import timezone

from core.users import recorded_user
from inventory.models import BinMovement, BinStock

if TYPE_CHECKING:
    from core.users import ActingUser

Key = tuple[int, int]  # (product_id, warehouse_id)


@dataclass(frozen=True)
class BinDelta:
    """One change of one bin's stock of one product, with its journal row's details."""

    bin_id: int
    product_id: int
    delta: int
    type: str
    reference: str = ""
    other_bin_id: int | None = None


def bin_stock_lock(*, keys: Iterable[Key], positive_only: bool = False) -> list[BinStock]:
    """Lock the BinStock rows of these (product, warehouse) keys in pk order.

    The caller holds the keys' stock levels. Bins are joined (not locked) so the
    rows carry their bin's warehouse, zone and pick sequence.
    """
    keys = set(keys)
    if not keys:
        return []
    rows = (
        BinStock.objects.select_for_update(of=("self",))
        .select_related("bin")
        .filter(
            product_id__in={p for p, _ in keys},
            bin__warehouse_id__in={w for _, w in keys},
        )
        .order_by("pk")
    )
    if positive_only:
        rows = rows.filter(quantity__gt=0)
    return [r for r in rows if (r.product_id, r.bin.warehouse_id) in keys]


def bin_deltas_write(*, deltas: list[BinDelta], user: ActingUser | None) -> None:
    """Apply the deltas with F() updates (rows exist and are locked) and journal them."""
    totals: dict[tuple[int, int], int] = defaultdict(int)
    for d in deltas:
        totals[(d.bin_id, d.product_id)] += d.delta
    now = timezone.now()
    for (bin_id, product_id), delta in sorted(totals.items()):
        if delta:
            BinStock.objects.filter(bin_id=bin_id, product_id=product_id).update(
                quantity=F("quantity") + delta, updated_at=now
            )
    bin_movements_write(deltas=deltas, user=user)


def bin_movements_write(*, deltas: list[BinDelta], user: ActingUser | None) -> None:
    """The journal rows of `deltas` (the caller has changed the bin stock accordingly)."""
    actor = recorded_user(user)
    BinMovement.objects.bulk_create(
        [
            BinMovement(
                bin_id=d.bin_id,
                product_id=d.product_id,
                type=d.type,
                delta=d.delta,
                other_bin_id=d.other_bin_id,
                reference=d.reference,
                actor=actor,
            )
            for d in deltas
            if d.delta
        ],
        batch_size=1000,
    )


def bins_follow_on_hand(
    *,
    on_hand: Mapping[Key, int],
    references: Mapping[Key, str],
    user: ActingUser | None,
) -> list[BinDelta]:
    """Keep sum(bins) <= on_hand after on_hand dropped to `on_hand[key]` (levels locked).

    The drop is taken from the unbinned units first (picked units waiting to ship,
    receipts not yet put away); only what they cannot cover leaves the bins, the last
    bin of the pick path first (the first bins stay full for picking). Returns the
    removals written (type `removal`).
    """
    rows = bin_stock_lock(keys=on_hand.keys(), positive_only=True)
    if not rows:
        return []
    by_key: dict[Key, list[BinStock]] = defaultdict(list)
    for row in rows:
        by_key[(row.product_id, row.bin.warehouse_id)].append(row)
    removals: list[BinDelta] = []
    for key, held in by_key.items():
        excess = sum(r.quantity for r in held) - on_hand[key]
        held.sort(key=lambda r: (r.bin.pick_sequence, r.bin.code), reverse=True)
        for row in held:
            if excess <= 0:
                break
            take = min(excess, row.quantity)
            removals.append(
                BinDelta(
                    bin_id=row.bin_id,
                    product_id=row.product_id,
                    delta=-take,
                    type=BinMovement.Type.REMOVAL,
                    reference=references.get(key, ""),
                )
            )
            row.quantity -= take
            excess -= take
    if removals:
        bin_deltas_write(deltas=removals, user=user)
    return removals
