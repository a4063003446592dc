"""Inbound shipments (ASNs): creation, the status machine, receipts by barcode, SKU or LSP
event, discrepancies.

The status machine lives here and only here (`INBOUND_TRANSITIONS`, `_move`); the
database holds the set of statuses (`inbound_status_valid`). Logistics drives an LSP
site's ASN through these services (sending it, the LSP's receipt events); an own site's
ASN is received with the barcode screen.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from core.errors import Conflict, IllegalTransition, NotFound, ValidationFailed
from core.models import column_range
from core.users import ActingUser, recorded_user
from inventory import error_codes
from inventory.bin_selectors import putaway_suggestion
from inventory.models import (
    Bin,
    InboundLine,
    InboundReceipt,
    InboundShipment,
    Product,
    Warehouse,
)
from inventory.selectors import product_for_code
from inventory.services.bins import bin_putaway
from inventory.services.stock import require_positive, stock_receive

RECEIVED_MAX = column_range(InboundLine, "received_quantity")[1]
EXPECTED_MAX = 1_000_000
LINES_MAX = 500

S = InboundShipment.Status
# Every legal move of an ASN's status. `draft` only for an LSP site until the LSP has
# accepted it (its receipts may overtake that answer: draft → receiving); an own site's
# ASN starts `sent`. Cancelling is possible until the first receipt.
INBOUND_TRANSITIONS: dict[str, frozenset[str]] = {
    S.DRAFT: frozenset({S.SENT, S.IN_TRANSIT, S.RECEIVING, S.RECEIVED, S.CANCELLED}),
    S.SENT: frozenset({S.IN_TRANSIT, S.RECEIVING, S.RECEIVED, S.CANCELLED}),
    S.IN_TRANSIT: frozenset({S.RECEIVING, S.RECEIVED, S.CANCELLED}),
    S.RECEIVING: frozenset({S.RECEIVED}),
    S.RECEIVED: frozenset(),
    S.CANCELLED: frozenset(),
}
CANCELLABLE = frozenset(s for s, targets in INBOUND_TRANSITIONS.items() if S.CANCELLED in targets)
RECEIVABLE = frozenset({S.DRAFT, S.SENT, S.IN_TRANSIT, S.RECEIVING})


def _move(inbound: InboundShipment, to: str, *, fields: Sequence[str] = ()) -> None:
    """Move the (locked) ASN to `to` and save it with `fields`; IllegalTransition if not allowed."""
    if to not in INBOUND_TRANSITIONS[inbound.status]:
        raise IllegalTransition(
            f"{inbound.number} is {inbound.status}; it cannot become {to}.",
            code=error_codes.INBOUND_NOT_CANCELLABLE
            if to == S.CANCELLED
            else error_codes.INBOUND_CLOSED,
            inbound_status=inbound.status,
        )
    inbound.status = to
    inbound.save(update_fields=["status", "updated_at", *fields])


def inbound_lock(*, inbound_id: int) -> InboundShipment:
    return (
        InboundShipment.objects.select_for_update().select_related("warehouse").get(pk=inbound_id)
    )


@dataclass(frozen=True)
class ExpectedLine:
    sku: str
    quantity: int


@transaction.atomic
def inbound_create(
    *,
    warehouse_code: str,
    reference: str,
    lines: Sequence[ExpectedLine],
    expected_at: dt.datetime | None = None,
    carrier: str = "",
    tracking_number: str = "",
    supplier: str = "",
    channel_id: int | None = None,
    user: ActingUser | None = None,
) -> InboundShipment:
    """Announce stock coming to a warehouse: the ASN with one line per SKU.

    An LSP-operated site's ASN starts `draft` (logistics sends it to the LSP); an own
    site's starts `sent` (nobody to send it to: it waits for the barcode screen).
    Raises ValidationFailed (invalid_inbound: unknown or inactive warehouse or SKU, a SKU
    twice, bad quantity, no lines) and Conflict (inbound_reference_exists: the warehouse
    has an ASN with this reference). Nothing is written when it raises.
    """
    errors: list[dict[str, str]] = []
    warehouse = Warehouse.objects.filter(code=warehouse_code, is_active=True).first()
    if warehouse is None:
        errors.append({"field": "warehouse", "message": f"No active warehouse {warehouse_code!r}."})
    if not reference.strip():
        errors.append({"field": "reference", "message": "May not be blank."})
    if not lines:
        errors.append({"field": "lines", "message": "At least one line."})
    if len(lines) > LINES_MAX:
        errors.append({"field": "lines", "message": f"At most {LINES_MAX} lines."})
    products = {p.sku: p for p in Product.objects.filter(sku__in={line.sku for line in lines})}
    seen: set[str] = set()
    for index, line in enumerate(lines):
        product = products.get(line.sku)
        if product is None or not product.is_active:
            errors.append({"field": f"lines[{index}].sku", "message": f"Unknown SKU {line.sku!r}."})
        elif line.sku in seen:
            errors.append({"field": f"lines[{index}].sku", "message": "SKU already on a line."})
        seen.add(line.sku)
        if not 1 <= line.quantity <= EXPECTED_MAX:
            errors.append(
                {"field": f"lines[{index}].quantity", "message": f"From 1 to {EXPECTED_MAX}."}
            )
    if errors or warehouse is None:
        raise ValidationFailed(
            "The ASN has invalid fields.", code=error_codes.INVALID_INBOUND, errors=errors
        )
    existing = InboundShipment.objects.filter(warehouse=warehouse, reference=reference).first()
    if existing is not None:
        raise _reference_exists(existing)
    status = S.DRAFT if warehouse.kind == Warehouse.Kind.LSP else S.SENT
    try:
        with transaction.atomic():
            inbound = InboundShipment.objects.create(
                warehouse=warehouse,
                reference=reference,
                channel_id=channel_id,
                supplier=supplier,
                status=status,
                expected_at=expected_at,
                carrier=carrier,
                tracking_number=tracking_number,
            )
    except IntegrityError:
        # Two requests with the same reference raced past the check above.
        existing = InboundShipment.objects.filter(warehouse=warehouse, reference=reference).first()
        if existing is None:
            raise
        raise _reference_exists(existing) from None
    InboundLine.objects.bulk_create(
        InboundLine(inbound=inbound, product=products[line.sku], expected_quantity=line.quantity)
        for line in lines
    )
    return inbound


def _reference_exists(existing: InboundShipment) -> Conflict:
    return Conflict(
        f"Warehouse {existing.warehouse.code} already has ASN {existing.number} with reference "
        f"{existing.reference!r}.",
        code=error_codes.INBOUND_REFERENCE_EXISTS,
        existing_inbound=existing.number,
    )


@transaction.atomic
def inbound_mark_sent(*, inbound_id: int, provider_reference: str) -> InboundShipment:
    """The LSP accepted the ASN: record its reference; a draft becomes `sent`.

    An ASN that moved on already (receipts overtook the answer) keeps its status.
    """
    inbound = inbound_lock(inbound_id=inbound_id)
    inbound.provider_reference = provider_reference[:128]
    inbound.last_error = ""
    inbound.sent_at = inbound.sent_at or timezone.now()
    fields = ["provider_reference", "last_error", "sent_at"]
    if inbound.status == S.DRAFT:
        _move(inbound, S.SENT, fields=fields)
    else:
        inbound.save(update_fields=["updated_at", *fields])
    return inbound


@transaction.atomic
def inbound_note_error(*, inbound_id: int, message: str) -> None:
    """Record why the last attempt to send (or cancel) at the LSP failed (the ops queue shows it)."""
    InboundShipment.objects.filter(pk=inbound_id).update(
        last_error=message[:2000], updated_at=timezone.now()
    )


@transaction.atomic
def inbound_mark_in_transit(*, inbound_id: int) -> InboundShipment:
    """The LSP or carrier says the goods are on their way (sent/draft only; else unchanged)."""
    inbound = inbound_lock(inbound_id=inbound_id)
    if inbound.status in (S.DRAFT, S.SENT):
        _move(inbound, S.IN_TRANSIT)
    return inbound


@transaction.atomic
def inbound_cancel(*, inbound: InboundShipment, user: ActingUser | None = None) -> InboundShipment:
    """Cancel an ASN before anything was received.

    Raises IllegalTransition (inbound_not_cancellable, 409) once receiving has started.
    For an LSP site, logistics cancels at the LSP first (logistics.services.asn).
    """
    locked = inbound_lock(inbound_id=inbound.pk)
    if locked.status == S.CANCELLED:
        return locked
    locked.closed_at = timezone.now()
    locked.closed_by = recorded_user(user)
    _move(locked, S.CANCELLED, fields=["closed_at", "closed_by"])
    return locked


def product_by_code(*, code: str) -> Product:
    """The product one of whose barcodes, or whose SKU, is `code` (what a scanner or a
    person typed), in any case (inventory.selectors.product_for_code).

    An exact match wins over one in another case (SKUs are unique only as typed).
    Raises NotFound (unknown_sku).
    """
    product = product_for_code(code=code or "")
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
    discrepancy). The first receipt makes the ASN `receiving`. With `external_id` (an
    LSP event id) a redelivery returns the first receipt and changes nothing. Raises
    NotFound (unknown_sku), ValidationFailed (quantity), Conflict (inbound_closed: the
    ASN is received or cancelled).
    """
    if external_id:
        seen = InboundReceipt.objects.filter(external_id=external_id).first()
        if seen is not None:
            return seen
    require_positive(quantity)
    product = product_by_code(code=code)
    inbound = inbound_lock(inbound_id=inbound.pk)
    if inbound.status not in RECEIVABLE:
        raise Conflict(
            f"{inbound.number} ({inbound.reference}) is {inbound.status}; open a new ASN to "
            "receive more.",
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
        reference=f"asn:{inbound.number}",
        user=user,
    )
    if inbound.status != S.RECEIVING:
        _move(inbound, S.RECEIVING)
    return receipt


