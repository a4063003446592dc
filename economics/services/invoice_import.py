"""Importing an LSP invoice and reconciling it with the work and the contract.

Each line is matched to a shipment of the provider by its reference (the provider's
shipment id) or else its tracking number, and compared, per charge type, with what
the shipment is expected to cost (economics.services.expected_cost; shipments not
priced yet are priced first). Outcomes (docs/economics.md):

- matched: within tolerance, max(absolute, percent of the expected amount);
- overcharged / undercharged: outside it;
- unknown_reference: no shipment of the provider has that reference or tracking number;
- duplicate: the same shipment and charge type billed earlier in this invoice or in
  an invoice imported before;
- not_invoiced (no line): a shipment dispatched in the invoice's period, expected to
  cost something, billed nowhere.

Every outcome but matched becomes an open dispute. An invoice number is imported once:
the second import is refused and changes nothing. The whole import is one
transaction; the lines and disputes go in by COPY.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from itertools import islice

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q, Sum
from django.utils import timezone

from core.errors import Conflict, NotFound, ValidationFailed
from economics import sql
from economics.models import (
    Dispute,
    InboundCost,
    Invoice,
    InvoiceLine,
    InvoiceProfile,
    Outcome,
    ShipmentCharge,
    ShipmentCost,
    Stage,
)
from economics.pricing import INBOUND_UNIT
from economics.services.expected_cost import inbound_costs_price, shipments_price
from economics.services.invoice_parsing import ParsedInvoice, ParsedLine, invoice_parse
from inventory.models import InboundShipment
from logistics.models import Provider, Shipment
from orders.iso import currency_places

CHUNK = 2_000
Progress = Callable[[int, int], None]
SUMMARY_COUNTS = (
    Outcome.MATCHED, Outcome.OVERCHARGED, Outcome.UNDERCHARGED, Outcome.UNKNOWN_REFERENCE,
    Outcome.DUPLICATE, Outcome.NOT_INVOICED,
)  # fmt: skip


@dataclass(frozen=True)
class Tolerance:
    absolute: Decimal
    percent: Decimal

    @classmethod
    def of(cls, profile: InvoiceProfile | None) -> Tolerance:
        absolute = profile.tolerance_absolute if profile else None
        percent = profile.tolerance_percent if profile else None
        return cls(
            absolute=Decimal(settings.ECONOMICS_TOLERANCE_ABSOLUTE)
            if absolute is None
            else absolute,
            percent=Decimal(settings.ECONOMICS_TOLERANCE_PERCENT) if percent is None else percent,
        )

    def outcome(self, *, expected: Decimal, invoiced: Decimal) -> str:
        allowed = max(self.absolute, abs(expected) * self.percent / 100)
        difference = invoiced - expected
        if abs(difference) <= allowed:
            return Outcome.MATCHED
        return Outcome.OVERCHARGED if difference > 0 else Outcome.UNDERCHARGED


def _chunks(items: Sequence[ParsedLine], size: int) -> Iterable[list[ParsedLine]]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


def _shipments_of(provider: Provider, lines: Sequence[ParsedLine]) -> dict[tuple[str, str], int]:
    """("ref"|"trk", value) → shipment id, for the chunk's references and tracking numbers."""
    refs = {line.reference for line in lines if line.reference}
    tracking = {line.tracking_number for line in lines if line.tracking_number}
    found: dict[tuple[str, str], int] = {}
    # Outbound shipments and return shipments (billed as `return` once received) alike.
    base = Shipment.objects.filter(provider=provider)
    for reference, pk in base.filter(
        sql.AnyOf("provider_reference", refs, array_type="text")
    ).values_list("provider_reference", "pk"):
        found["ref", reference] = pk
    for number, pk in base.filter(
        sql.AnyOf("tracking_number", tracking, array_type="text")
    ).values_list("tracking_number", "pk"):
        found["trk", number] = pk
    return found


