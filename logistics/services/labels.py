"""Carrier labels: rate shopping, purchase, void, and settling a purchase whose answer was lost.

Carriers take no idempotency key. So a purchase is first written down (a LabelPurchase
`in_flight`, committed in its own transaction) and only then sent; the database allows one
live purchase per shipment, so neither a retry nor a second worker nor a double click can
send a second one. If the answer is lost after the request left, the purchase becomes
`unknown` (the ops exception queue, kind `label_unknown`) and stays so until a person has
checked with the carrier and settled it, or voided what was bought (docs/warehouse.md).
"""

from __future__ import annotations

import datetime as dt
import logging
from datetime import timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from core.errors import Conflict
from logistics import error_codes
from logistics.adapters.base import (
    AdapterError,
    LabelOutcomeUnknown,
    ParcelSpec,
    ProviderAdapter,
    PurchasedLabel,
    RateQuote,
)
from logistics.adapters.registry import adapter_for
from logistics.models import CarrierAccount, LabelPurchase, Provider, ServiceLevel, Shipment
from logistics.selectors import label_stale_after

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

    from inventory.models import Warehouse

logger = logging.getLogger(__name__)


class LabelPurchaseBlocked(Conflict):
    code = error_codes.LABEL_PURCHASE_BLOCKED


class LabelOutcomeUnknownError(Conflict):
    """The purchase was sent and its answer lost: parked in the exception queue."""

    code = error_codes.LABEL_OUTCOME_UNKNOWN


def carrier_rates_shop(
    *,
    shipment: Shipment,
    parcels: list[ParcelSpec],
    prefer: str = "cheapest",
    service_level: ServiceLevel | None = None,
) -> list[RateQuote]:
    """Quotes from every active account of every active karrio carrier provider.

    `prefer` "cheapest" sorts by amount, "fastest" by transit days (unknown last), each
    with the other as tie-break. With a `service_level`, only quotes whose transit days
    fit its `max_transit_hours` are kept (cheapest first); when none fits, every quote
    comes back fastest first, so the packer still has a choice. A provider that fails
    is logged and left out.
    """
    quotes: list[RateQuote] = []
    providers = Provider.objects.filter(
        kind=Provider.Kind.CARRIER, adapter="karrio", is_active=True
    ).order_by("code")
    for provider in providers:
        try:
            quotes.extend(adapter_for(provider).rate_quotes(shipment, parcels))
        except (AdapterError, KeyError) as exc:
            logger.warning("rates from %s failed: %s", provider.code, exc)
    if service_level is not None:
        days = service_level.max_transit_hours / 24
        fitting = [q for q in quotes if q.transit_days is not None and q.transit_days <= days]
        if fitting:
            quotes, prefer = fitting, "cheapest"
        else:
            prefer = "fastest"
    if prefer == "fastest":
        return sorted(quotes, key=lambda q: (q.transit_days or 999, q.amount))
    return sorted(quotes, key=lambda q: (q.amount, q.transit_days or 999))


def carrier_pickup_schedule(
    *,
    carrier_account: CarrierAccount,
    warehouse: Warehouse,
    date: dt.date,
    shipments: list[Shipment],
) -> str:
    """Book the carrier's pickup of `shipments` at `warehouse` on `date`; its confirmation
    number. NotSupported where the connector has no pickups."""
    adapter = adapter_for(carrier_account.provider)
    return adapter.schedule_pickup(  # type: ignore[call-arg]
        warehouse=warehouse, date=date, shipments=shipments, carrier_account=carrier_account
    )


def _purchase_start(
    *,
    shipment: Shipment,
    carrier_account: CarrierAccount,
    service: str,
    label_format: str,
    parcel_count: int,
) -> LabelPurchase:
    # durable: the row must be committed before the request leaves, never part of a
    # caller's transaction that a later error could roll back.
    with transaction.atomic(durable=True):
        locked = Shipment.objects.select_for_update().get(pk=shipment.pk)
        live = (
            LabelPurchase.objects.filter(shipment=locked, state__in=LabelPurchase.LIVE_STATES)
            .only("state")
            .first()
        )
        if live is not None:
            raise LabelPurchaseBlocked(
                f"{locked} already has a label purchase {live.get_state_display().lower()}: "
                "void it or settle it first."
            )
        try:
            return LabelPurchase.objects.create(
                shipment=locked,
                carrier_account=carrier_account,
                service=service,
                label_format=label_format,
                parcel_count=parcel_count,
                started_at=timezone.now(),
            )
        except IntegrityError:
            raise LabelPurchaseBlocked(f"{locked} already has a label purchase.") from None


def _purchase_finish(purchase: LabelPurchase, label: PurchasedLabel) -> None:
    with transaction.atomic():
        purchase.state = LabelPurchase.State.PURCHASED
        purchase.finished_at = timezone.now()
        purchase.tracking_numbers = label.tracking_numbers
        purchase.carrier_reference = label.carrier_reference[:100]
        purchase.amount = label.amount
        purchase.currency = label.currency[:3]
        purchase.label_pdf = label.label_pdf
        purchase.label_zpl = label.label_zpl or ""
        purchase.save()
        # The carrier now executes the shipment: tracking polls go to it, by its reference
        # (carriers through karrio send no webhooks).
        now = timezone.now()
        Shipment.objects.filter(pk=purchase.shipment_id).update(
            next_poll_at=now + timedelta(seconds=settings.TRACKING_POLL_SECONDS),
            poll_interval_seconds=settings.TRACKING_POLL_SECONDS,
            provider_id=purchase.carrier_account.provider_id,
            provider_reference=purchase.carrier_reference,
            tracking_number=(label.tracking_numbers or [""])[0][:100],
            cost=label.amount,
            cost_currency=label.currency[:3],
            updated_at=now,
        )


