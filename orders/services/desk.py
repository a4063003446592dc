"""Customer-service desk actions on one order: notes, shipping address (holds: holds.py).

Each function locks the order row first (the same lock the fulfilment and
cancellation paths take), so a hold and a dispatch decision never interleave.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.core.exceptions import ValidationError
from django.db import transaction

from core.errors import Conflict, ValidationFailed
from core.users import ActingUser
from logistics.models import Shipment, ShipmentStatusGroups
from orders import error_codes, events
from orders.iso import postcode_normalise, postcode_problem
from orders.models import Hold, Order, OrderEvent
from orders.services.holds import BEFORE_SHIPPING_STATUSES, order_hold_release, order_lock

# A hold may also stop the unshipped rest of a partially shipped order; its address
# cannot change any more (part of it is on its way to the old one).
ADDRESS_CHANGEABLE_STATUSES = BEFORE_SHIPPING_STATUSES
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


@transaction.atomic
def order_note_add(
    *, order: Order, text: str, user: ActingUser | None = None, actor: str | None = None
) -> OrderEvent:
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
    *,
    order: Order,
    address: dict[str, str],
    user: ActingUser | None = None,
    actor: str | None = None,
) -> Order:
    """Replace the shipping address of an order that has not been dispatched.

    The new address is validated like an incoming order's. Shipments not yet
    handed to the provider carry the new address when they are dispatched; an
    active `address_invalid` hold is released, which sends the order back
    through fulfilment. Raises Conflict once anything has been dispatched,
    ValidationFailed (with per-field errors) for an invalid address.
    """
    order = order_lock(order=order)
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
    cleaned["shipping_postcode"] = postcode_normalise(cleaned["shipping_postcode"])
    # Required where allocation requires it (the same NO_POSTCODE_COUNTRIES, so a
    # corrected address is not held again), and shaped like the country's postcodes
    # ("ABCDEFG" is no French postcode).
    problem = postcode_problem(
        country=cleaned["shipping_country"], postcode=cleaned["shipping_postcode"]
    )
    if problem:
        errors.append({"field": "shipping_postcode", "message": problem})
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


def order_address_changeable(*, order: Order, shipments: Iterable[Shipment]) -> bool:
    """Whether `order_shipping_address_change` would accept a change (shipments already loaded)."""
    return order.status in ADDRESS_CHANGEABLE_STATUSES and not shipments_with_provider(shipments)


def shipments_with_provider(shipments: Iterable[Shipment]) -> list[Shipment]:
    """Of shipments already loaded, those the provider has accepted: a hold cannot stop them."""
    return [s for s in shipments if s.status not in _NOT_WITH_PROVIDER_STATUSES]
