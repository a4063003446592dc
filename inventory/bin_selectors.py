"""Read-side queries of bins (own warehouses): pick paths, putaway suggestions, checks."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from django.db.models import IntegerField, OuterRef, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce

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
        BinStock.objects.filter(bin_id=OuterRef("pk"))
        .values("bin_id")
        .annotate(n=Sum("quantity"))
        .values("n")
    )
    return Coalesce(Subquery(held, output_field=IntegerField()), Value(0))


def putaway_suggestion(*, warehouse: Warehouse, product: Product, quantity: int = 1) -> Bin | None:
    """The bin to put `quantity` received units of `product` into, or None (no usable bin).

    In this order: an active bin already holding the product with room for them (the
    one first on the pick path); else an empty active bin in the product's usual zone
    (where most of it lies here, else where it was last put away); else the first
    empty active bin by pick sequence. "Room" is max_units over all products of the bin;
    a bin without a limit always has room.
    """
    active = Bin.objects.filter(warehouse=warehouse, is_active=True)
    holding = list(
        active.filter(stock__product=product, stock__quantity__gt=0)
        .annotate(mine=Sum("stock__quantity"), held=_units_held())
        .order_by("pick_sequence", "code")
    )
    for candidate in holding:
        if candidate.max_units is None or candidate.held + quantity <= candidate.max_units:
            return candidate
    empty = active.exclude(stock__quantity__gt=0).filter(
        Q(max_units__isnull=True) | Q(max_units__gte=quantity)
    )
    zone = _usual_zone(
        warehouse=warehouse,
        product=product,
        holding=[(b.mine, -b.pick_sequence, b.zone) for b in holding],
    )
    if zone is not None:
        in_zone = empty.filter(zone=zone).order_by("pick_sequence", "code").first()
        if in_zone is not None:
            return in_zone
    return empty.order_by("pick_sequence", "code").first()


def _usual_zone(
    *, warehouse: Warehouse, product: Product, holding: list[tuple[int, int, str]]
) -> str | None:
    # Where most of the product lies (the earlier bin on a tie), else its last putaway.
    if holding:
        return max(holding)[2]
    return (
        BinMovement.objects.filter(
            bin__warehouse=warehouse, product=product, type=BinMovement.Type.PUTAWAY
        )
        .order_by("-created_at", "-pk")
        .values_list("bin__zone", flat=True)
        .first()
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
