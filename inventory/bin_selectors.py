"""Read-side queries of bins (own warehouses): pick paths, putaway suggestions, checks."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any, NamedTuple

from django.db.models import IntegerField, OuterRef, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce

from core.errors import NotFound
from inventory import error_codes
from inventory.models import Bin, BinMovement, BinStock, Product, StockLevel, Warehouse


def bins_for_pick(
    *, warehouse_id: int, product_ids: Iterable[int]
) -> dict[int, list[tuple[Bin, int]]]:
    """Where the products lie at the warehouse: {product_id: [(bin, quantity), ...]}, each
    list in pick-path order (pick_sequence, then code). One query.

    Inactive bins that still hold stock are included (they are being emptied); products
    in no bin are absent.
    """
    rows = (
        BinStock.objects.filter(
            bin__warehouse_id=warehouse_id, product_id__in=list(product_ids), quantity__gt=0
        )
        .select_related("bin")
        .order_by("bin__pick_sequence", "bin__code", "product_id")
    )
    out: dict[int, list[tuple[Bin, int]]] = defaultdict(list)
    for row in rows:
        out[row.product_id].append((row.bin, row.quantity))
    return dict(out)


def _units_held() -> Coalesce:
    # All units in the bin, every product together (what max_units limits).
    held = (
        BinStock.objects.filter(bin_id=OuterRef("bin_id"))
        .values("bin_id")
        .annotate(n=Sum("quantity"))
        .values("n")
    )
    return Coalesce(Subquery(held, output_field=IntegerField()), Value(0))


class _Holding(NamedTuple):
    bin: Bin
    product_id: int
    quantity: int  # of the product
    held: int  # of every product (what max_units limits)


def putaway_suggestion(*, warehouse: Warehouse, product: Product, quantity: int = 1) -> Bin | None:
    """The bin to put `quantity` received units of `product` into, or None (no usable bin).

    In this order: an active bin already holding the product with room for them (the
    one first on the pick path); else an empty active bin in the product's usual zone
    (where most of it lies here, else where it was last put away); else the first
    empty active bin by pick sequence. "Room" is max_units over all products of the bin;
    a bin without a limit always has room.
    """
    return putaway_suggestions(warehouse=warehouse, wants={product.pk: quantity})[product.pk]


def putaway_suggestions(*, warehouse: Warehouse, wants: dict[int, int]) -> dict[int, Bin | None]:
    """`putaway_suggestion` for many products ({product_id: quantity}) in three queries,
    as for a receiving screen's lines: products needing an empty bin get different ones
    (in the order of `wants`) while there are enough.
    """
    if not wants:
        return {}
    holding = [
        _Holding(row.bin, row.product_id, row.quantity, row.held)
        for row in BinStock.objects.filter(
            bin__warehouse=warehouse,
            bin__is_active=True,
            product_id__in=list(wants),
            quantity__gt=0,
        )
        .select_related("bin")
        .annotate(held=_units_held())
        .order_by("bin__pick_sequence", "bin__code")
    ]
    out = _holding_with_room(holding, wants)
    unplaced = [p for p in wants if p not in out]
    if not unplaced:
        return out
    zones = _usual_zones(warehouse=warehouse, holding=holding, product_ids=unplaced)
    empty = list(
        Bin.objects.filter(warehouse=warehouse, is_active=True)
        .exclude(stock__quantity__gt=0)
        .order_by("pick_sequence", "code")
    )
    for p in unplaced:
        fits = [b for b in empty if b.max_units is None or b.max_units >= wants[p]]
        choice = next((b for b in fits if p in zones and b.zone == zones[p]), None)
        choice = choice or next(iter(fits), None)
        out[p] = choice
        if choice is not None:
            empty.remove(choice)
    return out


def _holding_with_room(holding: list[_Holding], wants: dict[int, int]) -> dict[int, Bin | None]:
    # The first bin on the path already holding the product that has room for the units.
    out: dict[int, Bin | None] = {}
    for row in holding:
        p, bin = row.product_id, row.bin
        if p not in out and (bin.max_units is None or row.held + wants[p] <= bin.max_units):
            out[p] = bin
    return out


def _usual_zones(
    *, warehouse: Warehouse, holding: list[_Holding], product_ids: list[int]
) -> dict[int, str]:
    # Where most of the product lies (the earlier bin on a tie), else its last putaway.
    by_product: dict[int, list[_Holding]] = defaultdict(list)
    for row in holding:
        by_product[row.product_id].append(row)
    zones = {
        p: max(rows, key=lambda r: (r.quantity, -r.bin.pick_sequence)).bin.zone
        for p, rows in by_product.items()
    }
    missing = [p for p in product_ids if p not in zones]
    if missing:
        zones.update(
            BinMovement.objects.filter(
                bin__warehouse=warehouse, product_id__in=missing, type=BinMovement.Type.PUTAWAY
            )
            .order_by("product_id", "-created_at", "-pk")
            .distinct("product_id")
            .values_list("product_id", "bin__zone")
        )
    return zones


def bin_by_code(*, warehouse_id: int, code: str) -> Bin:
    """The warehouse's bin with this code (as typed or scanned, in any case).

    Raises NotFound (invalid_bin).
    """
    code = (code or "").strip()
    found = list(Bin.objects.filter(warehouse_id=warehouse_id, code__iexact=code)[:2])
    exact = [b for b in found if b.code == code]
    if exact or len(found) == 1:
        return (exact or found)[0]
    raise NotFound(
        f"No bin {code!r} in this warehouse.",
        code=error_codes.INVALID_BIN,
        errors=[{"field": "bin", "message": "Unknown bin."}],
    )


def bin_stock_for_level(*, product_id: int, warehouse_id: int) -> list[BinStock]:
    """The product's bins at the warehouse with what each holds, by pick path (one query)."""
    return list(
        BinStock.objects.filter(
            bin__warehouse_id=warehouse_id, product_id=product_id, quantity__gt=0
        )
        .select_related("bin")
        .order_by("bin__pick_sequence", "bin__code")
    )


