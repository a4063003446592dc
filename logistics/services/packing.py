"""The pack station of an own site: verify, box, weigh, buy the labels, hand to the carrier.

A `picked` shipment (logistics.services.picking) is scanned at the station
(`pack_start`: `SHP-123`, its number, or its order's number). The packer adds a parcel
with a box from the catalogue (logistics.Box), scans each item into the current
(newest) parcel, which `pack_scan_item` verifies against the shipment's lines: an
unknown barcode, a product the shipment does not hold, or one unit more than it holds
is refused with a message saying what to do. Items can move between parcels. Each
parcel gets a weight (grams, more than its empty box). `pack_buy_labels` refuses while
an item is missing, an empty parcel or an unweighed one remains; then it buys one
label per parcel through logistics.services.labels (rate shopping when no service is
given), writes each parcel's tracking number, and the shipment becomes `packed`.
`pack_void` voids the labels at the carrier and sends the shipment back to `picked`
(its parcels stay as packed). `pack_dispatch` makes packed shipments `dispatched`: a
pickup booked at the carrier, or staff confirming the hand-over; the tracking poll then
follows them at the carrier (the karrio adapter's fetch_tracking).

Lock order: the shipment row, then its parcels (as picking: the shipment before stock).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from django.db import transaction
from django.db.models import F, Max, Prefetch, Sum
from django.utils import timezone

from core.errors import Conflict, NotFound, ValidationFailed
from inventory.models import Product, Warehouse
from logistics import error_codes
from logistics.adapters.base import ParcelSpec
from logistics.hooks import order_timeline
from logistics.models import (
    Box,
    CarrierAccount,
    LabelPurchase,
    Parcel,
    ParcelItem,
    Provider,
    Shipment,
    ShipmentLine,
)
from logistics.services.labels import (
    carrier_pickup_schedule,
    carrier_rates_shop,
    label_purchase_buy,
    label_purchase_void,
)
from logistics.services.picking import product_for_barcode

if TYPE_CHECKING:
    from core.users import ActingUser

_SHIPMENT_CODE = re.compile(r"^(?:SHP-?)?(\d{1,12})$", re.IGNORECASE)


@dataclass
class PackLine:
    line: ShipmentLine
    product: Product
    packed: int = 0

    @property
    def required(self) -> int:
        return self.line.quantity

    @property
    def missing(self) -> int:
        return self.required - self.packed


@dataclass
class PackSession:
    """A shipment at the pack station: its lines with what is packed, its parcels."""

    shipment: Shipment
    lines: list[PackLine]
    parcels: list[Parcel]
    purchase: LabelPurchase | None = None
    units: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        self.units = sum(pl.required for pl in self.lines)

    @property
    def packed_units(self) -> int:
        return sum(pl.packed for pl in self.lines)

    @property
    def missing(self) -> list[PackLine]:
        return [pl for pl in self.lines if pl.missing > 0]

    @property
    def current(self) -> Parcel | None:
        return self.parcels[-1] if self.parcels else None

    @property
    def labelled(self) -> bool:
        return self.purchase is not None


def pack_session(shipment: Shipment) -> PackSession:
    """The pack state of `shipment` (a fixed number of queries)."""
    lines = list(
        ShipmentLine.objects.filter(shipment=shipment)
        .select_related("order_line__product")
        .order_by("order_line__line_number", "pk")
    )
    packed = dict(
        ParcelItem.objects.filter(parcel__shipment=shipment)
        .values("shipment_line")
        .annotate(n=Sum("quantity"))
        .values_list("shipment_line", "n")
    )
    parcels = list(
        Parcel.objects.filter(shipment=shipment, box__isnull=False)
        .select_related("box")
        .prefetch_related(
            Prefetch(
                "items",
                queryset=ParcelItem.objects.select_related("shipment_line__order_line").order_by(
                    "shipment_line__order_line__line_number"
                ),
            )
        )
        .order_by("position", "pk")
    )
    purchase = (
        LabelPurchase.objects.filter(shipment=shipment, state=LabelPurchase.State.PURCHASED)
        .select_related("carrier_account")
        .first()
    )
    return PackSession(
        shipment=shipment,
        lines=[
            PackLine(line=ln, product=ln.order_line.product, packed=packed.get(ln.pk, 0))
            for ln in lines
        ],
        parcels=parcels,
        purchase=purchase,
    )


def _shipment_for_code(code: str) -> Shipment | None:
    text = (code or "").strip()
    match = _SHIPMENT_CODE.match(text)
    own = Shipment.objects.select_related("order", "warehouse", "provider").filter(
        warehouse__kind=Warehouse.Kind.OWN, direction=Shipment.Direction.OUTBOUND
    )
    if match:
        return own.filter(pk=int(match.group(1))).first()
    # An order number: its shipment waiting at the station (else its newest one).
    found = list(own.filter(order__number__iexact=text).order_by("-pk")[:5])
    at_station = [s for s in found if s.status in _AT_STATION]
    return (at_station or found)[0] if found else None


_AT_STATION = (Shipment.Status.PICKED, Shipment.Status.PACKED)


def pack_start(*, code: str) -> PackSession:
    """The shipment scanned at the station (`SHP-123`, 123 or its order's number).

    NotFound (pack_unknown_shipment) for no own-site shipment; Conflict
    (pack_not_packable) naming its status when it is not picked or packed."""
    shipment = _shipment_for_code(code)
    if shipment is None:
        raise NotFound(
            f"No own-site shipment {code.strip()!r}: scan the shipment label (SHP-…).",
            code=error_codes.PACK_UNKNOWN_SHIPMENT,
        )
    if shipment.status not in _AT_STATION:
        raise Conflict(
            f"SHP-{shipment.pk} is {shipment.get_status_display().lower()}: only picked "
            "shipments are packed.",
            code=error_codes.PACK_NOT_PACKABLE,
        )
    return pack_session(shipment)


def _lock(shipment: Shipment, *, picked: bool = True) -> Shipment:
    locked = (
        Shipment.objects.select_for_update(of=("self",))
        .select_related("order", "warehouse")
        .get(pk=shipment.pk)
    )
    if picked and locked.status != Shipment.Status.PICKED:
        what = (
            "its labels are bought: void them to change the parcels"
            if locked.status == Shipment.Status.PACKED
            else f"it is {locked.get_status_display().lower()}"
        )
        raise Conflict(
            f"SHP-{locked.pk} cannot be changed: {what}.", code=error_codes.PACK_NOT_PACKABLE
        )
    return locked


def _weight_check(box: Box | None, weight_grams: int) -> None:
    tare = box.tare_grams if box else 0
    if not isinstance(weight_grams, int) or weight_grams <= tare:
        raise ValidationFailed(
            f"Weight must be more than the empty box ({tare} g): put the parcel on the scale.",
            code=error_codes.PACK_BAD_WEIGHT,
            errors=[{"field": "weight_grams", "message": f"More than {tare} g."}],
        )


@transaction.atomic
def pack_parcel_add(*, shipment: Shipment, box: Box, weight_grams: int | None = None) -> Parcel:
    """A new parcel in `box` (its dimensions); the current parcel for the next scans."""
    locked = _lock(shipment)
    if not box.is_active:
        raise ValidationFailed(f"Box {box.code} is not in use.", code=error_codes.PACK_BAD_BOX)
    if weight_grams is not None:
        _weight_check(box, weight_grams)
    # Planning's estimate (one unboxed parcel of the expected weight) gives way to the
    # parcels actually packed.
    Parcel.objects.filter(shipment=locked, box__isnull=True).delete()
    last = Parcel.objects.filter(shipment=locked).aggregate(n=Max("position"))["n"] or 0
    return Parcel.objects.create(
        shipment=locked,
        position=last + 1,
        box=box,
        length_mm=box.inner_length_mm,
        width_mm=box.inner_width_mm,
        height_mm=box.inner_height_mm,
        weight_grams=weight_grams or 0,
    )


@transaction.atomic
def pack_parcel_weigh(*, parcel: Parcel, weight_grams: int) -> Parcel:
    """The parcel's weight as the scale read it (grams; more than its empty box)."""
    _lock(parcel.shipment)
    locked = Parcel.objects.select_related("box").get(pk=parcel.pk)
    _weight_check(locked.box, weight_grams)
    locked.weight_grams = weight_grams
    locked.save(update_fields=["weight_grams"])
    parcel.weight_grams = weight_grams
    return locked


@transaction.atomic
def pack_parcel_remove(*, parcel: Parcel) -> None:
    """Remove an empty parcel (the last one keeps the numbering without gaps)."""
    locked_shipment = _lock(parcel.shipment)
    if ParcelItem.objects.filter(parcel=parcel).exists():
        raise Conflict(
            f"Parcel {parcel.position} holds items: move them first.",
            code=error_codes.PACK_PARCEL_NOT_EMPTY,
        )
    parcel.delete()
    for position, pk in enumerate(
        Parcel.objects.filter(shipment=locked_shipment)
        .order_by("position", "pk")
        .values_list("pk", flat=True),
        start=1,
    ):
        Parcel.objects.filter(pk=pk).update(position=position)


def _refuse(message: str, code: str) -> ValidationFailed:
    return ValidationFailed(message, code=code)


@transaction.atomic
def pack_scan_item(*, session: PackSession, barcode: str, parcel: Parcel | None = None) -> PackLine:
    """One scanned item goes into `parcel` (default: the current, newest one).

    Refused with a message: an unknown barcode (pack_unknown_barcode), a product the
    shipment does not hold (pack_wrong_item), one unit more than it holds
    (pack_extra_item), no parcel yet (pack_no_parcel)."""
    shipment = _lock(session.shipment)
    scanned = (barcode or "").strip()
    product = product_for_barcode(scanned)
    if product is None:
        raise _refuse(
            f"Unknown barcode {scanned!r}: scan the item's barcode.",
            error_codes.PACK_UNKNOWN_BARCODE,
        )
    fresh = pack_session(shipment)
    mine = [pl for pl in fresh.lines if pl.product.pk == product.pk]
    if not mine:
        holds = ", ".join(sorted({pl.product.sku for pl in fresh.lines}))
        raise _refuse(
            f"Wrong item: {product.sku} is not in SHP-{shipment.pk} (it holds {holds}). "
            "Put it aside.",
            error_codes.PACK_WRONG_ITEM,
        )
    open_line = next((pl for pl in mine if pl.missing > 0), None)
    if open_line is None:
        required = sum(pl.required for pl in mine)
        raise _refuse(
            f"Extra item: all {required} of {product.sku} are packed already. Put it aside.",
            error_codes.PACK_EXTRA_ITEM,
        )
    target = parcel or fresh.current
    if target is None or target.shipment_id != shipment.pk:
        raise _refuse("Choose a box and add a parcel first.", error_codes.PACK_NO_PARCEL)
    updated = ParcelItem.objects.filter(parcel=target, shipment_line=open_line.line).update(
        quantity=F("quantity") + 1
    )
    if not updated:
        ParcelItem.objects.create(parcel=target, shipment_line=open_line.line, quantity=1)
    open_line.packed += 1
    return open_line


@transaction.atomic
def pack_item_move(
    *, source: Parcel, target: Parcel, shipment_line: ShipmentLine, quantity: int = 1
) -> None:
    """Move `quantity` units of a line from one parcel of the shipment to another."""
    if source.shipment_id != target.shipment_id or source.pk == target.pk:
        raise ValidationFailed(
            "Move items between two parcels of the same shipment.",
            code=error_codes.PACK_BAD_MOVE,
        )
    _lock(source.shipment)
    item = (
        ParcelItem.objects.select_for_update()
        .filter(parcel=source, shipment_line=shipment_line)
        .first()
    )
    if item is None or not isinstance(quantity, int) or not 0 < quantity <= item.quantity:
        have = item.quantity if item else 0
        raise ValidationFailed(
            f"Parcel {source.position} holds {have} of that item: move 1 to {have}.",
            code=error_codes.PACK_BAD_MOVE,
        )
    if quantity == item.quantity:
        item.delete()
    else:
        item.quantity -= quantity
        item.save(update_fields=["quantity"])
    updated = ParcelItem.objects.filter(parcel=target, shipment_line=shipment_line).update(
        quantity=F("quantity") + quantity
    )
    if not updated:
        ParcelItem.objects.create(parcel=target, shipment_line=shipment_line, quantity=quantity)


def pack_check(session: PackSession) -> None:
    """Refuse (pack_incomplete) while anything keeps the parcels from being closed."""
    problems = [f"{pl.missing} of {pl.product.sku} missing" for pl in session.missing]
    if not session.parcels:
        problems.append("no parcel yet")
    for parcel in session.parcels:
        if not parcel.items.all():
            problems.append(f"parcel {parcel.position} is empty")
        elif parcel.weight_grams <= (parcel.box.tare_grams if parcel.box else 0):
            problems.append(f"parcel {parcel.position} is not weighed")
    if problems:
        raise ValidationFailed(
            "Not ready for labels: " + "; ".join(problems) + ".",
            code=error_codes.PACK_INCOMPLETE,
        )


def _parcel_specs(shipment: Shipment, parcels: list[Parcel]) -> list[ParcelSpec]:
    return [
        ParcelSpec(
            weight_grams=p.weight_grams,
            length_mm=p.length_mm,
            width_mm=p.width_mm,
            height_mm=p.height_mm,
            reference=f"SHP-{shipment.pk}/{p.position}",
        )
        for p in parcels
    ]


def _karrio_accounts(provider: Provider | None) -> list[CarrierAccount]:
    accounts = CarrierAccount.objects.filter(
        is_active=True,
        provider__is_active=True,
        provider__kind=Provider.Kind.CARRIER,
        provider__adapter="karrio",
    ).select_related("provider")
    if provider is not None and provider.kind == Provider.Kind.CARRIER:
        accounts = accounts.filter(provider=provider)
    return list(accounts.order_by("code"))


def pack_choose_service(
    *, shipment: Shipment, specs: list[ParcelSpec], service: str | None = None
) -> tuple[CarrierAccount, str]:
    """(account, service) to buy from: `service` from the first account (of the
    shipment's carrier, if it has one) allowing it; else the best quote of those
    accounts: the cheapest within the order's service level's transit time, the fastest
    when none fits (labels.carrier_rates_shop). A shipment planned with an LSP's service
    level at an own site (no carrier of its own) is quoted by every carrier."""
    accounts = _karrio_accounts(shipment.provider)
    if service:
        for account in accounts:
            if not account.services or service in account.services:
                return account, service
        raise ValidationFailed(
            f"No active carrier account offers {service}.", code=error_codes.PACK_NO_CARRIER
        )
    codes = {a.code: a for a in accounts}
    quotes = [
        q
        for q in carrier_rates_shop(
            shipment=shipment, parcels=specs, service_level=shipment.service_level
        )
        if q.carrier_account in codes
    ]
    if not quotes:
        raise ValidationFailed(
            f"No carrier quoted SHP-{shipment.pk}: check the carrier accounts "
            f"(provider {shipment.provider.code}).",
            code=error_codes.PACK_NO_CARRIER,
        )
    return codes[quotes[0].carrier_account], quotes[0].service


def pack_buy_labels(
    *,
    shipment: Shipment,
    service: str | None = None,
    label_format: str = "PDF",
    user: ActingUser | None = None,
) -> LabelPurchase:
    """Buy one label per parcel; each parcel gets its tracking number; `packed`.

    Refused (pack_incomplete) while an item is missing or a parcel is empty or not
    weighed. The purchase itself follows labels.label_purchase_buy (written first; a
    lost answer is never bought again). Not inside a transaction."""
    session = pack_session(
        Shipment.objects.select_related("order", "provider", "service_level").get(pk=shipment.pk)
    )
    if session.shipment.status != Shipment.Status.PICKED:
        _lock_free_status_refusal(session.shipment)
    pack_check(session)
    specs = _parcel_specs(session.shipment, session.parcels)
    account, chosen = pack_choose_service(shipment=session.shipment, specs=specs, service=service)
    purchase = label_purchase_buy(
        shipment=session.shipment,
        carrier_account=account,
        parcels=specs,
        service=chosen,
        label_format=label_format,
    )
    numbers = list(purchase.tracking_numbers)
    with transaction.atomic():
        locked = _lock(session.shipment, picked=False)
        for index, parcel in enumerate(session.parcels):
            # A carrier answering one number for the whole shipment: every parcel has it.
            number = numbers[index] if index < len(numbers) else (numbers[0] if numbers else "")
            Parcel.objects.filter(pk=parcel.pk).update(tracking_number=number[:100])
        if locked.status == Shipment.Status.PICKED:
            locked.status = Shipment.Status.PACKED
            locked.save(update_fields=["status", "updated_at"])
    return purchase


def _lock_free_status_refusal(shipment: Shipment) -> None:
    what = (
        "its labels are bought already (reprint or void them)"
        if shipment.status == Shipment.Status.PACKED
        else f"it is {shipment.get_status_display().lower()}"
    )
    raise Conflict(
        f"SHP-{shipment.pk}: no labels to buy, {what}.", code=error_codes.PACK_NOT_PACKABLE
    )


def pack_void(*, shipment: Shipment, user: ActingUser | None = None) -> LabelPurchase:
    """Void the labels at the carrier; the shipment is `picked` again, parcels kept."""
    shipment = Shipment.objects.select_related("provider").get(pk=shipment.pk)
    if shipment.status != Shipment.Status.PACKED:
        raise Conflict(
            f"SHP-{shipment.pk} is {shipment.get_status_display().lower()}: only labels of a "
            "packed shipment (not yet with the carrier) can be voided.",
            code=error_codes.LABEL_NOT_VOIDABLE,
        )
    purchase = (
        LabelPurchase.objects.filter(shipment=shipment, state=LabelPurchase.State.PURCHASED)
        .select_related("carrier_account__provider", "shipment")
        .first()
    )
    if purchase is None:
        raise Conflict(
            f"SHP-{shipment.pk} has no purchased label.", code=error_codes.LABEL_NOT_VOIDABLE
        )
    voided = label_purchase_void(purchase=purchase)
    with transaction.atomic():
        locked = _lock(shipment, picked=False)
        Parcel.objects.filter(shipment=locked).update(tracking_number="")
        if locked.status == Shipment.Status.PACKED:
            locked.status = Shipment.Status.PICKED
            locked.save(update_fields=["status", "updated_at"])
    return voided


def pack_label_document(*, shipment: Shipment) -> tuple[bytes, str, str]:
    """(content, content type, file name) of the shipment's purchased labels, to reprint."""
    purchase = LabelPurchase.objects.filter(
        shipment=shipment, state=LabelPurchase.State.PURCHASED
    ).first()
    if purchase is None:
        raise NotFound(f"SHP-{shipment.pk} has no purchased label.", code=error_codes.PACK_NO_LABEL)
    if purchase.label_pdf:
        return bytes(purchase.label_pdf), "application/pdf", f"labels-SHP-{shipment.pk}.pdf"
    return purchase.label_zpl.encode(), "application/zpl", f"labels-SHP-{shipment.pk}.zpl"


def pack_dispatch(
    *,
    shipments: list[Shipment],
    user: ActingUser | None = None,
    pickup_date: dt.date | None = None,
) -> str:
    """Packed shipments go to the carrier: `dispatched`, and the tracking poll follows them.

    With `pickup_date`, a pickup is booked at each carrier (the confirmation number is
    returned); without, staff confirm they handed the parcels over (or the day's
    manifest was closed). Shipments not packed are left alone."""
    packed = list(
        Shipment.objects.filter(pk__in=[s.pk for s in shipments], status=Shipment.Status.PACKED)
        .select_related("provider", "warehouse", "order")
        .order_by("pk")
    )
    if not packed:
        raise Conflict("No packed shipment to hand over.", code=error_codes.PACK_NOT_PACKABLE)
    confirmation = ""
    if pickup_date is not None:
        confirmation = _pickups_book(packed, pickup_date)
    now = timezone.now()
    with transaction.atomic():
        for shipment in packed:
            locked = _lock(shipment, picked=False)
            if locked.status != Shipment.Status.PACKED:
                continue
            locked.status = Shipment.Status.DISPATCHED
            locked.dispatched_at = now
            # The tracking poll was scheduled when the labels were bought (labels.py).
            locked.save(update_fields=["status", "dispatched_at", "updated_at"])
            locked.provider = shipment.provider
            order_timeline.impl.shipment_dispatched_event(shipment=locked, attempts=0)
    return confirmation


def _pickups_book(shipments: list[Shipment], date: dt.date) -> str:
    """One pickup per carrier account and site; the confirmation numbers."""
    purchases = (
        LabelPurchase.objects.filter(shipment__in=shipments, state=LabelPurchase.State.PURCHASED)
        .select_related("carrier_account__provider")
        .order_by("pk")
    )
    account_of = {p.shipment_id: p.carrier_account for p in purchases}
    groups: dict[tuple[int, int], list[Shipment]] = {}
    for shipment in shipments:
        account = account_of.get(shipment.pk)
        if account is not None:
            groups.setdefault((account.pk, shipment.warehouse_id), []).append(shipment)
    numbers = [
        carrier_pickup_schedule(
            carrier_account=account_of[group[0].pk],
            warehouse=group[0].warehouse,
            date=date,
            shipments=group,
        )
        for group in groups.values()
    ]
    return ", ".join(n for n in numbers if n)
