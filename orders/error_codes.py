"""Stable machine-readable error codes of the orders domain (used in problem+json `code`)."""

ILLEGAL_TRANSITION = "illegal_transition"
DUPLICATE_EXTERNAL_REFERENCE = "duplicate_external_reference"
ORDER_NOT_FOUND = "order_not_found"
ORDER_ALREADY_SHIPPED = "order_already_shipped"
ORDER_ALREADY_CANCELLED = "order_already_cancelled"
INVALID_ORDER = "invalid_order"
