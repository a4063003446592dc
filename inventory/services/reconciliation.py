"""LSP stock snapshots: record what the LSP says it holds, show differences, accept them."""

from __future__ import annotations

import csv
import io
import logging
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from core.errors import Conflict, ValidationFailed
from core.users import ActingUser, recorded_user
from inventory import error_codes
from inventory.models import (
    AdjustmentReason,
    Product,
    StockLevel,
    StockMovement,
    StockSnapshot,
    StockSnapshotLine,
    Warehouse,
)
from inventory.services.stock import (
    StockChange,
    stock_apply,
    stock_levels_ensure,
    stock_levels_lock,
)

logger = logging.getLogger(__name__)


def snapshot_rows_from_csv(*, text: str) -> list[dict[str, Any]]:
    """Rows {"sku", "on_hand"} from a CSV with header `sku,on_hand` (as LSPs export it)."""
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames or not {"sku", "on_hand"} <= {f.strip() for f in reader.fieldnames}:
        raise ValidationFailed(
            "The snapshot file needs the columns sku and on_hand.",
            code=error_codes.IMPORT_INVALID,
            errors=[{"field": "file", "message": "Header must contain sku,on_hand."}],
        )
    return [{k.strip(): (v or "").strip() for k, v in row.items() if k} for row in reader]


@transaction.atomic
def snapshot_record(
    *,
    warehouse: Warehouse,
    rows: list[dict[str, Any]],
    source: str = StockSnapshot.Source.UPLOAD,
    taken_at: datetime | None = None,
) -> StockSnapshot:
    """Store an LSP's on-hand report next to our own on_hand at this moment.

    Unreadable rows (unknown SKU, negative or non-integer quantity, duplicate
    SKU) are kept in `snapshot.errors` with their row number; the rest are lines.
    Raises ValidationFailed when the warehouse is not LSP-operated.
    """
    if warehouse.kind != Warehouse.Kind.LSP:
        raise ValidationFailed(
            f"{warehouse.code} is not LSP-operated; snapshots reconcile LSP sites only.",
            code=error_codes.SNAPSHOT_WAREHOUSE_NOT_LSP,
        )
    skus = {str(r.get("sku", "")).strip() for r in rows}
    products = dict(Product.objects.filter(sku__in=skus).values_list("sku", "pk"))
    ours = dict(
        StockLevel.objects.filter(
            warehouse=warehouse, product_id__in=products.values()
        ).values_list("product_id", "on_hand")
    )
    errors, lines, seen = [], [], set()
    for number, row in enumerate(rows, start=1):
        sku = str(row.get("sku", "")).strip()
        raw = row.get("on_hand")
        try:
            on_hand = int(str(raw).strip())
        except (TypeError, ValueError):
            on_hand = None
        if sku not in products:
            errors.append({"row": number, "field": "sku", "message": f"Unknown SKU {sku!r}."})
        elif on_hand is None or on_hand < 0:
            errors.append(
                {"row": number, "field": "on_hand", "message": f"Not a quantity >= 0: {raw!r}."}
            )
        elif sku in seen:
            errors.append({"row": number, "field": "sku", "message": f"{sku} appears twice."})
        else:
            seen.add(sku)
            lines.append(
                StockSnapshotLine(
                    product_id=products[sku],
                    lsp_on_hand=on_hand,
                    consign_on_hand=ours.get(products[sku], 0),
                )
            )
    snapshot = StockSnapshot.objects.create(
        warehouse=warehouse, source=source, taken_at=taken_at or timezone.now(), errors=errors
    )
    for line in lines:
        line.snapshot = snapshot
    StockSnapshotLine.objects.bulk_create(lines, batch_size=2000)
    return snapshot


@transaction.atomic
def snapshot_accept(
    *, snapshot: StockSnapshot, user: ActingUser | None = None
) -> list[dict[str, Any]]:
    """Make our on_hand equal the LSP's for every differing line, in one transaction.

    Each difference becomes an `adjustment` ledger row with reason
    `lsp_reconciliation`, computed against our level *now* (movements since the
    snapshot are respected). All or nothing: raises InsufficientStock
    (below_reserved) if any SKU would fall below its reservations,
    StockLevelLocked during a count, Conflict (snapshot_not_open) if accepted before.
    Returns the applied differences.
    """
    snapshot = (
        StockSnapshot.objects.select_for_update().select_related("warehouse").get(pk=snapshot.pk)
    )
    if snapshot.status != StockSnapshot.Status.OPEN:
        raise Conflict(
            f"Snapshot {snapshot.pk} was already accepted.", code=error_codes.SNAPSHOT_NOT_OPEN
        )
    lines = list(snapshot.lines.select_related("product"))
    w = snapshot.warehouse_id
    stock_levels_ensure(keys=[(line.product_id, w) for line in lines if line.lsp_on_hand > 0])
    levels = stock_levels_lock(keys=[(line.product_id, w) for line in lines])
    changes, applied = [], []
    for line in lines:
        level = levels.get((line.product_id, w))
        delta = line.lsp_on_hand - (level.on_hand if level else 0)
        line.applied_delta = delta
        if delta:
            changes.append(
                StockChange(
                    product_id=line.product_id,
                    warehouse_id=w,
                    on_hand_delta=delta,
                    type=StockMovement.Type.ADJUSTMENT,
                    reason=AdjustmentReason.LSP_RECONCILIATION,
                    reference=f"snapshot:{snapshot.pk}",
                )
            )
            applied.append({"sku": line.product.sku, "difference": delta})
    stock_apply(changes=changes, user=user, locked=levels, respect_count_locks=True)
    StockSnapshotLine.objects.bulk_update(lines, ["applied_delta"], batch_size=2000)
    snapshot.status = StockSnapshot.Status.ACCEPTED
    snapshot.accepted_at = timezone.now()
    snapshot.accepted_by = recorded_user(user)
    snapshot.save(update_fields=["status", "accepted_at", "accepted_by", "updated_at"])
    return applied


def snapshot_record_for_review(
    *,
    warehouse: Warehouse,
    rows: list[dict[str, Any]],
    source: str = StockSnapshot.Source.API,
) -> StockSnapshot | None:
    """Record what the LSP says it holds, but keep it only if there is work to do.

    The snapshot is kept (and returned) when it differs from our levels or has bad
    rows, so the list in the back office is the work to do; otherwise nothing is
    stored and None is returned. Nothing is adjusted: an operations manager accepts
    the differences. Raises what `snapshot_record` raises. Asking the LSP is
    logistics' job (`logistics.services.stock_reconciliation`).
    """
    snapshot = snapshot_record(warehouse=warehouse, rows=rows, source=source)
    if snapshot.errors or snapshot_has_differences(snapshot=snapshot):
        return snapshot
    snapshot.delete()
    return None


def snapshot_has_differences(*, snapshot: StockSnapshot) -> bool:
    from inventory.selectors import snapshot_differences

    return bool(snapshot_differences(snapshot=snapshot))
