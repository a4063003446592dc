"""Inbound shipments (ASNs): expected lines, receipts by barcode or SKU, discrepancies."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from core.errors import Conflict, NotFound, ValidationFailed
from core.models import column_range
from core.users import ActingUser, recorded_user
from inventory import error_codes
from inventory.models import InboundLine, InboundReceipt, InboundShipment, Product
from inventory.services.stock import require_positive, stock_receive

RECEIVED_MAX = column_range(InboundLine, "received_quantity")[1]


def product_by_code(*, code: str) -> Product:
    """The product whose barcode or SKU is `code` (what a scanner or a person typed), in any case.

    An exact match wins over one in another case (SKUs are unique only as typed).
    Raises NotFound (unknown_sku).
    """
    code = (code or "").strip()
    product = None
    if code:
        # Exact first: it uses the unique indexes; the case-insensitive fallback only runs
        # for a code typed in another case (a handheld's keyboard, a lower-case label).
        product = (
            Product.objects.filter(Q(barcode=code) | Q(sku=code)).order_by("-barcode").first()
            or Product.objects.filter(Q(barcode__iexact=code) | Q(sku__iexact=code))
            .order_by("-barcode", "pk")
            .first()
        )
    if product is None:
        raise NotFound(
            f"No product has the barcode or SKU {code!r}.",
            code=error_codes.UNKNOWN_SKU,
            errors=[{"field": "code", "message": "Unknown barcode or SKU."}],
        )
    return product


@transaction.atomic
def inbound_receive(
    *,
    inbound: InboundShipment,
    code: str,
    quantity: int = 1,
    source: str = InboundReceipt.Source.MANUAL,
    external_id: str | None = None,
    user: ActingUser | None = None,
) -> InboundReceipt:
    """Receive `quantity` of the product scanned/typed as `code` and put it away into stock.

    A product not on the ASN is received on a new line expecting 0 (a
    discrepancy). With `external_id` (an LSP event id) a redelivery returns
    the first receipt and changes nothing. Raises NotFound (unknown_sku),
    ValidationFailed (quantity), Conflict (inbound_closed).
    """
    if external_id:
        seen = InboundReceipt.objects.filter(external_id=external_id).first()
        if seen is not None:
            return seen
    require_positive(quantity)
    product = product_by_code(code=code)
    inbound = (
        InboundShipment.objects.select_for_update().select_related("warehouse").get(pk=inbound.pk)
    )
    if inbound.status == InboundShipment.Status.CLOSED:
        raise Conflict(
            f"Inbound {inbound.reference} is closed; open a new one to receive more.",
            code=error_codes.INBOUND_CLOSED,
        )
    line, _ = InboundLine.objects.get_or_create(inbound=inbound, product=product)
    # The inbound row is locked, so the line's total is current; past the column's range
    # Postgres would fail the UPDATE ("integer out of range", a 500).
    if line.received_quantity + quantity > RECEIVED_MAX:
        raise ValidationFailed(
            f"{product.sku} would be received {line.received_quantity + quantity} times on "
            f"{inbound.reference}, more than a line can hold ({RECEIVED_MAX}).",
            code=error_codes.INVALID_QUANTITY,
            errors=[{"field": "quantity", "message": f"At most {RECEIVED_MAX} per line."}],
        )
    InboundLine.objects.filter(pk=line.pk).update(
        received_quantity=F("received_quantity") + quantity
    )
    receipt = InboundReceipt.objects.create(
        line=line,
        quantity=quantity,
        source=source,
        external_id=external_id,
        actor=recorded_user(user),
    )
    stock_receive(
        product=product,
        warehouse=inbound.warehouse,
        quantity=quantity,
        reference=f"asn:{inbound.reference}",
        user=user,
    )
    if inbound.status == InboundShipment.Status.EXPECTED:
        inbound.status = InboundShipment.Status.RECEIVING
        inbound.save(update_fields=["status", "updated_at"])
    return receipt


@transaction.atomic
def inbound_close(
    *, inbound: InboundShipment, user: ActingUser | None = None
) -> list[dict[str, Any]]:
    """Close the ASN; returns its discrepancies [{sku, expected, received, difference}].

    Raises Conflict (inbound_closed) when already closed.
    """
    inbound = InboundShipment.objects.select_for_update().get(pk=inbound.pk)
    if inbound.status == InboundShipment.Status.CLOSED:
        raise Conflict(
            f"Inbound {inbound.reference} is already closed.", code=error_codes.INBOUND_CLOSED
        )
    inbound.status = InboundShipment.Status.CLOSED
    inbound.closed_at = timezone.now()
    inbound.closed_by = recorded_user(user)
    inbound.save(update_fields=["status", "closed_at", "closed_by", "updated_at"])
    return inbound_discrepancies(inbound=inbound)


def inbound_discrepancies(*, inbound: InboundShipment) -> list[dict[str, Any]]:
    return [
        {
            "sku": line.product.sku,
            "expected": line.expected_quantity,
            "received": line.received_quantity,
            "difference": line.discrepancy,
        }
        for line in inbound.lines.select_related("product")
        if line.discrepancy
    ]
