"""Order intake: a partner's order becomes an Order with lines, handed to fulfilment."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any, NotRequired, TypedDict

from django.db import connection, transaction
from django.utils import timezone

from core.errors import Conflict, ValidationFailed
from core.inserts import insert_all, insert_statement, inserted
from core.models import related_objects_set
from core.pipeline import one_row, pipelined, prepared_cursor
from core.rows import from_row
from inventory import sql as inventory_sql
from inventory.models import Product
from logistics import sql as logistics_sql
from logistics.models import Provider, ServiceLevel
from orders import error_codes, events
from orders.models import Channel, Order, OrderLine
from orders.numbers import format_order_number
from orders.services.fulfilment import order_fulfil
from orders.services.partner_notifications import orders_created_publish, partner_events_held
from orders.sql import NEXT_NUMBERS_SQL

if TYPE_CHECKING:
    from django.contrib.auth.models import User

MAX_LINES = 500
MAX_QUANTITY = 10_000
# `placed_at` window (docs/api.md): e-commerce orders older than this are a typo or an epoch
# default (year 1, 1970), and an order cannot be placed much later than now; a day's slack
# covers clocks and a partner sending local time marked as UTC.
PLACED_AT_EARLIEST = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
PLACED_AT_FUTURE_SLACK = dt.timedelta(days=1)


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


class OrderInput(TypedDict):
    """One order as the API serializer validated it (the keyword arguments of order_create)."""

    external_reference: str
    currency: str
    customer: CustomerInput
    shipping_address: AddressInput
    lines: list[LineInput]
    service_level: NotRequired[str | None]
    placed_at: NotRequired[dt.datetime | None]


# The channel's duplicate external_reference is the database's decision (the
# unique constraint order_external_reference_per_channel), so it also holds
# for concurrent requests; DO NOTHING answers it without aborting the
# transaction (no savepoint needed) and a concurrent inserter is waited for.
_ON_DUPLICATE_REFERENCE = "ON CONFLICT (channel_id, external_reference) DO NOTHING"


def _invalid(errors: list[dict[str, str]]) -> ValidationFailed:
    return ValidationFailed(
        "The order has invalid fields.", code=error_codes.INVALID_ORDER, errors=errors
    )


def service_level_from(rows: Sequence[Sequence[Any]], reference: str) -> ServiceLevel:
    """`standard` (unique among active levels) or `provider:standard` → the ServiceLevel.

    `rows`: what logistics_sql.SERVICE_LEVEL_BY_CODE_SQL found. Raises ValidationFailed when the
    reference is unknown, inactive or ambiguous.
    """
    if len(rows) == 1:
        level, end = from_row(ServiceLevel, rows[0])
        level.provider = from_row(Provider, rows[0], end)[0]
        return level
    code = reference.rpartition(":")[2]
    message = (
        f"Unknown service level {reference!r}."
        if not rows
        else f"Service level {reference!r} exists at several providers; send 'provider:{code}'."
    )
    raise _invalid([{"field": "service_level", "message": message}])


def _products_from(rows: Sequence[Sequence[Any]], lines: list[LineInput]) -> dict[str, Product]:
    products = products_by_sku(rows)
    products_check(products=products, lines=lines)
    return products


def products_by_sku(rows: Sequence[Sequence[Any]]) -> dict[str, Product]:
    """SKU -> Product from what inventory_sql.PRODUCTS_BY_SKU_SQL found."""
    return {product.sku: product for product in (from_row(Product, row)[0] for row in rows)}


def products_check(*, products: dict[str, Product], lines: list[LineInput]) -> None:
    """Raise ValidationFailed naming each line whose SKU is unknown or no longer sold."""
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
        raise _invalid(errors)


def _intake_reads(
    *, lines: list[LineInput], service_level: str | None
) -> tuple[dict[str, Product], ServiceLevel | None, str]:
    """The lines' products, the service level and a new order number, in one round trip.

    Raises ValidationFailed for unknown or inactive SKUs or an unknown service level.
    """
    with (
        pipelined(),
        prepared_cursor() as products,
        prepared_cursor() as numbers,
        prepared_cursor() as levels,
    ):
        products.execute(
            inventory_sql.PRODUCTS_BY_SKU_SQL,
            [sorted({line["sku"] for line in lines})],
            prepare=True,
        )
        numbers.execute(NEXT_NUMBERS_SQL, [1], prepare=True)
        if service_level:
            provider_code, _, code = service_level.rpartition(":")
            levels.execute(
                logistics_sql.SERVICE_LEVEL_BY_CODE_SQL,
                [code, provider_code, provider_code],
                prepare=True,
            )
        product_rows = products.fetchall()
        (number,) = one_row(numbers)
        level_rows = levels.fetchall() if service_level else []
    found = _products_from(product_rows, lines)
    level = service_level_from(level_rows, service_level) if service_level else None
    return found, level, format_order_number(number)


def order_build(
    *,
    channel: Channel,
    number: str,
    external_reference: str,
    currency: str,
    customer: CustomerInput,
    shipping_address: AddressInput,
    lines: list[LineInput],
    service_level: ServiceLevel | None,
    placed_at: dt.datetime | None,
) -> Order:
    """The unsaved Order a partner's input makes (single and batch intake alike)."""
    total = sum((line["unit_price"] * line["quantity"] for line in lines), Decimal("0"))
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
        service_level=service_level,
        placed_at=placed_at or timezone.now(),
    )
    order.search_keys_set()
    return order


def order_lines_build(
    *, order: Order, lines: list[LineInput], products: dict[str, Product]
) -> list[OrderLine]:
    """The unsaved lines of `order`, numbered from 1 in input order."""
    return [
        OrderLine(
            order=order,
            line_number=index,
            product=products[line["sku"]],
            sku=line["sku"],
            quantity=line["quantity"],
            unit_price=line["unit_price"],
        )
        for index, line in enumerate(lines, start=1)
    ]


def duplicate_reference(*, external_reference: str, existing: str | None) -> Conflict:
    """The 409 for a second order with the channel's `external_reference`."""
    return Conflict(
        f"The channel already has order {existing} with external_reference {external_reference!r}.",
        code=error_codes.DUPLICATE_EXTERNAL_REFERENCE,
        existing_order=existing,
    )


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
    user: User | None = None,
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
        raise _invalid([{"field": "lines", "message": "At least one line is required."}])
    products, level, number = _intake_reads(lines=lines, service_level=service_level)
    order = order_build(
        channel=channel,
        number=number,
        external_reference=external_reference,
        currency=currency,
        customer=customer,
        shipping_address=shipping_address,
        lines=lines,
        service_level=level,
        placed_at=placed_at,
    )
    sql, params = insert_statement(order, returning=True, suffix=_ON_DUPLICATE_REFERENCE)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        existing = (
            Order.objects.filter(channel=channel, external_reference=external_reference)
            .values_list("number", flat=True)
            .first()
        )
        raise duplicate_reference(external_reference=external_reference, existing=existing)
    inserted(order, row[0])
    order_lines = order_lines_build(order=order, lines=lines, products=products)
    insert_all(*order_lines)
    # Every line of the order: the 201 response reads them without a query.
    related_objects_set(order, "lines", order_lines)
    events.order_received_event(order=order, user=user, actor=actor, line_count=len(order_lines))
    with partner_events_held() as held:
        order_fulfil(order=order, user=user, actor=actor, new_order=True)
    # order.created (the order as GET shows it, kept for the 201), then its shipments.
    orders_created_publish(orders=[order], held=held)
    return order
