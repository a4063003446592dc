"""Asking the LSPs what stock they hold, for inventory's reconciliation (beat task).

inventory may not talk to providers (it sits below logistics): this module fetches
each LSP warehouse's snapshot through its provider's adapter and hands the plain rows
to `inventory.services.reconciliation.snapshot_record_for_review`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from inventory.models import StockSnapshot, Warehouse
from inventory.services.reconciliation import snapshot_record_for_review
from logistics.adapters.registry import adapter_for

logger = logging.getLogger(__name__)


def snapshots_fetch_from_lsps(
    *, warehouses: Iterable[Warehouse] | None = None
) -> list[StockSnapshot]:
    """Ask each active LSP-operated warehouse's provider for its on-hand and record a snapshot.

    A snapshot is stored only when it differs from our levels or has bad rows,
    so the list in the back office is the work to do. One provider failing
    (network, bad payload) is logged and does not stop the others. Nothing is
    adjusted: an operations manager accepts the differences. Returns the stored
    snapshots.
    """
    if warehouses is None:
        warehouses = Warehouse.objects.filter(
            kind=Warehouse.Kind.LSP, is_active=True, provider__is_active=True
        ).select_related("provider")
    recorded = []
    for warehouse in warehouses:
        try:
            if warehouse.provider is None:
                raise ValueError(f"Warehouse {warehouse.code} has no provider to ask.")
            lines = adapter_for(warehouse.provider).fetch_stock_snapshot(warehouse)
            snapshot = snapshot_record_for_review(
                warehouse=warehouse,
                rows=[{"sku": line.sku, "on_hand": line.on_hand} for line in lines],
                source=StockSnapshot.Source.API,
            )
        except Exception:
            logger.exception("Stock snapshot from %s failed", warehouse.code)
            continue
        if snapshot is not None:
            recorded.append(snapshot)
    return recorded