def _priced_now(shipment_ids: set[int]) -> None:
    """Price the shipments whose expected cost is missing or predates their dispatch."""
    current = set(
        ShipmentCost.objects.filter(sql.AnyOf("shipment_id", shipment_ids))
        .exclude(stage=Stage.PLANNED, shipment__dispatched_at__isnull=False)
        .values_list("shipment_id", flat=True)
    )
    stale = sorted(shipment_ids - current)
    for start in range(0, len(stale), CHUNK):
        shipments_price(shipment_ids=stale[start : start + CHUNK])


def _expected(shipment_ids: set[int]) -> dict[tuple[int, str], Decimal]:
    return {
        (row["shipment_id"], row["charge_type"]): row["total"]
        for row in ShipmentCharge.objects.filter(sql.AnyOf("shipment_id", shipment_ids))
        .values("shipment_id", "charge_type")
        .annotate(total=Sum("amount"))
    }


def _billed_before(shipment_ids: set[int]) -> set[tuple[int, str]]:
    return set(
        InvoiceLine.objects.filter(sql.AnyOf("shipment_id", shipment_ids))
        .exclude(outcome=Outcome.DUPLICATE)
        .values_list("shipment_id", "charge_type")
    )


@dataclass
class _Reconciliation:
    invoice_id: int
    tolerance: Tolerance
    places: int
    lines: list[sql.InvoiceLineRow]
    disputes: list[sql.DisputeRow]
    counts: dict[str, int]
    seen: set[tuple[object, ...]]
    billed_shipments: set[int]
    expected_total: Decimal = Decimal(0)
    invoiced_total: Decimal = Decimal(0)

    def dispute(
        self,
        *,
        kind: str,
        line_id: int | None,
        shipment_id: int | None,
        expected: Decimal | None,
        invoiced: Decimal | None,
        now: dt.datetime,
    ) -> None:
        difference = (invoiced or Decimal(0)) - (expected or Decimal(0))
        self.disputes.append(
            sql.DisputeRow(
                invoice_id=self.invoice_id, line_id=line_id, shipment_id=shipment_id, kind=kind,
                expected=expected, invoiced=invoiced, difference=difference,
                status=Dispute.Status.OPEN, note="", decided_by="", created_at=now, updated_at=now,
            )
        )  # fmt: skip


def _inbounds_of(provider: Provider, lines: Sequence[ParsedLine]) -> dict[tuple[str, str], int]:
    """("ref"|"trk", value) → id of the provider's inbound shipment (ASN) the `inbound_unit`
    lines name: by our ASN number or the provider's reference, else its tracking number."""
    refs = {line.reference for line in lines if line.reference}
    tracking = {line.tracking_number for line in lines if line.tracking_number}
    if not (refs or tracking):
        return {}
    found: dict[tuple[str, str], int] = {}
    base = InboundShipment.objects.filter(warehouse__provider=provider)
    for number, reference, pk in base.filter(
        Q(number__in=refs) | Q(provider_reference__in=refs)
    ).values_list("number", "provider_reference", "pk"):
        for value in (number, reference):
            if value in refs:
                found["ref", value] = pk
    for number, pk in base.filter(tracking_number__in=tracking).values_list(
        "tracking_number", "pk"
    ):
        found["trk", number] = pk
    return found


def _inbound_expected(inbound_ids: set[int]) -> tuple[dict[int, Decimal], set[int]]:
    """(inbound id → expected receiving cost, the inbounds billed before)."""
    inbound_costs_price(inbound_ids=inbound_ids)
    totals = {
        inbound_id: total
        for inbound_id, total in InboundCost.objects.filter(inbound_id__in=inbound_ids).values_list(
            "inbound_id", "total"
        )
        if total is not None
    }
    billed = set(
        InvoiceLine.objects.filter(inbound_id__in=inbound_ids)
        .exclude(outcome=Outcome.DUPLICATE)
        .values_list("inbound_id", flat=True)
    )
    return totals, billed


def _judged(
    state: _Reconciliation,
    key: tuple[object, ...] | None,
    *,
    billed: bool,
    expected: Decimal,
    invoiced: Decimal,
) -> tuple[str, Decimal | None]:
    """The line's outcome and expected amount: unknown, billed twice, or compared."""
    if key is None:
        return Outcome.UNKNOWN_REFERENCE, None
    if key in state.seen or billed:
        return Outcome.DUPLICATE, Decimal(0)
    state.seen.add(key)
    state.expected_total += expected
    return state.tolerance.outcome(expected=expected, invoiced=invoiced), expected


