"""Cancelling an order before it ships, or the unshipped rest of a partially shipped one."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db import transaction

from core.errors import Conflict
from logistics.models import Shipment, ShipmentStatusGroups
from orders import error_codes, events
from orders.models import Order, OrderLine
from orders.services.holds import order_lock
from orders.services.partner_notifications import Event, order_notify
from orders.services.progress import PROGRESS_RANK
from orders.transitions import CANCELLABLE, order_transition

if TYPE_CHECKING:
    from core.users import ActingUser

S = Order.Status

# Some units have left and some have not (issue 16 item 12): the rest can be cancelled.
# A partially delivered order may still have unshipped units (one parcel delivered,
# the other never sent).
REST_CANCELLABLE = frozenset({S.PARTIALLY_SHIPPED, S.PARTIALLY_DELIVERED})


@transaction.atomic
def order_cancel(
    *,
    order: Order,
    user: ActingUser | None = None,
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


@transaction.atomic
def order_cancel_rest(
    *,
    order: Order,
    reason: str = "",
    user: ActingUser | None = None,
    actor: str | None = None,
) -> Order:
    """Cancel the units of a partially shipped order that have not shipped; keep the rest.

    Locks the order row first (as `order_cancel`). The order's shipments that the
    provider never accepted are cancelled and their outbox rows closed, the order's
    active allocations (which cover exactly the unshipped units) are released, and each
    line's unshipped units are counted in `quantity_cancelled`. Records a
    `rest_cancelled` event (lines and quantities), then moves the order to what its
    shipped units say now that nothing else is expected: `shipped` (or `delivered`
    when every shipped unit is delivered; a partially delivered order whose parcels
    are still travelling stays partially delivered). The channel is sent an
    `order.rest_cancelled` webhook with the cancelled lines (`cancelled_lines`), and
    `order.shipped` / `order.delivered` when the order moves there, after commit.

    Raises Conflict with code
    - order_not_partially_shipped (with `order_status`) when nothing has shipped yet
      (cancel the whole order instead) or the status says nothing is left;
    - nothing_left_to_cancel when every unit has shipped or was cancelled already;
    - rest_with_carrier (with `shipment_ids`) when a shipment that has not shipped
      is with the provider or carrier already (accepted, moving, or in exception):
      it may still ship, so its units cannot be counted as cancelled. Wait for its
      scan, or cancel it with the provider first.
    """
    from logistics.services.dispatch import shipments_cancel_for_order
    from orders.services.allocation import order_deallocate

    locked = order_lock(order=order)
    if locked.status not in REST_CANCELLABLE:
        if locked.status in CANCELLABLE:
            message = "nothing has shipped yet: cancel the whole order instead."
        else:
            message = "nothing is left to ship."
        raise Conflict(
            f"The rest of order {locked.number} cannot be cancelled: it is {locked.status}; "
            + message,
            code=error_codes.ORDER_NOT_PARTIALLY_SHIPPED,
            order_status=locked.status,
        )
    lines = list(OrderLine.objects.filter(order=locked).order_by("pk"))
    rest = {line.pk: line.quantity_unshipped for line in lines}
    if not any(rest.values()):
        raise Conflict(
            f"Order {locked.number} has nothing left to cancel: every unit has shipped "
            "or was cancelled.",
            code=error_codes.NOTHING_LEFT_TO_CANCEL,
            order_status=locked.status,
        )
    with_carrier = sorted(
        Shipment.objects.filter(order=locked, shipped_at__isnull=True)
        .exclude(status__in=ShipmentStatusGroups.NOT_WITH_PROVIDER)
        .values_list("pk", flat=True)
    )
    if with_carrier:
        raise Conflict(
            f"The rest of order {locked.number} cannot be cancelled: shipment(s) "
            f"{', '.join(map(str, with_carrier))} are with the provider already and may "
            "still ship.",
            code=error_codes.REST_WITH_CARRIER,
            shipment_ids=with_carrier,
        )
    previous = locked.status
    shipments_cancel_for_order(order_id=locked.pk, user=user, actor=actor)
    order_deallocate(order=locked, user=user, actor=actor, reason="Unshipped rest cancelled")
    cancelled: list[dict[str, Any]] = []
    for line in lines:
        if rest[line.pk]:
            line.quantity_cancelled += rest[line.pk]
            cancelled.append({"line": line.line_number, "sku": line.sku, "quantity": rest[line.pk]})
    OrderLine.objects.bulk_update([line for line in lines if rest[line.pk]], ["quantity_cancelled"])
    events.rest_cancelled_event(
        order=locked,
        lines=cancelled,
        reason=reason,
        previous_status=previous,
        user=user,
        actor=actor,
    )
    target = _status_after_rest(order=locked, lines=lines)
    if target is not None:
        order_transition(
            order=locked, to=target, reason="unshipped rest cancelled", user=user, actor=actor
        )
    order_notify(
        order=locked,
        event=Event.ORDER_REST_CANCELLED,
        extra={
            "cancelled_lines": [
                {"line_number": c["line"], "sku": c["sku"], "quantity_cancelled": c["quantity"]}
                for c in cancelled
            ],
        },
    )
    if target == S.SHIPPED:
        order_notify(order=locked, event=Event.ORDER_SHIPPED)
    elif target == S.DELIVERED:
        order_notify(order=locked, event=Event.ORDER_DELIVERED)
    return locked


def _status_after_rest(*, order: Order, lines: list[OrderLine]) -> str | None:
    # Every line is now shipped + cancelled == quantity: the order is shipped, or
    # delivered once every shipped unit is; never a step back (progress.PROGRESS_RANK).
    expected = sum(line.quantity_expected for line in lines)
    delivered = sum(line.quantity_delivered for line in lines)
    target = S.DELIVERED if delivered >= expected else S.SHIPPED
    if PROGRESS_RANK[target] <= PROGRESS_RANK[order.status]:
        return None
    return target
