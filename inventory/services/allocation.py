"""Allocation of order lines to warehouse stock.

PLACEHOLDER until the inventory issue lands: the order stays `received`.
"""

from __future__ import annotations

from orders.models import Order


def order_allocate(*, order: Order, user=None, actor: str | None = None) -> None:
    """Reserve stock for the order's lines (placeholder: does nothing yet)."""
    return


def order_deallocate(*, order: Order, user=None, actor: str | None = None) -> None:
    """Release every active allocation of the order (placeholder: does nothing yet)."""
    return