def _reconcile_chunk(
    provider: Provider, chunk: list[ParsedLine], ids: list[int], state: _Reconciliation
) -> None:
    receiving = [line for line in chunk if line.charge_type == INBOUND_UNIT]
    found = _shipments_of(provider, [line for line in chunk if line.charge_type != INBOUND_UNIT])
    inbounds = _inbounds_of(provider, receiving)
    matched = set(found.values())
    _priced_now(matched)
    expected = _expected(matched)
    billed = _billed_before(matched)
    inbound_totals, inbound_billed = _inbound_expected(set(inbounds.values()))
    now = timezone.now()
    for line, line_id in zip(chunk, ids, strict=True):
        shipment_id = inbound_id = None
        state.invoiced_total += line.amount
        if line.charge_type == INBOUND_UNIT:
            inbound_id = inbounds.get(("ref", line.reference)) or inbounds.get(
                ("trk", line.tracking_number)
            )
            key = None if inbound_id is None else ("inbound", inbound_id)
            outcome, expected_amount = _judged(
                state,
                key,
                billed=inbound_id in inbound_billed,
                expected=inbound_totals.get(inbound_id or 0, Decimal(0)),
                invoiced=line.amount,
            )
        else:
            shipment_id = found.get(("ref", line.reference)) or found.get(
                ("trk", line.tracking_number)
            )
            pair = None if shipment_id is None else (shipment_id, line.charge_type)
            outcome, expected_amount = _judged(
                state,
                pair,
                billed=pair in billed,
                expected=expected.get(pair or (0, ""), Decimal(0)),
                invoiced=line.amount,
            )
            if shipment_id is not None and outcome != Outcome.DUPLICATE:
                state.billed_shipments.add(shipment_id)
        state.counts[outcome] += 1
        state.lines.append(
            sql.InvoiceLineRow(
                id=line_id, invoice_id=state.invoice_id, line_number=line.line_number,
                reference=line.reference, tracking_number=line.tracking_number,
                charge_type=line.charge_type, description=line.description,
                quantity=line.quantity, amount=line.amount, service_date=line.service_date,
                shipment_id=shipment_id, inbound_id=inbound_id, expected_amount=expected_amount,
                outcome=outcome,
            )
        )  # fmt: skip
        if outcome != Outcome.MATCHED:
            state.dispute(
                kind=outcome, line_id=line_id, shipment_id=shipment_id,
                expected=expected_amount, invoiced=line.amount, now=now,
            )  # fmt: skip


def _period(parsed: ParsedInvoice) -> tuple[dt.date, dt.date]:
    days = [line.service_date for line in parsed.lines if line.service_date]
    if days:
        return min(days), max(days)
    day = parsed.invoice_date or timezone.now().date()
    return day, day


def _not_invoiced(
    provider: Provider, period: tuple[dt.date, dt.date], state: _Reconciliation
) -> None:
    """Shipments dispatched in the period, expected to cost something, billed nowhere."""
    start = dt.datetime.combine(period[0], dt.time.min, tzinfo=dt.UTC)
    end = dt.datetime.combine(period[1] + dt.timedelta(days=1), dt.time.min, tzinfo=dt.UTC)
    candidates = (
        set(
            Shipment.objects.filter(
                provider=provider,
                direction=Shipment.Direction.OUTBOUND,
                dispatched_at__gte=start,
                dispatched_at__lt=end,
            ).values_list("pk", flat=True)
        )
        - state.billed_shipments
    )
    now = timezone.now()
    ordered = sorted(candidates)
    for begin in range(0, len(ordered), CHUNK):
        chunk = set(ordered[begin : begin + CHUNK])
        _priced_now(chunk)
        billed = {pk for pk, _ in _billed_before(chunk)}
        costs = ShipmentCost.objects.filter(shipment_id__in=chunk - billed, total__gt=0)
        for shipment_id, total in costs.order_by("shipment_id").values_list("shipment_id", "total"):
            state.counts[Outcome.NOT_INVOICED] += 1
            state.expected_total += total or Decimal(0)
            state.dispute(
                kind=Outcome.NOT_INVOICED, line_id=None, shipment_id=shipment_id,
                expected=total, invoiced=None, now=now,
            )  # fmt: skip


