"""Shipment planning: one shipment per warehouse holding active allocations.

PLACEHOLDER until the logistics issue lands: no shipment is planned.
"""

from __future__ import annotations

from orders.models import Order


def shipments_plan_for_order(*, order: Order, user=None, actor: str | None = None) -> list:
    """Create shipments and outbox rows for newly allocated stock (placeholder: none yet)."""
    return []