def _purchase_fail(purchase: LabelPurchase, *, state: str, error: str) -> None:
    LabelPurchase.objects.filter(pk=purchase.pk, state=LabelPurchase.State.IN_FLIGHT).update(
        state=state, error=error[:2000], finished_at=timezone.now(), updated_at=timezone.now()
    )


def label_purchase_buy(
    *,
    shipment: Shipment,
    carrier_account: CarrierAccount,
    parcels: list[ParcelSpec],
    service: str,
    label_format: str = "PDF",
    adapter: ProviderAdapter | None = None,
) -> LabelPurchase:
    """Buy the labels of `parcels` (one per parcel) from `carrier_account`.

    Returns the `purchased` LabelPurchase (tracking numbers in parcel order, the label
    document, the carrier's reference). Raises LabelPurchaseBlocked when the shipment
    already has a live purchase; ProviderUnavailable / ProviderRejected (the purchase is
    then `failed` and a new one may start); LabelOutcomeUnknownError when the answer was
    lost (the purchase is `unknown`: never retry, a person settles it).

    Must not run inside a transaction: the attempt is committed before the call.
    """
    purchase = _purchase_start(
        shipment=shipment,
        carrier_account=carrier_account,
        service=service,
        label_format=label_format.upper(),
        parcel_count=len(parcels),
    )
    adapter = adapter or adapter_for(carrier_account.provider)
    try:
        label = adapter.buy_labels(  # type: ignore[call-arg]
            shipment,
            parcels,
            service=service,
            label_format=label_format,
            carrier_account=carrier_account,
        )
    except LabelOutcomeUnknown as exc:
        _purchase_fail(purchase, state=LabelPurchase.State.UNKNOWN, error=exc.message)
        raise LabelOutcomeUnknownError(
            f"{exc.message} It is in the exception queue; do not buy again before it is settled.",
        ) from exc
    except AdapterError as exc:
        _purchase_fail(purchase, state=LabelPurchase.State.FAILED, error=exc.message)
        raise
    except BaseException as exc:
        # A bug or a kill after the request may have left: the outcome is not known.
        _purchase_fail(
            purchase, state=LabelPurchase.State.UNKNOWN, error=f"{type(exc).__name__}: {exc}"
        )
        raise
    _purchase_finish(purchase, label)
    purchase.refresh_from_db()
    return purchase


def label_purchase_void(
    *, purchase: LabelPurchase, adapter: ProviderAdapter | None = None
) -> LabelPurchase:
    """Void a purchased label at the carrier (where the connector can); a new purchase
    may start afterwards. ProviderRejected/NotSupported when the carrier cannot."""
    if purchase.state != LabelPurchase.State.PURCHASED:
        raise Conflict(
            f"Only a purchased label can be voided (this one is {purchase.get_state_display()}).",
            code=error_codes.LABEL_NOT_VOIDABLE,
        )
    account = purchase.carrier_account
    adapter = adapter or adapter_for(account.provider)
    adapter.void_labels(  # type: ignore[call-arg]
        purchase.shipment,
        carrier_account=account,
        carrier_reference=purchase.carrier_reference,
        tracking_numbers=list(purchase.tracking_numbers),
    )
    with transaction.atomic():
        LabelPurchase.objects.filter(pk=purchase.pk).update(
            state=LabelPurchase.State.VOIDED, finished_at=timezone.now(), updated_at=timezone.now()
        )
        Shipment.objects.filter(
            pk=purchase.shipment_id, provider_reference=purchase.carrier_reference
        ).update(
            provider_reference="",
            tracking_number="",
            next_poll_at=None,
            cost=None,
            cost_currency="",
            updated_at=timezone.now(),
        )
    purchase.refresh_from_db()
    return purchase


def label_purchase_settle(
    *, purchase: LabelPurchase, actor: AbstractBaseUser, note: str
) -> LabelPurchase:
    """A person checked with the carrier that an unknown purchase bought nothing (or voided
    it there): the purchase is `abandoned` and a new one may start."""
    stale = timezone.now() - label_stale_after()
    with transaction.atomic():
        locked = LabelPurchase.objects.select_for_update().get(pk=purchase.pk)
        settleable = locked.state == LabelPurchase.State.UNKNOWN or (
            locked.state == LabelPurchase.State.IN_FLIGHT and locked.started_at < stale
        )
        if not settleable:
            raise Conflict(
                f"Only a purchase with an unknown outcome can be settled "
                f"(this one is {locked.get_state_display()}).",
                code=error_codes.LABEL_NOT_SETTLEABLE,
            )
        locked.state = LabelPurchase.State.ABANDONED
        locked.finished_at = timezone.now()
        locked.settled_note = f"{actor.get_username()}: {note}"[:500]
        locked.save(update_fields=["state", "finished_at", "settled_note", "updated_at"])
    return locked
