"""Customer-service desk actions on one order: holds, notes, shipping address.

Each function locks the order row first (the same lock the fulfilment and
cancellation paths take), so a hold and a dispatch decision never interleave.
"""

from __future__ import annotations

from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from core.errors import Conflict, IllegalTransition, NotFound, ValidationFailed
from logistics.models import ShipmentStatusGroups
from orders import error_codes, events
from orders.models import Hold, Order, OrderEvent
from orders.transitions import order_transition

S = Order.Status

# A hold stops work that has not left the building yet.
HOLDABLE_STATUSES = frozenset({S.RECEIVED, S.ON_HOLD, S.BACKORDERED, S.ALLOCATED, S.IN_FULFILMENT})
ADDRESS_CHANGEABLE_STATUSES = HOLDABLE_STATUSES
ADDRESS_FIELDS = (
    "shipping_name",
    "shipping_line1",
    "shipping_line2",
    "shipping_city",
    "shipping_postcode",
    "shipping_region",
    "shipping_country",
)
REQUIRED_ADDRESS_FIELDS = ("shipping_name", "shipping_line1", "shipping_city", "shipping_country")
# Shipments not with the provider carry the new address when (re-)dispatched, and a
# hold can still stop them (the dispatch gate parks queued ones).
_NOT_WITH_PROVIDER_STATUSES = ShipmentStatusGroups.NOT_WITH_PROVIDER
NOTE_MAX_LENGTH = 4000


def _lock(order: Order) -> Order:
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
    user=None,
    actor: str | None = None,
    owner=None,
    due_at: datetime | None = None,
) -> Hold:
    """Put the order on hold for `reason` and record who did it.

    The order moves to on_hold (if it is not already) and stays there until its
    last active hold is released. Raises ValidationFailed for an unknown reason,
    IllegalTransition when the order is shipped or cancelled, Conflict when a
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
    order = _lock(order)
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
        owner=owner if owner is not None else (user if _is_user(user) else None),
        due_at=due_at,
        placed_by=user if _is_user(user) else None,
    )
    events.hold_placed_event(order=order, hold=hold, user=user, actor=actor)
    if order.status != S.ON_HOLD:
        order_transition(order=order, to=S.ON_HOLD, reason=f"hold:{reason}", user=user, actor=actor)
    from logistics.services.dispatch import dispatch_park_for_order

    dispatch_park_for_order(order=order, user=user, actor=actor)
    return hold


@transaction.atomic
def order_hold_release(*, hold: Hold, note: str = "", user=None, actor: str | None = None) -> Hold:
    """Release one active hold; when it was the last, the order is allocated again.

    Raises Conflict when the hold was already released.
    """
    order = _lock(hold.order)
    hold = Hold.objects.select_for_update().get(pk=hold.pk)
    if hold.released_at is not None:
        raise Conflict("This hold was already released.", code=error_codes.HOLD_ALREADY_RELEASED)
    hold.released_at = timezone.now()
    hold.released_by = user if _is_user(user) else None
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
    return hold


@transaction.atomic
def order_hold_assign(*, hold: Hold, owner, user=None, actor: str | None = None) -> Hold:
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
    order = _lock(hold.order)
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


@transaction.atomic
def order_note_add(*, order: Order, text: str, user=None, actor: str | None = None) -> OrderEvent:
    """Append an internal note to the order's timeline. Raises ValidationFailed when empty."""
    text = text.strip()
    if not text:
        raise ValidationFailed(
            "A note cannot be empty.",
            code=error_codes.NOTE_EMPTY,
            errors=[{"field": "text", "message": "Write the note."}],
        )
    if len(text) > NOTE_MAX_LENGTH:
        raise ValidationFailed(
            "The note is too long.",
            code=error_codes.NOTE_EMPTY,
            errors=[{"field": "text", "message": f"At most {NOTE_MAX_LENGTH} characters."}],
        )
    return events.note_added_event(order=order, text=text, user=user, actor=actor)


@transaction.atomic
def order_shipping_address_change(
    *, order: Order, address: dict[str, str], user=None, actor: str | None = None
) -> Order:
    """Replace the shipping address of an order that has not been dispatched.

    The new address is validated like an incoming order's. Shipments not yet
    handed to the provider carry the new address when they are dispatched; an
    active `address_invalid` hold is released, which sends the order back
    through fulfilment. Raises Conflict once anything has been dispatched,
    ValidationFailed (with per-field errors) for an invalid address.
    """
    order = _lock(order)
    dispatched = order.shipments.exclude(status__in=_NOT_WITH_PROVIDER_STATUSES).exists()
    if order.status not in ADDRESS_CHANGEABLE_STATUSES or dispatched:
        raise Conflict(
            f"Order {order.number} has already been dispatched; its address cannot change.",
            code=error_codes.ORDER_ALREADY_DISPATCHED,
        )
    cleaned = {name: " ".join(str(address.get(name, "")).split()) for name in ADDRESS_FIELDS}
    cleaned["shipping_country"] = cleaned["shipping_country"].upper()
    errors = [
        {"field": name, "message": "This field is required."}
        for name in REQUIRED_ADDRESS_FIELDS
        if not cleaned[name]
    ]
    # The same rule allocation applies, so a corrected address is not held again.
    from inventory.services.allocation import NO_POSTCODE_COUNTRIES

    if (
        cleaned["shipping_country"]
        and not cleaned["shipping_postcode"]
        and cleaned["shipping_country"] not in NO_POSTCODE_COUNTRIES
    ):
        errors.append(
            {
                "field": "shipping_postcode",
                "message": f"A postcode is required for {cleaned['shipping_country']}.",
            }
        )
    old = {name: getattr(order, name) for name in ADDRESS_FIELDS}
    for name, value in cleaned.items():
        setattr(order, name, value)
    if not errors:
        try:
            order.full_clean(
                exclude=[f.name for f in Order._meta.fields if f.name not in ADDRESS_FIELDS],
                validate_unique=False,
                validate_constraints=False,
            )
        except ValidationError as exc:
            errors = [
                {"field": name, "message": str(message)}
                for name, messages in exc.message_dict.items()
                for message in messages
            ]
    if errors:
        raise ValidationFailed(
            "The shipping address is not valid.",
            code=error_codes.ADDRESS_INVALID,
            errors=errors,
        )
    if old == cleaned:
        return order
    order.save(update_fields=[*ADDRESS_FIELDS, "shipping_postcode_key", "updated_at"])
    events.address_changed_event(order=order, old=old, new=cleaned, user=user, actor=actor)
    invalid_hold = Hold.objects.filter(
        order=order, reason=Hold.Reason.ADDRESS_INVALID, released_at__isnull=True
    ).first()
    if invalid_hold is not None:
        order_hold_release(hold=invalid_hold, note="address corrected", user=user, actor=actor)
        order.refresh_from_db()
    return order


def order_address_changeable(*, order: Order, shipments) -> bool:
    """Whether `order_shipping_address_change` would accept a change (shipments already loaded)."""
    return order.status in ADDRESS_CHANGEABLE_STATUSES and not shipments_with_provider(shipments)


def shipments_with_provider(shipments) -> list:
    """Of shipments already loaded, those the provider has accepted: a hold cannot stop them."""
    return [s for s in shipments if s.status not in _NOT_WITH_PROVIDER_STATUSES]


def _is_user(user) -> bool:
    return user is not None and getattr(user, "is_authenticated", False)
