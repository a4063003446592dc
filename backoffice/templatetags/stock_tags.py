"""How the stock screens word the ledger: reason codes as words, order references as links."""

from __future__ import annotations

import re

from django import template

from inventory.models import AdjustmentReason, StockMovement

register = template.Library()

# Codes the system writes on ledger rows; people choose from AdjustmentReason.
SYSTEM_REASONS = {
    "opening_stock": "Opening stock",
    "replenishment": "Replenishment",
    "allocation": "Allocated to an order",
    "shipped": "Shipped",
    "customer_return": "Customer return",
    "cycle_count": "Cycle count",
    "count_shortfall": "Count found less than was reserved",
}
_CODE = re.compile(r"^[a-z0-9]+(?:_[a-z0-9]+)*$")
_ORDER_NUMBER = re.compile(r"^[A-Za-z0-9-]{1,20}$")


@register.filter
def reason_words(code: str) -> str:
    """`damaged` → "Damaged"; an unknown code reads as words; free text stays as written."""
    if code in AdjustmentReason.values:
        return str(AdjustmentReason(code).label)
    if code in SYSTEM_REASONS:
        return SYSTEM_REASONS[code]
    if _CODE.match(code):
        return code.replace("_", " ").capitalize()
    return code


@register.filter
def movement_order_number(movement: StockMovement) -> str:
    """The order a ledger row belongs to: its order, else an `order:<number>` reference."""
    if movement.order is not None:  # no query without an order_id
        return movement.order.number
    kind, _, number = movement.reference.partition(":")
    return number if kind == "order" and _ORDER_NUMBER.match(number) else ""
