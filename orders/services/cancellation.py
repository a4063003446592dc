"""Cancelling an order before it ships."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import transaction

from core.errors import Conflict
from orders import error_codes, events
from orders.models import Order
from orders.services.partner_notifications import Event, order_notify
from orders.transitions import CANCELLABLE, order_transition

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser


@transaction.atomic
def order_cancel(
    *,
    order: Order,
    user: AbstractBaseUser | None = None,
    actor: str | None = None,
    reason: str = "",
) -> Order:
    """Cancel the order and release its stock, recording why.

    Locks the order row first, so a cancel racing with a shipment sees the final
    status (the dispatch gate holds the same lock while it calls the provider).
    Shipments not accepted by the provider are cancelled and their outbox rows
    closed in this transaction; shipments already accepted (dispatched, not moving)
    get a provider cancellation task enqueued on commit (see
    logistics.services.dispatch.shipment_provider_cancel). The channel is sent an
    `order.cancelled` webhook after commit. Cancelling an
    already-cancelled order changes nothing and returns it. Raises Conflict (409, code order_already_shipped, with `order_status`) once any
    part of the order has shipped.
    """
    from orders.services.allocation import order_deallocate

    locked = Order.objects.select_for_update().get(pk=order.pk)
    if locked.status == Order.Status.CANCELLED:
        return locked
    if locked.status not in CANCELLABLE:
        raise Conflict(
            f"Order {locked.number} can no longer be cancelled: it is {locked.status} "
            "(parcels have left the warehouse). Request a return instead.",
            code=error_codes.ORDER_ALREADY_SHIPPED,
            order_status=locked.status,
        )
    previous = locked.status
    from logistics.services.dispatch import shipments_cancel_for_order

    shipments_cancel_for_order(order_id=locked.pk, user=user, actor=actor)
    order_deallocate(order=locked, user=user, actor=actor)
    order_transition(order=locked, to=Order.Status.CANCELLED, reason=reason, user=user, actor=actor)
    events.order_cancelled_event(
        order=locked, reason=reason, previous_status=previous, user=user, actor=actor
    )
    order_notify(order=locked, event=Event.ORDER_CANCELLED)
    return locked
