"""Holds: the one place that places, releases and assigns an order's holds.

Three kinds of caller, one service each:
- people (the CS desk, bulk jobs): `order_hold_place`, `order_hold_release`,
  `order_hold_assign`; they lock the order themselves and validate what a person typed;
- automatic stops (allocation's value/address checks, the customs gate of shipment
  planning): `order_holds_place_automatic`, called with the order row already locked.

Every hold placed or released records an OrderEvent in the same transaction, and
the order moves to (or stays in) `on_hold` while a hold is active.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from django.db import transaction
from django.utils import timezone

from core.errors import Conflict, IllegalTransition, NotFound, ValidationFailed
from core.users import recorded_user
from orders import error_codes, events
from orders.models import Hold, Order
from orders.transitions import order_transition

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    from core.users import ActingUser

S = Order.Status

# A hold stops work that has not left the building yet.
BEFORE_SHIPPING_STATUSES = frozenset(
    {S.RECEIVED, S.ON_HOLD, S.BACKORDERED, S.ALLOCATED, S.IN_FULFILMENT}
)
# A partially shipped order can be held too (issue 16 item 12): the hold parks what has
# not left yet (the dispatch gate parks any shipment of an order with an active hold),
# while the order keeps its status, since part of it is already on its way.
HELD_IN_PLACE_STATUSES = frozenset({S.PARTIALLY_SHIPPED})
HOLDABLE_STATUSES = BEFORE_SHIPPING_STATUSES | HELD_IN_PLACE_STATUSES


def order_lock(*, order: Order) -> Order:
    """Lock the order row (the lock fulfilment, cancellation and the desk all take first).

    Raises NotFound when the order is gone.
    """
    try:
        return Order.objects.select_for_update().get(pk=order.pk)
    except Order.DoesNotExist as exc:
        raise NotFound("Order not found.", code=error_codes.ORDER_NOT_FOUND) from exc


@transaction.atomic
def order_hold_place(
    *,
    order: Order,
    reason: str,
    note: str = "",
    user: ActingUser | None = None,
    actor: str | None = None,
    owner: User | None = None,
    due_at: datetime | None = None,
) -> Hold:
    """Put the order on hold for `reason` and record who did it.

    The order moves to on_hold (if it is not already) and stays there until its
    last active hold is released; a partially shipped order keeps its status and
    only its unshipped rest waits. Raises ValidationFailed for an unknown reason,
    IllegalTransition when the order is fully shipped or cancelled, Conflict when a
    hold with the same reason is already active.

    Shipments not yet accepted by the provider are parked (their outbox rows wait
    until the last hold is released; see logistics.services.dispatch). A hold on an
    order whose shipment the provider already accepted is still recorded: the
    caller tells the agent with `shipments_with_provider` (a hold cannot stop those).
    The dispatch gate holds the order's lock while it calls the provider, so a
    dispatch either finished before this lock was granted or never happens.
    """
    if reason not in Hold.Reason.values:
        raise ValidationFailed(
            f"Unknown hold reason {reason!r}.",
            code=error_codes.HOLD_REASON_UNKNOWN,
            errors=[{"field": "reason", "message": "Choose one of the hold reasons."}],
        )
    order = order_lock(order=order)
    if order.status not in HOLDABLE_STATUSES:
        raise IllegalTransition(
            f"Order {order.number} is {order.get_status_display().lower()} and cannot be held.",
            code=error_codes.ORDER_NOT_HOLDABLE,
            current_status=order.status,
        )
    if Hold.objects.filter(order=order, reason=reason, released_at__isnull=True).exists():
        raise Conflict(
            f"Order {order.number} already has an active {Hold.Reason(reason).label.lower()} hold.",
            code=error_codes.HOLD_ALREADY_ACTIVE,
        )
    hold = Hold.objects.create(
        order=order,
        reason=reason,
        note=note.strip(),
        owner=owner if owner is not None else recorded_user(user),
        due_at=due_at,
        placed_by=recorded_user(user),
    )
    events.hold_placed_event(order=order, hold=hold, user=user, actor=actor)
    if order.status not in HELD_IN_PLACE_STATUSES and order.status != S.ON_HOLD:
        order_transition(order=order, to=S.ON_HOLD, reason=f"hold:{reason}", user=user, actor=actor)
    from logistics.services.dispatch import dispatch_park_for_order

    dispatch_park_for_order(order_id=order.pk, user=user, actor=actor)
    return hold


def order_holds_place_automatic(
    *,
    order: Order,
    reasons: Sequence[tuple[str, str]],
    status_reason: str,
    user: ActingUser | None = None,
    actor: str | None = None,
) -> list[Hold]:
    """Hold the (already locked) order for each `(reason, detail)` a system check found.

    For allocation (value over the channel limit, address failing validation) and
    the customs gate of shipment planning. A reason already held actively is not
    held twice and records nothing; each new hold records an automatic
    `hold_placed` event. The order then moves to on_hold with `status_reason`
    (unless it is there already). Unlike `order_hold_place`, nothing is parked:
    the caller itself is what stops the work. Run inside the caller's transaction,
    with the order's row lock held. Returns the holds it created.
    """
    created_holds: list[Hold] = []
    for reason, detail in reasons:
        hold, created = Hold.objects.get_or_create(
            order=order, reason=reason, released_at__isnull=True, defaults={"note": detail}
        )
        if not created:
            continue
        created_holds.append(hold)
        events.allocation_hold_placed_event(
            order=order, hold_reason=reason, detail=detail, user=user, actor=actor
        )
    if order.status != S.ON_HOLD:
        order_transition(order=order, to=S.ON_HOLD, reason=status_reason, user=user, actor=actor)
    return created_holds


@transaction.atomic
def order_hold_release(
    *,
    hold: Hold,
    note: str = "",
    user: ActingUser | None = None,
    actor: str | None = None,
) -> Hold:
    """Release one active hold; when it was the last, the order is allocated again
    (a partially shipped order: its parked dispatches are resumed).

    Raises Conflict when the hold was already released.
    """
    order = order_lock(order=hold.order)
    hold = Hold.objects.select_for_update().get(pk=hold.pk)
    if hold.released_at is not None:
        raise Conflict("This hold was already released.", code=error_codes.HOLD_ALREADY_RELEASED)
    hold.released_at = timezone.now()
    hold.released_by = recorded_user(user)
    hold.release_note = note.strip()
    hold.save(update_fields=["released_at", "released_by", "release_note", "updated_at"])
    events.hold_released_event(order=order, hold=hold, user=user, actor=actor)
    still_held = Hold.objects.filter(order=order, released_at__isnull=True).exists()
    if order.status == S.ON_HOLD and not still_held:
        from orders.services.fulfilment import order_fulfil

        # Straight from on_hold into allocation, not back through `received`:
        # allocation re-checks a received order's value and address and would put
        # back the very hold a person just released after reviewing it.
        order_fulfil(order=order, user=user, actor=actor)
    elif order.status in HELD_IN_PLACE_STATUSES and not still_held:
        from logistics.services.dispatch import dispatch_resume_for_order

        # The rest of a partially shipped order was allocated and planned already:
        # only its parked dispatches wait for the hold.
        dispatch_resume_for_order(order_id=order.pk, user=user, actor=actor)
    return hold


@transaction.atomic
def order_hold_assign(
    *,
    hold: Hold,
    owner: User | None,
    user: ActingUser | None = None,
    actor: str | None = None,
) -> Hold:
    """Make `owner` (a staff user, or None for nobody) the person who follows the hold up.

    Records a `hold_assigned` event; giving a hold to its current owner changes and
    records nothing. Raises Conflict when the hold was already released,
    ValidationFailed when the owner is not an active staff user.
    """
    if owner is not None and not (owner.is_active and owner.is_staff):
        raise ValidationFailed(
            f"{owner.get_username()} cannot own holds (not an active staff user).",
            code=error_codes.HOLD_OWNER_INVALID,
            errors=[{"field": "owner", "message": "Choose an active staff user."}],
        )
    order = order_lock(order=hold.order)
    hold = Hold.objects.select_for_update(of=("self",)).select_related("owner").get(pk=hold.pk)
    if hold.released_at is not None:
        raise Conflict("This hold was already released.", code=error_codes.HOLD_ALREADY_RELEASED)
    if hold.owner_id == (owner.pk if owner is not None else None):
        return hold
    previous = hold.owner
    hold.owner = owner
    hold.save(update_fields=["owner", "updated_at"])
    events.hold_assigned_event(
        order=order, hold=hold, previous_owner=previous, user=user, actor=actor
    )
    return hold
