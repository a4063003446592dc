"""The order status machine. Every status change goes through `order_transition`."""

from __future__ import annotations

from django.db import connection, transaction
from django.utils import timezone

from core.errors import IllegalTransition
from core.pipeline import prepared_cursor
from core.users import ActingUser
from orders import error_codes, events
from orders import sql as orders_sql
from orders.models import Order, OrderEvent
from orders.services.partner_notifications import (
    order_notifications_send,
    status_changed_event_build,
)

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

# Orders per UPDATE in orders_transitions_save (4 parameters each, under Postgres' 65,535).
_SAVE_CHUNK = 10_000

CANCELLABLE = frozenset(status for status, targets in ALLOWED.items() if S.CANCELLED in targets)


def can_transition(current: str, new: str) -> bool:
    return new in ALLOWED.get(current, set())


@transaction.atomic(savepoint=False)
def order_transition(
    *,
    order: Order,
    to: str,
    reason: str = "",
    user: ActingUser | None = None,
    actor: str | None = None,
    with_events: list[OrderEvent] | None = None,
    with_promise: bool = False,
) -> Order:
    """Move the order to `to`, recording a status_changed event and publishing the
    partner's order.status_changed (held by order intake, see partner_notifications).

    `with_events` are unsaved events (built with `into=`) that explain the move;
    they are written before the status_changed event in the same statement as the
    status, and written even when the status does not change.
    The caller must hold the order's row lock (select_for_update) when the move
    depends on the current status. Raises IllegalTransition for a move the
    status machine does not allow (before anything is written, so a caller may
    catch it and carry on in its transaction).
    `with_promise`: the order's ship_by and promised_delivery_date, as the caller set them
    on `order`, are written in the same statement (only when the status changes).
    """
    written = list(with_events or [])
    if order.status == to:
        events.events_record_many(events=written)
        return order
    previous = order.status
    _transition(order=order, to=to, reason=reason, user=user, actor=actor, into=written)
    _status_write(order=order, events_=written, promise=with_promise)
    order_notifications_send(
        messages=[status_changed_event_build(order=order, previous_status=previous)]
    )
    return order


def order_transition_deferred(
    *,
    order: Order,
    to: str,
    into: list[OrderEvent],
    reason: str = "",
    user: ActingUser | None = None,
    actor: str | None = None,
) -> Order:
    """`order_transition` for batch writers: checked the same way, written later.

    The order changes in memory and its status_changed event is appended to `into`;
    the caller writes both in its transaction with `orders_transitions_save` and
    `orders.events.events_record_many`, and publishes the partner's order.status_changed
    (`partner_notifications.status_changed_event_build`). No savepoint, no round trip.
    """
    return _transition(order=order, to=to, reason=reason, user=user, actor=actor, into=into)


def orders_transitions_save(*, orders: list[Order]) -> None:
    """Persist moves made with `order_transition_deferred`: one UPDATE for all orders."""
    for start in range(0, len(orders), _SAVE_CHUNK):
        orders_sql.orders_status_update_many(
            rows=[
                (order.pk, order.status, order.updated_at, order.cancelled_at)
                for order in orders[start : start + _SAVE_CHUNK]
            ]
        )


def _transition(
    *,
    order: Order,
    to: str,
    reason: str,
    user: ActingUser | None,
    actor: str | None,
    into: list[OrderEvent],
) -> Order:
    # Checks the move and changes the order in memory; the callers write it.
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
    order.updated_at = timezone.now()
    if to == S.CANCELLED:
        order.cancelled_at = order.updated_at
    events.status_changed_event(
        order=order, old=old, new=to, reason=reason, user=user, actor=actor, into=into
    )
    return order


def _status_write(*, order: Order, events_: list[OrderEvent], promise: bool = False) -> None:
    # The status row and its events in ONE statement: every allocation, shipment
    # and tracking update passes here, and two ORM round trips (an UPDATE, then an
    # INSERT) cost more than the SQL itself. Same columns as order.save(update_fields).
    parameters = OrderEvent._meta.get_field("parameters")
    params: list[object] = []
    for event in events_:
        event.created_at = order.updated_at
        params += [
            order.pk,
            event.type,
            parameters.get_db_prep_save(event.parameters, connection),
            event.user_id,
            event.actor,
            event.created_at,
        ]
    cancelled = order.status == S.CANCELLED
    sql = orders_sql.status_with_events_sql(
        event_count=len(events_), cancelled=cancelled, promise=promise
    )
    head: list[object] = [order.status, order.updated_at]
    if cancelled:
        head.append(order.cancelled_at)
    if promise:
        head += [order.ship_by, order.promised_delivery_date]
    with prepared_cursor() as cursor:
        cursor.execute(sql, [*head, order.pk, *params], prepare=True)
        for event, (pk,) in zip(events_, cursor.fetchall(), strict=True):
            event.pk = pk
            event._state.adding = False
            event._state.db = connection.alias
