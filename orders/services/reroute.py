"""Re-routing an order: give up its unsent plan, release its stock, route it again.

Operations re-route an order that waits (backordered), is held (on hold) or whose
dispatch a provider refused (in fulfilment with a `dispatch_failed` shipment that no
provider can hold), one at a time from the order page or in bulk (a back-office job).
One transaction, the order row locked first (then, through the stock engine, the stock
levels by primary key, as every allocation): a failure anywhere leaves the order, its
shipments and the stock as they were.

Safety rule (the same as logistics' re-route of a refused dispatch): a shipment a
provider may hold is never abandoned, so re-routing never leaves two live shipments at
providers for one order. The dispatch gate calls a provider while holding the order's
row lock, and logistics names (and refuses to give up) a shipment a worker has claimed,
so a dispatch and a re-route never both go ahead: either the re-route is refused or the
cancelled shipment's outbox row is gone before any worker can send it.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from django.db import transaction

from core.errors import Conflict, ValidationFailed
from inventory.models import Allocation
from logistics.models import Shipment
from logistics.services.reroute import shipments_cancel_unsent, shipments_unsent_review
from orders import error_codes, events
from orders.models import Order
from orders.services.allocation import order_allocate, order_deallocate
from orders.services.fulfilment import order_fulfil
from orders.services.holds import order_lock
from orders.transitions import order_transition

if TYPE_CHECKING:
    from core.users import ActingUser

S = Order.Status

# What a re-route may start from. An order in fulfilment qualifies only through a
# shipment whose dispatch a provider refused (`order_reroute`).
REROUTABLE_STATUSES = frozenset({S.BACKORDERED, S.ON_HOLD, S.IN_FULFILMENT})
REASON_MAX = 500


@dataclass(frozen=True)
class RerouteOutcome:
    """What a re-route did: the sites (warehouse codes) before and after, the cancelled
    unsent shipments and the order's status now."""

    order: Order
    before_sites: list[str]
    after_sites: list[str]
    cancelled_shipments: list[int] = field(default_factory=list)

    @property
    def status(self) -> str:
        return self.order.status


def _refused(order: Order, why: str, **extra: object) -> Conflict:
    return Conflict(
        f"Order {order.number} cannot be re-routed: {why}.",
        code=error_codes.ORDER_NOT_REROUTABLE,
        order_status=order.status,
        **extra,
    )


def _active_sites(order: Order) -> list[str]:
    return sorted(
        set(
            Allocation.objects.filter(
                order_line__order_id=order.pk, status=Allocation.Status.ACTIVE
            ).values_list("warehouse__code", flat=True)
        )
    )


def order_reroute_refusal(*, order: Order) -> str:
    """Why the order's status rules out a re-route ("" when it may be tried).

    For the screens (whether to offer the action); `order_reroute` checks again
    under the lock, with the shipments.
    """
    if order.status not in REROUTABLE_STATUSES:
        return f"order is {order.get_status_display().lower()}"
    return ""


def _check_shipments(order: Order) -> list[int]:
    """The order's live shipments, all cancellable; raise Conflict when one is not,
    or when an order in fulfilment has no refused dispatch to re-route from."""
    unsent = shipments_unsent_review(order_id=order.pk)
    kept = [u for u in unsent if u.refusal]
    if kept:
        first = kept[0]
        raise _refused(
            order,
            f"shipment {first.shipment_id} cannot be given up ({first.refusal})",
            shipment_ids=[u.shipment_id for u in kept],
        )
    if order.status == S.IN_FULFILMENT and not any(
        u.status == Shipment.Status.DISPATCH_FAILED for u in unsent
    ):
        raise _refused(order, "it is in fulfilment and no dispatch of it failed")
    return [u.shipment_id for u in unsent]


@transaction.atomic
def order_reroute(
    *,
    order: Order,
    user: ActingUser | None = None,
    actor: str | None = None,
    exclude_sites: Collection[str] = (),
    reason: str,
) -> RerouteOutcome:
    """Cancel the order's unsent shipments, release its stock and route it again.

    Allowed for an order backordered, on hold, or in fulfilment with a shipment whose
    dispatch the provider refused (`logistics.services.reroute.shipment_abandon_refusal`).
    Promises, in one transaction with the order row locked: the not-yet-dispatched
    shipments (pending and not being handed over, or refused) are cancelled through
    logistics; the active allocations are released; the order is allocated again
    through the router with `exclude_sites` (warehouse codes) left out, and its
    shipments planned as at intake; an on-hold order stays on hold with its new stock
    reserved (its shipments are planned when the hold is released). Records an
    `order_rerouted` event with the sites before and after.

    Raises ValidationFailed (reroute_reason_required) without a reason; Conflict
    (order_not_reroutable, with `order_status` and, when a shipment is why,
    `shipment_ids`) for any other status, a shipment with a provider or being handed
    to one, or a failed dispatch a provider may hold. Nothing is written when it raises.
    """
    reason = reason.strip()
    if not reason:
        raise ValidationFailed(
            "Say why the order is re-routed.",
            code=error_codes.REROUTE_REASON_REQUIRED,
            errors=[{"field": "reason", "message": "Required."}],
        )
    locked = order_lock(order=order)
    refusal = order_reroute_refusal(order=locked)
    if refusal:
        raise _refused(locked, refusal)
    unsent = _check_shipments(locked)
    excluded = sorted(set(exclude_sites))
    cancelled = shipments_cancel_unsent(
        order_id=locked.pk, shipment_ids=unsent, user=user, actor=actor
    )
    released = order_deallocate(
        order=locked, user=user, actor=actor, reason=f"Re-routed: {reason[:REASON_MAX]}"
    )
    before = sorted({allocation.warehouse.code for allocation in released})
    if locked.ships_partial:
        # Nothing of it is with a provider: the router decides its split policy afresh.
        locked.ships_partial = False
        Order.objects.filter(pk=locked.pk).update(ships_partial=False)
    if locked.status == S.IN_FULFILMENT:
        order_transition(
            order=locked,
            to=S.ALLOCATED,
            reason="Re-routed: stock is allocated again.",
            user=user,
            actor=actor,
        )
    if locked.status == S.ON_HOLD:
        order_allocate(
            order=locked, user=user, actor=actor, exclude_sites=excluded, reserve_while_held=True
        )
    else:
        order_fulfil(order=locked, user=user, actor=actor, exclude_sites=excluded)
    after = _active_sites(locked)
    events.order_rerouted_event(
        order=locked,
        reason=reason[:REASON_MAX],
        before_sites=before,
        after_sites=after,
        excluded_sites=excluded,
        cancelled_shipments=cancelled,
        user=user,
        actor=actor,
    )
    locked.refresh_from_db()
    order.status, order.updated_at = locked.status, locked.updated_at
    order.ships_partial = locked.ships_partial
    return RerouteOutcome(
        order=locked, before_sites=before, after_sites=after, cancelled_shipments=cancelled
    )
