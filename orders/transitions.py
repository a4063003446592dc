"""The order status machine. Every status change goes through `order_transition`."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

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


@transaction.atomic
def order_transition(
    *, order: Order, to: str, reason: str = "", user=None, actor: str | None = None
) -> Order:
    """Move the order to `to`, recording a status_changed event.

    The caller must hold the order's row lock (select_for_update) when the move
    depends on the current status. Raises IllegalTransition for a move the
    status machine does not allow.
    """
    return _transition(order=order, to=to, reason=reason, user=user, actor=actor, into=None)


def order_transition_deferred(
    *, order: Order, to: str, into: list, reason: str = "", user=None, actor: str | None = None
) -> Order:
    """`order_transition` for batch writers: checked the same way, written later.

    The order changes in memory and its status_changed event is appended to `into`;
    the caller writes both in its transaction with `orders_transitions_save` and
    `orders.events.events_record_many`. No savepoint, no round trip.
    """
    return _transition(order=order, to=to, reason=reason, user=user, actor=actor, into=into)


def orders_transitions_save(*, orders: list[Order]) -> None:
    """Persist moves made with `order_transition_deferred`: one UPDATE for all orders."""
    if orders:
        Order.objects.bulk_update(orders, ["status", "updated_at", "cancelled_at"])


def _transition(
    *, order: Order, to: str, reason: str, user, actor: str | None, into: list | None
) -> Order:
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
    order.status = to
    update_fields = ["status", "updated_at"]
    if to == S.CANCELLED:
        order.cancelled_at = timezone.now()
        update_fields.append("cancelled_at")
    if into is None:
        order.save(update_fields=update_fields)
    else:
        order.updated_at = timezone.now()
    events.status_changed_event(
        order=order, old=old, new=to, reason=reason, user=user, actor=actor, into=into
    )
    return order
