"""Stable machine-readable error codes of the orders domain (used in problem+json `code`)."""

ILLEGAL_TRANSITION = "illegal_transition"
DUPLICATE_EXTERNAL_REFERENCE = "duplicate_external_reference"
ORDER_NOT_FOUND = "order_not_found"
ORDER_ALREADY_SHIPPED = "order_already_shipped"
ORDER_ALREADY_CANCELLED = "order_already_cancelled"
INVALID_ORDER = "invalid_order"
# Allocation (orders/services/allocation.py).
ORDER_NOT_ALLOCATABLE = "order_not_allocatable"
# Holds and desk actions (orders/services/holds.py, desk.py).
ORDER_NOT_HOLDABLE = "order_not_holdable"
HOLD_ALREADY_ACTIVE = "hold_already_active"
HOLD_ALREADY_RELEASED = "hold_already_released"
HOLD_OWNER_INVALID = "hold_owner_invalid"
HOLD_REASON_UNKNOWN = "hold_reason_unknown"
ORDER_ALREADY_DISPATCHED = "order_already_dispatched"
NOTE_EMPTY = "note_empty"
ADDRESS_INVALID = "address_invalid"
# Cancelling the unshipped rest of a partially shipped order (orders/services/cancellation.py).
NOTHING_LEFT_TO_CANCEL = "nothing_left_to_cancel"
REST_WITH_CARRIER = "rest_with_carrier"
ORDER_NOT_PARTIALLY_SHIPPED = "order_not_partially_shipped"
# Editing an order before dispatch (orders/services/edits.py).
ORDER_NOT_EDITABLE = "order_not_editable"
# Re-routing an order (orders/services/reroute.py).
ORDER_NOT_REROUTABLE = "order_not_reroutable"
REROUTE_REASON_REQUIRED = "reroute_reason_required"