def bin_movements_for_level(
    *, product_id: int, warehouse_id: int, limit: int = 50
) -> list[BinMovement]:
    """The product's bin journal at the warehouse, newest first (one query)."""
    return list(
        BinMovement.objects.filter(product_id=product_id, bin__warehouse_id=warehouse_id)
        .select_related("bin", "other_bin", "actor")
        .order_by("-created_at", "-pk")[:limit]
    )


def bins_list(*, warehouse_id: int | None = None, zone: str = "") -> QuerySet[Bin]:
    """Bins of own warehouses with their units held (`units`) and products (`products`),
    filtered by warehouse and zone: one query for any page."""
    bins = Bin.objects.select_related("warehouse").annotate(
        units=Coalesce(Sum("stock__quantity"), Value(0)),
        products=Sum(
            Value(1), filter=Q(stock__quantity__gt=0), output_field=IntegerField(), default=0
        ),
    )
    if warehouse_id is not None:
        bins = bins.filter(warehouse_id=warehouse_id)
    if zone:
        bins = bins.filter(zone=zone)
    return bins.order_by("warehouse__code", "pick_sequence", "code")


def bin_zones(*, warehouse_id: int | None = None) -> list[str]:
    """The distinct zones of the bins (of one warehouse), for a filter."""
    bins = Bin.objects.all()
    if warehouse_id is not None:
        bins = bins.filter(warehouse_id=warehouse_id)
    return list(bins.exclude(zone="").values_list("zone", flat=True).distinct().order_by("zone"))


def bin_ledger_drift() -> list[dict[str, Any]]:
    """Bin stock that the journal does not explain, and levels their bins exceed.

    Rows `{"kind": "journal", "warehouse", "bin", "sku", "quantity", "journal"}` where a
    BinStock differs from the sum of its BinMovements, and `{"kind": "over_on_hand",
    "warehouse", "sku", "binned", "on_hand"}` where a level's bins hold more than its
    on_hand. Empty when the bins are true. Aggregate queries only.
    """
    held = {
        (b, p): q for b, p, q in BinStock.objects.values_list("bin_id", "product_id", "quantity")
    }
    journal = {
        (row["bin_id"], row["product_id"]): row["n"]
        for row in BinMovement.objects.values("bin_id", "product_id").annotate(n=Sum("delta"))
    }
    wrong = sorted(k for k in held.keys() | journal.keys() if held.get(k, 0) != journal.get(k, 0))
    binned: dict[tuple[int, int], int] = defaultdict(int)
    for row in BinStock.objects.values("product_id", "bin__warehouse_id").annotate(
        n=Sum("quantity")
    ):
        binned[(row["product_id"], row["bin__warehouse_id"])] = row["n"]
    on_hand = {
        (p, w): q
        for p, w, q in StockLevel.objects.filter(
            warehouse_id__in={w for _, w in binned}
        ).values_list("product_id", "warehouse_id", "on_hand")
    }
    over = sorted(k for k, n in binned.items() if n > on_hand.get(k, 0))
    bins = Bin.objects.select_related("warehouse").in_bulk({b for b, _ in wrong})
    skus = dict(
        Product.objects.filter(pk__in={p for _, p in wrong} | {p for p, _ in over}).values_list(
            "pk", "sku"
        )
    )
    codes = dict(Warehouse.objects.filter(pk__in={w for _, w in over}).values_list("pk", "code"))
    rows: list[dict[str, Any]] = [
        {
            "kind": "journal",
            "warehouse": bins[b].warehouse.code,
            "bin": bins[b].code,
            "sku": skus[p],
            "quantity": held.get((b, p), 0),
            "journal": journal.get((b, p), 0),
        }
        for b, p in wrong
    ]
    rows += [
        {
            "kind": "over_on_hand",
            "warehouse": codes[w],
            "sku": skus[p],
            "binned": binned[(p, w)],
            "on_hand": on_hand.get((p, w), 0),
        }
        for p, w in over
    ]
    return rows
