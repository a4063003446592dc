"""The order status machine. Every status change goes through `order_transition`."""

from __future__ import annotations

from django.db import transaction

from core.errors import IllegalTransition
from orders import error_codes, events
from orders.models import Order

S = Order.Status

# Which moves are legal. Cancellation is allowed from every state before shipping.
ALLOWED: dict[str, set[str]] = {
    S.RECEIVED: {S.ON_HOLD, S.BACKORDERED, S.ALLOCATED, S.CANCELLED},
    S.ON_HOLD: {S.RECEIVED, S.BACKORDERED, S.ALLOCATED, S.CANCELLED},
    S.BACKORDERED: {S.ON_HOLD, S.ALLOCATED, S.BACKORDERED, S.IN_FULFILMENT, S.CANCELLED},
    S.ALLOCATED: {S.ON_HOLD, S.BACKORDERED, S.IN_FULFILMENT, S.CANCELLED},
    S.IN_FULFILMENT: {
        S.ON_HOLD,
        S.BACKORDERED,
        S.ALLOCATED,
        S.PARTIALLY_SHIPPED,
        S.SHIPPED,
        S.CANCELLED,
    },
    S.PARTIALLY_SHIPPED: {S.SHIPPED, S.PARTIALLY_DELIVERED, S.DELIVERED},
    S.SHIPPED: {S.PARTIALLY_DELIVERED, S.DELIVERED, S.PARTIALLY_RETURNED, S.RETURNED},
    S.PARTIALLY_DELIVERED: {S.DELIVERED, S.PARTIALLY_RETURNED, S.RETURNED},
    S.DELIVERED: {S.PARTIALLY_RETURNED, S.RETURNED},
    S.PARTIALLY_RETURNED: {S.PARTIALLY_RETURNED, S.RETURNED},
    S.RETURNED: set(),
    S.CANCELLED: set(),
}

CANCELLABLE = frozenset(status for status, targets in ALLOWED.items() if S.CANCELLED in targets)


def can_transition(current: str, new: str) -> bool:
    return new in ALLOWED.get(current, set())


def order_transition(
    *, order: Order, to: str, reason: str = "", user=None, actor: str | None = None
) -> Order:
    """Move the order to `to`, recording a status_changed event.

    The caller must hold the order's row lock (select_for_update) when the move
    depends on the current status. Raises IllegalTransition for a move the
    status machine does not allow (before anything is written, so a caller may
    catch it and carry on in its transaction).
    """
    old = order.status
    if old == to:
        return order
    if not can_transition(old, to):
        raise IllegalTransition(
            f"Order {order.number} cannot go from {old} to {to}.",
            code=error_codes.ILLEGAL_TRANSITION,
            current_status=old,
            requested_status=to,
        )
    # The update and its event commit together; inside a caller's transaction no
    # savepoint of its own (two round trips per transition on the intake path):
    # a database error here aborts the caller's transaction anyway.
    with transaction.atomic(savepoint=False):
        order.status = to
        update_fields = ["status", "updated_at"]
        if to == S.CANCELLED:
            from django.utils import timezone

            order.cancelled_at = timezone.now()
            update_fields.append("cancelled_at")
        order.save(update_fields=update_fields)
        events.status_changed_event(
            order=order, old=old, new=to, reason=reason, user=user, actor=actor
        )
    return order
