"""Order intake: a partner's order becomes an Order with lines, handed to fulfilment."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import TypedDict

from django.db import IntegrityError, transaction
from django.utils import timezone

from core.errors import Conflict, ValidationFailed
from core.models import related_objects_set
from inventory.models import Product
from logistics.models import ServiceLevel
from orders import error_codes, events
from orders.models import Channel, Order, OrderLine
from orders.numbers import order_numbers_next
from orders.services.fulfilment import order_fulfil

MAX_LINES = 500
MAX_QUANTITY = 10_000
EXTERNAL_REFERENCE_CONSTRAINT = "order_external_reference_per_channel"


class CustomerInput(TypedDict, total=False):
    email: str
    name: str
    phone: str


class AddressInput(TypedDict, total=False):
    name: str
    line1: str
    line2: str
    city: str
    postcode: str
    region: str
    country: str


class LineInput(TypedDict):
    sku: str
    quantity: int
    unit_price: Decimal


def service_level_resolve(*, reference: str) -> ServiceLevel:
    """`standard` (unique among active levels) or `provider:standard` → the ServiceLevel.

    Raises ValidationFailed when the reference is unknown, inactive or ambiguous.
    """
    provider_code, _, code = reference.rpartition(":")
    levels = ServiceLevel.objects.filter(
        code=code, is_active=True, provider__is_active=True
    ).select_related("provider")
    if provider_code:
        levels = levels.filter(provider__code=provider_code)
    found = list(levels[:2])
    if len(found) == 1:
        return found[0]
    message = (
        f"Unknown service level {reference!r}."
        if not found
        else f"Service level {reference!r} exists at several providers; send 'provider:{code}'."
    )
    raise ValidationFailed(
        "The order has invalid fields.",
        code=error_codes.INVALID_ORDER,
        errors=[{"field": "service_level", "message": message}],
    )


def _products_for(lines: list[LineInput]) -> dict[str, Product]:
    skus = {line["sku"] for line in lines}
    products = {p.sku: p for p in Product.objects.filter(sku__in=skus)}
    errors = []
    for index, line in enumerate(lines):
        product = products.get(line["sku"])
        if product is None:
            errors.append(
                {"field": f"lines[{index}].sku", "message": f"Unknown SKU {line['sku']!r}."}
            )
        elif not product.is_active:
            errors.append(
                {
                    "field": f"lines[{index}].sku",
                    "message": f"SKU {line['sku']!r} is not sold any more.",
                }
            )
    if errors:
        raise ValidationFailed(
            "The order has invalid fields.", code=error_codes.INVALID_ORDER, errors=errors
        )
    return products


def _duplicate_of(exc: IntegrityError) -> bool:
    cause = exc.__cause__
    diag = getattr(cause, "diag", None)
    return getattr(diag, "constraint_name", None) == EXTERNAL_REFERENCE_CONSTRAINT


# No savepoint of its own when nested: an error aborts the caller's transaction anyway.
@transaction.atomic(savepoint=False)
def order_create(
    *,
    channel: Channel,
    external_reference: str,
    currency: str,
    customer: CustomerInput,
    shipping_address: AddressInput,
    lines: list[LineInput],
    service_level: str | None = None,
    placed_at: dt.datetime | None = None,
    user=None,
    actor: str | None = None,
) -> Order:
    """Create an order with its lines, record `received`, and hand it to fulfilment.

    Everything happens in one transaction: the order, its lines, the event and
    whatever allocation and shipment planning do commit together. Input shape
    (formats, ranges, ISO codes) is checked by the API serializer; this checks
    what needs the database.

    Raises ValidationFailed (422) for unknown or inactive SKUs or an unknown
    service level, and Conflict (409, code duplicate_external_reference, with
    `existing_order`) when the channel already has an order with this
    external reference, decided by the database constraint so that it also
    holds for concurrent requests.
    """
    if not lines:
        raise ValidationFailed(
            "An order needs at least one line.",
            code=error_codes.INVALID_ORDER,
            errors=[{"field": "lines", "message": "At least one line is required."}],
        )
    products = _products_for(lines)
    level = service_level_resolve(reference=service_level) if service_level else None
    total = sum((line["unit_price"] * line["quantity"] for line in lines), Decimal("0"))
    (number,) = order_numbers_next(count=1)
    order = Order(
        number=number,
        channel=channel,
        external_reference=external_reference,
        currency=currency,
        total_amount=total,
        customer_email=customer["email"],
        customer_name=customer["name"],
        customer_phone=customer.get("phone", "") or "",
        shipping_name=shipping_address["name"],
        shipping_line1=shipping_address["line1"],
        shipping_line2=shipping_address.get("line2", "") or "",
        shipping_city=shipping_address["city"],
        shipping_postcode=shipping_address.get("postcode", "") or "",
        shipping_region=shipping_address.get("region", "") or "",
        shipping_country=shipping_address["country"],
        service_level=level,
        placed_at=placed_at or timezone.now(),
    )
    try:
        with transaction.atomic():
            order.save(force_insert=True)
    except IntegrityError as exc:
        if not _duplicate_of(exc):
            raise
        existing = (
            Order.objects.filter(channel=channel, external_reference=external_reference)
            .values_list("number", flat=True)
            .first()
        )
        raise Conflict(
            f"The channel already has order {existing} with external_reference "
            f"{external_reference!r}.",
            code=error_codes.DUPLICATE_EXTERNAL_REFERENCE,
            existing_order=existing,
        ) from None
    order_lines = OrderLine.objects.bulk_create(
        OrderLine(
            order=order,
            line_number=index,
            product=products[line["sku"]],
            sku=line["sku"],
            quantity=line["quantity"],
            unit_price=line["unit_price"],
        )
        for index, line in enumerate(lines, start=1)
    )
    # Every line of the order: the 201 response reads them without a query.
    related_objects_set(order, "lines", order_lines)
    events.order_received_event(order=order, user=user, actor=actor, line_count=len(order_lines))
    order_fulfil(order=order, user=user, actor=actor, new_order=True)
    return order