@transaction.atomic
def inbound_receive_into_bin(
    *,
    inbound: InboundShipment,
    code: str,
    quantity: int = 1,
    bin: Bin | None = None,
    source: str = InboundReceipt.Source.SCAN,
    user: ActingUser | None = None,
) -> tuple[InboundReceipt, Bin | None]:
    """`inbound_receive` at an own site, then put the units away in `bin`, else in the
    suggested bin (`putaway_suggestion`), in the same transaction: a refused putaway
    refuses the receipt. Returns the receipt and the bin (None: no bin was usable, the
    units stay unbinned).

    Raises what inbound_receive and bin_putaway raise (invalid_bin: a bin of another
    warehouse or an inactive one; bin_full).
    """
    receipt = inbound_receive(
        inbound=inbound, code=code, quantity=quantity, source=source, user=user
    )
    warehouse = inbound.warehouse
    product = receipt.line.product
    if bin is None and warehouse.kind == Warehouse.Kind.OWN:
        bin = putaway_suggestion(warehouse=warehouse, product=product, quantity=quantity)
    if bin is not None:
        bin_putaway(
            warehouse=warehouse,
            product=product,
            bin=bin,
            quantity=quantity,
            user=user,
            reference=f"asn:{inbound.number}",
        )
    return receipt, bin