def _money(value: Decimal, places: int) -> str:
    return f"{value.quantize(Decimal(1).scaleb(-places)):f}"


def lsp_invoice_import(
    *,
    provider_code: str,
    text: str,
    profile_name: str | None = None,
    source_name: str = "",
    actor: str = "",
    progress: Progress | None = None,
) -> Invoice:
    """Import and reconcile one invoice; returns it with its `summary` (see the module doc)."""
    provider = Provider.objects.filter(code=provider_code).first()
    if provider is None:
        raise NotFound(f"There is no provider {provider_code!r}.")
    profile = None
    if profile_name:
        profile = InvoiceProfile.objects.filter(provider=provider, name=profile_name).first()
        if profile is None:
            raise NotFound(f"Provider {provider_code} has no invoice profile {profile_name!r}.")
    parsed = invoice_parse(text=text, profile=profile)
    places = currency_places(parsed.currency) if parsed.currency else None
    if parsed.currency and places is None:
        parsed.errors.append(
            {"field": "currency", "message": f"{parsed.currency!r} is not an ISO 4217 currency"}
        )
    if parsed.errors:
        raise ValidationFailed(
            f"The invoice file has {len(parsed.errors)} error(s); nothing was imported.",
            errors=parsed.errors,
        )
    assert places is not None  # noqa: S101 - a currency is required, so places were found
    with transaction.atomic():
        return _import(provider, parsed, profile, places, source_name, actor, progress)


def _import(
    provider: Provider,
    parsed: ParsedInvoice,
    profile: InvoiceProfile | None,
    places: int,
    source_name: str,
    actor: str,
    progress: Progress | None,
) -> Invoice:
    period = _period(parsed)
    try:
        with transaction.atomic():
            invoice = Invoice.objects.create(
                provider=provider, number=parsed.number, currency=parsed.currency,
                period_start=period[0], period_end=period[1], invoiced_total=0,
                expected_total=0, source_name=source_name[:255], imported_by=actor,
            )  # fmt: skip
    except IntegrityError as exc:
        if "invoice_number_once" not in str(exc):
            raise
        raise Conflict(
            f"Invoice {parsed.number} of {provider.code} was already imported; nothing changed.",
            code="invoice_already_imported",
        ) from exc
    state = _Reconciliation(
        invoice_id=invoice.pk, tolerance=Tolerance.of(profile), places=places, lines=[],
        disputes=[], counts=dict.fromkeys(SUMMARY_COUNTS, 0), seen=set(), billed_shipments=set(),
    )  # fmt: skip
    ids = sql.invoice_line_ids(len(parsed.lines))
    done = 0
    for chunk in _chunks(parsed.lines, CHUNK):
        _reconcile_chunk(provider, chunk, ids[done : done + len(chunk)], state)
        done += len(chunk)
        if progress:
            progress(done, len(parsed.lines))
    _not_invoiced(provider, period, state)
    sql.invoice_lines_copy(state.lines)
    sql.disputes_copy(state.disputes)
    invoice.invoiced_total = state.invoiced_total
    invoice.expected_total = state.expected_total
    invoice.summary = {
        "invoice": invoice.number,
        "lines": len(parsed.lines),
        **{
            str(outcome): state.counts[outcome]
            for outcome in SUMMARY_COUNTS
            if outcome != Outcome.MATCHED
        },
        "matched": state.counts[Outcome.MATCHED],
        "expected_total": _money(state.expected_total, places),
        "invoiced_total": _money(state.invoiced_total, places),
        "currency": invoice.currency,
    }
    invoice.save(update_fields=["invoiced_total", "expected_total", "summary", "updated_at"])
    return invoice
