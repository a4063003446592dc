"""Customs: which shipments cross a customs border, their declaration, and the dispatch gate."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import transaction

from logistics.models import (
    CustomsDeclaration,
    CustomsDeclarationLine,
    CustomsUnionMember,
    Shipment,
)

FOUR_PLACES = Decimal("0.0001")


def customs_unions_of(country: str) -> set[int]:
    return set(
        CustomsUnionMember.objects.filter(country=country).values_list("union_id", flat=True)
    )


def customs_border_crossed(*, origin: str, destination: str) -> bool:
    """True when goods from `origin` to `destination` need a customs declaration.

    Not for a domestic move, nor between two members of the same customs union
    (the unions and their members are data: logistics.CustomsUnion).
    """
    if origin == destination:
        return False
    return not (customs_unions_of(origin) & customs_unions_of(destination))


def _problems_for(lines: list[CustomsDeclarationLine]) -> list[dict[str, str]]:
    problems = []
    for line in lines:
        if not line.hs_code:
            problems.append(
                {"sku": line.sku, "field": "hs_code", "message": f"{line.sku} has no HS code"}
            )
        if line.unit_value is None:
            problems.append(
                {
                    "sku": line.sku,
                    "field": "customs_value",
                    "message": f"{line.sku} has no customs value",
                }
            )
        if not line.origin_country:
            problems.append(
                {
                    "sku": line.sku,
                    "field": "country_of_origin",
                    "message": f"{line.sku} has no country of origin",
                }
            )
    return problems


@transaction.atomic
def customs_declaration_build(
    *, shipment: Shipment, new: bool = False
) -> CustomsDeclaration | None:
    """(Re)build the shipment's customs declaration from its lines and products.

    Returns None (and deletes any old declaration) when the shipment does not cross a
    customs border. Otherwise returns the declaration, whose `problems` list names
    every SKU and field that is missing (empty when it is complete). Values are the
    products' customs values in the order's currency (the invoice value), falling
    back to the product's own customs currency when it has one.
    `new=True`: the shipment was created in this transaction, so it has no old
    declaration to delete.
    """
    order = shipment.order
    origin = shipment.warehouse.country
    destination = order.shipping_country
    if not new:
        CustomsDeclaration.objects.filter(shipment=shipment).delete()
    if not customs_border_crossed(origin=origin, destination=destination):
        return None
    declaration = CustomsDeclaration(
        shipment=shipment,
        contents_type=(
            CustomsDeclaration.ContentsType.RETURNED_GOODS
            if shipment.direction == Shipment.Direction.RETURN
            else CustomsDeclaration.ContentsType.MERCHANDISE
        ),
        incoterm=order.channel.incoterm,
        currency=order.currency,
        origin_country=origin,
        destination_country=destination,
        exporter_eori=settings.CUSTOMS_EXPORTER_EORI,
        exporter_vat=settings.CUSTOMS_EXPORTER_VAT,
        invoice_number=f"CI-{order.number}-{shipment.pk}",
    )
    lines = []
    for ship_line in shipment.lines.select_related("order_line__product").order_by(
        "order_line__line_number"
    ):
        product = ship_line.order_line.product
        unit_value = product.customs_value
        if unit_value is not None and product.customs_currency:
            declaration.currency = product.customs_currency
        lines.append(
            CustomsDeclarationLine(
                order_line=ship_line.order_line,
                sku=ship_line.order_line.sku,
                description=(product.customs_description or product.name)[:200],
                hs_code=product.hs_code,
                origin_country=product.country_of_origin,
                quantity=ship_line.quantity,
                unit_value=unit_value,
                value=(unit_value * ship_line.quantity).quantize(FOUR_PLACES)
                if unit_value is not None
                else None,
                weight_grams=product.weight_grams * ship_line.quantity,
            )
        )
    declaration.problems = _problems_for(lines)
    declaration.total_value = sum((line.value or Decimal(0) for line in lines), Decimal(0))
    declaration.total_weight_grams = sum(line.weight_grams for line in lines)
    declaration.save()
    for line in lines:
        line.declaration = declaration
    CustomsDeclarationLine.objects.bulk_create(lines)
    return declaration


def customs_hold_note(*, shipment: Shipment, declaration: CustomsDeclaration) -> str:
    """The precise reason a CS agent reads on the hold: which SKU lacks what."""
    missing = "; ".join(problem["message"] for problem in declaration.problems)
    return (
        f"Customs data missing for shipment {shipment.pk} "
        f"({declaration.origin_country} → {declaration.destination_country}): {missing}. "
        "Fix the product(s), then release this hold to dispatch."
    )


def customs_payload(*, declaration: CustomsDeclaration) -> dict[str, Any]:
    """The declaration as sent to the provider in the dispatch request."""
    return {
        "contents_type": declaration.contents_type,
        "incoterm": declaration.incoterm,
        "currency": declaration.currency,
        "invoice_number": declaration.invoice_number,
        "origin_country": declaration.origin_country,
        "destination_country": declaration.destination_country,
        "exporter": {"eori": declaration.exporter_eori, "vat": declaration.exporter_vat},
        "total_value": str(declaration.total_value.quantize(Decimal("0.01"))),
        "total_weight_grams": declaration.total_weight_grams,
        "items": [
            {
                "sku": line.sku,
                "description": line.description,
                "hs_code": line.hs_code,
                "origin_country": line.origin_country,
                "quantity": line.quantity,
                "unit_value": str(line.unit_value.quantize(Decimal("0.01")))
                if line.unit_value is not None
                else None,
                "value": str(line.value.quantize(Decimal("0.01")))
                if line.value is not None
                else None,
                "weight_grams": line.weight_grams,
            }
            for line in declaration.lines.all()
        ],
    }