@dataclass(frozen=True)
class LspReceipt:
    """One receipt an LSP reported: its event id (the dedup key), the SKU and quantity."""

    external_id: str
    sku: str
    quantity: int


@transaction.atomic
def inbound_receipts_from_lsp(
    *, inbound_id: int, receipts: Sequence[LspReceipt], complete: bool
) -> InboundShipment:
    """Post an LSP's receipts into the stock ledger, each once (by its event id), and close
    the ASN when the LSP says it is complete.

    Short and over receipts are recorded as they come (discrepancy = received − expected
    per line); a SKU we do not know is skipped (logged by the caller), never guessed.
    Receipts for a received or cancelled ASN change nothing. Returns the ASN.
    """
    inbound = inbound_lock(inbound_id=inbound_id)
    if inbound.status not in RECEIVABLE:
        return inbound
    for receipt in receipts:
        if receipt.quantity <= 0:
            continue
        try:
            inbound_receive(
                inbound=inbound,
                code=receipt.sku,
                quantity=receipt.quantity,
                source=InboundReceipt.Source.LSP,
                external_id=receipt.external_id,
            )
        except NotFound:
            continue
    if complete:
        inbound.refresh_from_db()
        if inbound.status in RECEIVABLE:
            inbound_close(inbound=inbound)
            inbound.refresh_from_db()
    return inbound


@transaction.atomic
def inbound_close(
    *, inbound: InboundShipment, user: ActingUser | None = None
) -> list[dict[str, Any]]:
    """Close the ASN (status `received`); returns its discrepancies
    [{sku, expected, received, difference}].

    Raises Conflict (inbound_closed) when already received or cancelled.
    """
    inbound = inbound_lock(inbound_id=inbound.pk)
    if inbound.status not in RECEIVABLE:
        raise Conflict(
            f"{inbound.number} ({inbound.reference}) is already {inbound.status}.",
            code=error_codes.INBOUND_CLOSED,
        )
    inbound.closed_at = timezone.now()
    inbound.closed_by = recorded_user(user)
    _move(inbound, S.RECEIVED, fields=["closed_at", "closed_by"])
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
