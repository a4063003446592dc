"""Read-side queries of the inventory domain."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from django.db.models import F, QuerySet, Sum
from django.db.models.functions import Coalesce

from core.csv_safe import csv_writer
from core.errors import NotFound
from core.pipeline import one_row, prepared_cursor
from inventory import error_codes
from inventory.models import (
    Allocation,
    InboundLine,
    InboundShipment,
    Product,
    StockLevel,
    StockSnapshot,
    Warehouse,
)
from inventory.sql import (
    CHANGES_CURSOR_SQL,
    INBOUND_PAGE_SQL,
    LEDGER_DRIFT_SQL,
    PRODUCTS_PAGE_SQL,
    STOCK_CHANGES_SINCE_SQL,
    product_json_by_sku,
    products_json,
    stock_feed_page_sql,
)

__all__ = ["PRODUCTS_PAGE_SQL", "products_json"]  # the catalogue's JSON, for the partner API

if TYPE_CHECKING:
    from _typeshed import SupportsWrite
    from django.db.models.fields.related_descriptors import ManyRelatedManager


class SellsFrom(Protocol):
    """A sales channel as inventory sees it (orders.Channel; inventory may not import it)."""

    @property
    def warehouses(self) -> ManyRelatedManager[Warehouse, Any]: ...


def stock_available_for_channel(*, channel: SellsFrom, skus: list[str]) -> dict[str, int]:
    """Available-to-sell per SKU (on hand minus reserved), summed over the channel's warehouses.

    SKUs that exist nowhere in the channel's warehouses are absent from the result.
    """
    rows = (
        StockLevel.objects.filter(
            product__sku__in=skus,
            warehouse__is_active=True,
            warehouse__in=channel.warehouses.all(),
        )
        .values("product__sku")
        .annotate(to_sell=Coalesce(Sum(F("on_hand") - F("reserved")), 0))
        .values_list("product__sku", "to_sell")
    )
    return dict(rows)


# --- The inventory feed and the stock journal (issue 18) ---------------------------------
# A changes cursor is the snapshot of a read: the stock changes that read could not see
# are those of transactions at or above `xmax` or among `in_progress`.
# Why a snapshot and not a time or a row id: see inventory/sql.py.

MAX_XID = 2**63 - 1


@dataclass(frozen=True)
class ChangesCursor:
    xmax: int
    in_progress: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if not 0 < self.xmax <= MAX_XID or any(not 0 < xid < self.xmax for xid in self.in_progress):
            raise ValueError(f"Not a snapshot: {self!r}")

    @classmethod
    def from_snapshot(cls, text: str) -> ChangesCursor:
        """From `inventory.sql.SNAPSHOT_SQL`: `xmin:xmax:xip,xip,...:own id or nothing`."""
        _xmin, xmax_text, xip, own = text.split(":")
        xmax = int(xmax_text)
        in_progress = {int(x) for x in xip.split(",") if x}
        if own and int(own) < xmax:
            in_progress.add(int(own))
        return cls(xmax=xmax, in_progress=tuple(sorted(in_progress)))

    def bounded(self, limit: int) -> ChangesCursor:
        """At most `limit` ids in progress: with more, every id from the oldest on counts as
        unseen (a superset: some changes may come back again, none is missed)."""
        if len(self.in_progress) <= limit:
            return self
        return ChangesCursor(xmax=min(self.in_progress))

    def params(self) -> dict[str, object]:
        return {"xmax": str(self.xmax), "xip": [str(xid) for xid in self.in_progress]}


@dataclass(frozen=True)
class StockFeedPage:
    results_json: str  # JSON array of {sku, available[, warehouses]}, rendered by Postgres
    last_sku: str | None  # the page's last SKU when more follow, else None
    has_next: bool
    changes_cursor: ChangesCursor  # taken by this read; see stock_changes_since


def stock_feed_page(
    *,
    warehouse_ids: list[int],
    after_sku: str,
    size: int,
    by_warehouse: bool = False,
    changed_since: ChangesCursor | dt.datetime | None = None,
) -> StockFeedPage:
    """One page (by SKU, after `after_sku`; '' for the first) of every active product with
    its availability over `warehouse_ids` (0 where none), in one prepared statement.

    `changed_since` keeps only the products with a ledger row at those warehouses that
    a read with that changes cursor could not see, or written at or after that time
    (inclusive, by the rows' `created_at`). Availability is on hand minus reserved over
    the active warehouses among `warehouse_ids`.
    """
    params: dict[str, object] = {
        "warehouses": warehouse_ids,
        "after": after_sku,
        "size": size,
    }
    changed: str | None = None
    if isinstance(changed_since, ChangesCursor):
        changed = "xid"
        params.update(changed_since.params())
    elif isinstance(changed_since, dt.datetime):
        changed = "time"
        params["since"] = changed_since
    with prepared_cursor() as cursor:
        cursor.execute(
            stock_feed_page_sql(by_warehouse=by_warehouse, changed=changed), params, prepare=True
        )
        results_json, last_sku, has_next, snapshot = one_row(cursor)
    return StockFeedPage(
        results_json=results_json,
        last_sku=last_sku if has_next else None,
        has_next=bool(has_next),
        changes_cursor=ChangesCursor.from_snapshot(snapshot),
    )


def stock_changes_cursor() -> ChangesCursor:
    """The changes cursor of now: pass it to `stock_changes_since` later to learn what changed."""
    with prepared_cursor() as cursor:
        cursor.execute(CHANGES_CURSOR_SQL, prepare=True)
        (snapshot,) = one_row(cursor)
    return ChangesCursor.from_snapshot(snapshot)


def stock_changes_since(
    *, cursor: ChangesCursor, warehouse_ids: list[int]
) -> tuple[list[str], ChangesCursor]:
    """SKUs (sorted, active products) whose stock changed at `warehouse_ids` since `cursor`,
    and the cursor to pass next time, read in one statement.

    `cursor` comes from an earlier call (or `stock_changes_cursor()`, or a feed page's
    `changes_cursor`). Exact: every change that the read which took `cursor` could not
    see is reported, including one by a transaction that was already running then and
    committed afterwards; a change that read saw is not reported again. Callers re-read
    current availability (`stock_available_for_channel`). To keep the cursor between
    runs, store `xmax` and `in_progress` (ints).
    """
    with prepared_cursor() as db:
        db.execute(
            STOCK_CHANGES_SINCE_SQL,
            {**cursor.params(), "warehouses": warehouse_ids},
            prepare=True,
        )
        skus, snapshot = one_row(db)
    return list(skus), ChangesCursor.from_snapshot(snapshot)


def stock_levels_with_available(*, product_ids: list[int] | None = None) -> QuerySet[StockLevel]:
    """Levels with stock to give (on hand above reserved), of `product_ids` or of every product.

    Lazy: backorder allocation embeds it as a subquery and re-checks `.exists()` as it goes.
    """
    levels = StockLevel.objects.filter(on_hand__gt=F("reserved"))
    if product_ids:
        levels = levels.filter(product_id__in=product_ids)
    return levels


def allocations_count_for_order(*, order_id: int) -> int:
    """How many Allocation rows (any status) the order's lines have."""
    return Allocation.objects.filter(order_line__order_id=order_id).count()


def stock_ledger_drift() -> list[dict[str, Any]]:
    """Every (SKU, warehouse) whose level differs from the sum of its ledger movements.

    Empty when the ledger is true. One aggregate query: fine for millions of rows.
    """
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(LEDGER_DRIFT_SQL)
        rows = cursor.fetchall()
    keys = ("sku", "warehouse", "on_hand", "reserved", "ledger_on_hand", "ledger_reserved")
    return [dict(zip(keys, row, strict=True)) for row in rows]


def snapshot_differences(*, snapshot: StockSnapshot) -> list[dict[str, Any]]:
    """Lines of an LSP snapshot whose on-hand differs from ours now (what accepting would apply)."""
    from inventory.models import StockLevel

    lines = list(snapshot.lines.select_related("product"))
    current = dict(
        StockLevel.objects.filter(
            warehouse_id=snapshot.warehouse_id, product_id__in=[x.product_id for x in lines]
        ).values_list("product_id", "on_hand")
    )
    out = []
    for line in lines:
        ours = current.get(line.product_id, 0)
        if ours != line.lsp_on_hand:
            out.append(
                {
                    "sku": line.product.sku,
                    "product_id": line.product_id,
                    "lsp_on_hand": line.lsp_on_hand,
                    "consign_on_hand": ours,
                    "difference": line.lsp_on_hand - ours,
                }
            )
    return out


def stock_levels_export_csv(*, out: SupportsWrite[str]) -> int:
    """Write `sku,warehouse,on_hand,reserved,low_stock_threshold` rows; returns the row count."""
    from inventory.models import StockLevel

    writer = csv_writer(out)
    writer.writerow(["sku", "warehouse", "on_hand", "reserved", "low_stock_threshold"])
    rows = 0
    for row in (
        StockLevel.objects.order_by("product__sku", "warehouse__code")
        .values_list(
            "product__sku", "warehouse__code", "on_hand", "reserved", "low_stock_threshold"
        )
        .iterator(chunk_size=5000)
    ):
        writer.writerow(row)
        rows += 1
    return rows


def products_export_csv(*, out: SupportsWrite[str]) -> int:
    """Write every product with the import's columns; returns the row count.

    Cells a spreadsheet would run as formulas get a leading apostrophe (core/csv_safe.py);
    the import takes it off again.
    """
    from inventory.models import Product
    from inventory.services.imports import PRODUCT_COLUMNS

    writer = csv_writer(out)
    writer.writerow(PRODUCT_COLUMNS)
    rows = 0
    for row in (
        Product.objects.order_by("sku").values_list(*PRODUCT_COLUMNS).iterator(chunk_size=5000)
    ):
        writer.writerow(row)
        rows += 1
    return rows


# --- ASNs (the partner API and the inbound.received webhook show them alike) -------------
# The list endpoint's rendering of a page (core.pagination.KeysetPagination.page_response);
# tests/inventory/test_inbound_statuses.py holds it equal to `inbound_data`.
INBOUNDS_PAGE_SQL = INBOUND_PAGE_SQL


def inbounds_for_channel(*, channel_id: int) -> QuerySet[InboundShipment]:
    """The channel's ASNs, to filter and page."""
    return InboundShipment.objects.filter(channel_id=channel_id)


def inbound_for_channel(*, channel_id: int, number: str) -> InboundShipment:
    """The channel's ASN by number; NotFound for an unknown one and another channel's alike."""
    inbound = (
        InboundShipment.objects.filter(channel_id=channel_id, number=number)
        .select_related("warehouse")
        .first()
    )
    if inbound is None:
        raise NotFound(
            f"No inbound shipment {number} in this channel.", code=error_codes.INBOUND_NOT_FOUND
        )
    return inbound


def _iso(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def inbound_data(*, inbound: InboundShipment) -> dict[str, Any]:
    """The ASN as `GET /api/v1/inbound-shipments/{number}/` shows it (two queries)."""
    inbound = InboundShipment.objects.select_related("warehouse").get(pk=inbound.pk)
    lines = InboundLine.objects.filter(inbound=inbound).select_related("product").order_by("id")
    return {
        "number": inbound.number,
        "reference": inbound.reference,
        "warehouse": inbound.warehouse.code,
        "status": inbound.status,
        "expected_at": _iso(inbound.expected_at),
        "carrier": inbound.carrier,
        "tracking_number": inbound.tracking_number,
        "lines": [
            {
                "sku": line.product.sku,
                "expected": line.expected_quantity,
                "received": line.received_quantity,
                "discrepancy": line.discrepancy,
            }
            for line in lines
        ],
        "created_at": _iso(inbound.created_at),
        "updated_at": _iso(inbound.updated_at),
        "received_at": _iso(inbound.closed_at)
        if inbound.status == InboundShipment.Status.RECEIVED
        else None,
    }


# --- the shared catalogue (partner API) -------------------------------------------------


def catalogue_products() -> QuerySet[Product]:
    """Every product of the shared catalogue (lazy; the partner API pages it by updated_at)."""
    return Product.objects.all()


def product_detail_json(*, sku: str) -> str:
    """The partner API's JSON text of the product `sku`; NotFound (product_not_found) if none."""
    found = product_json_by_sku(sku=sku)
    if found is None:
        raise NotFound(f"No product {sku!r}.", code="product_not_found")
    return found


def product_for_code(*, code: str) -> Product | None:
    """The product a scanned or typed code names: any of its barcodes, else its SKU; exact
    first, then in any case (a barcode before a SKU, the oldest product on a tie)."""
    code = code.strip()
    if not code:
        return None
    exact = (
        Product.objects.filter(barcodes__barcode=code).first()
        or Product.objects.filter(sku=code).first()
    )
    if exact is not None:
        return exact
    return (
        Product.objects.filter(barcodes__barcode__iexact=code).order_by("pk").first()
        or Product.objects.filter(sku__iexact=code).order_by("pk").first()
    )
