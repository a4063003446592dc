"""Carriers through the karrio SDK: one adapter for every carrier account of a provider.

A Provider of kind `carrier` with adapter `karrio` has CarrierAccounts, each naming a
karrio connector (`ups`, `dhl_express`, `dhl_parcel_de`: the `carriers` extra) and its
encrypted credentials. Rates are shopped across the provider's active accounts; a label
is bought from one account. Every call goes through karrio_transport (timeouts, the
base URL override, the per-call journal, redacted logging); outcomes are classified from
the journal first and karrio's messages second:

* an answer lost after a purchase request was sent (timeout, reset, 500/502/504):
  LabelOutcomeUnknown, never retried here (logistics.services.labels parks it);
* the request never left, or 429/503, or any failure of a read-only call:
  ProviderUnavailable (retry later);
* everything else the carrier said no to (validation, authentication): ProviderRejected.

`create_shipment` (the LSP dispatch path) is refused: a carrier label is bought at the
pack station (`logistics.services.labels.label_purchase_buy`), which records the attempt
before the call, something the dispatch outbox cannot do for a carrier.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import threading
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, TypeVar

from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime, parse_time

from core.ssrf import UnsafeDestination, resolve_public
from logistics.adapters import karrio_transport
from logistics.adapters.base import (
    AdapterError,
    CreatedShipment,
    LabelOutcomeUnknown,
    NotSupported,
    ParcelSpec,
    ProviderAdapter,
    ProviderRejected,
    ProviderUnavailable,
    PurchasedLabel,
    RateQuote,
    ReturnLabel,
    StockSnapshotLine,
    TrackingUpdate,
)
from logistics.adapters.registry import register
from logistics.models import CarrierAccount, CustomsDeclaration, TrackingStatus

if TYPE_CHECKING:
    from inventory.models import Warehouse
    from logistics.models import Shipment

T = TypeVar("T")

# karrio's normalised tracking status names (karrio.core.units.TrackingStatus) -> ours.
KARRIO_STATUS_MAP: Mapping[str, TrackingStatus] = {
    "pending": TrackingStatus.PRE_TRANSIT,
    "picked_up": TrackingStatus.IN_TRANSIT,
    "in_transit": TrackingStatus.IN_TRANSIT,
    # A delay is news, not a problem a person must act on.
    "delivery_delayed": TrackingStatus.IN_TRANSIT,
    "on_hold": TrackingStatus.EXCEPTION,
    "out_for_delivery": TrackingStatus.OUT_FOR_DELIVERY,
    "ready_for_pickup": TrackingStatus.AVAILABLE_FOR_PICKUP,
    "delivery_failed": TrackingStatus.FAILED_ATTEMPT,
    "delivered": TrackingStatus.DELIVERED,
    "return_to_sender": TrackingStatus.RETURN_TO_SENDER,
    "cancelled": TrackingStatus.CANCELLED,
    "unknown": TrackingStatus.UNKNOWN,
}

# Per connector: the capabilities beyond rates/labels/tracking, as karrio implements them.
VOID_CONNECTORS = frozenset({"ups", "dhl_parcel_de"})
PICKUP_CONNECTORS = frozenset({"ups", "dhl_express", "dhl_parcel_de"})
MANIFEST_CONNECTORS: frozenset[str] = frozenset()

_RETRYABLE_WORDS = ("timeout", "timed out", "rate limit", "too many", "unavailable", "try again")

_caches: dict[str, Any] = {}
_caches_lock = threading.Lock()


def _token_cache(account_code: str) -> Any:
    """OAuth tokens (UPS, DHL Parcel DE) cached per account for the process's life."""
    import karrio.lib as lib

    with _caches_lock:
        if account_code not in _caches:
            _caches[account_code] = lib.Cache()
        return _caches[account_code]


def _float(value: Decimal | int) -> float:
    # karrio's models take floats: converted here, at the boundary, and nowhere else.
    return float(value)


def _decimal(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value)).quantize(Decimal("0.0001"))
    except InvalidOperation:
        return None


def _messages_text(messages: list[Any]) -> str:
    parts = []
    for message in messages or []:
        code = getattr(message, "code", "") or ""
        text = getattr(message, "message", "") or ""
        parts.append(f"{code}: {text}" if code else str(text))
    return "; ".join(parts)[:500] or "no details"


@register("karrio")
class KarrioCarrierAdapter(ProviderAdapter):
    """Speaks to carriers through karrio; one instance per carrier Provider."""

    def map_status(self, provider_status: str) -> TrackingStatus:
        return KARRIO_STATUS_MAP.get(provider_status.strip().lower(), TrackingStatus.UNKNOWN)

    # --- accounts and the karrio gateway ---------------------------------------------
    def accounts(self) -> list[CarrierAccount]:
        return list(
            CarrierAccount.objects.filter(provider=self.provider, is_active=True).order_by("code")
        )

    def account(self, code: str = "") -> CarrierAccount:
        accounts = self.accounts()
        for account in accounts:
            if not code or account.code == code:
                return account
        raise ProviderRejected(
            f"Provider {self.provider.code} has no active carrier account"
            + (f" {code!r}." if code else ".")
        )

    def _credentials(self, account: CarrierAccount) -> dict[str, str]:
        try:
            data = json.loads(account.credentials or "{}")
        except ValueError:
            raise ProviderRejected(
                f"Carrier account {account.code}: its credentials are not a JSON object."
            ) from None
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}

    def _journal(self, account: CarrierAccount, *, purchase: bool = False):
        credentials = self._credentials(account)
        secrets = tuple(v for v in [*credentials.values(), account.account_number] if v)
        if account.base_url:
            try:
                # Checked at call time too, as for LSPs (core/ssrf.py).
                resolve_public(account.base_url)
            except UnsafeDestination as exc:
                raise ProviderRejected(f"Carrier account {account.code}: {exc}") from exc
        return karrio_transport.CallJournal(
            base_url=account.base_url, purchase=purchase, secrets=secrets
        )

    def _gateway(self, account: CarrierAccount) -> Any:
        karrio_transport.install()
        import attr
        import karrio.sdk as karrio_sdk

        try:
            settings_class = karrio_sdk.gateway.providers[account.carrier_name].Settings
        except KeyError:
            raise ProviderRejected(
                f"Carrier account {account.code}: karrio has no connector "
                f"{account.carrier_name!r} installed."
            ) from None
        known = set(attr.fields_dict(settings_class))
        extra = account.connector_settings if isinstance(account.connector_settings, dict) else {}
        settings: dict[str, Any] = {
            **extra,
            **self._credentials(account),
            "carrier_id": account.code,
            "test_mode": account.test_mode,
        }
        if account.account_number and "account_number" in known:
            settings["account_number"] = account.account_number
        unknown = sorted(set(settings) - known)
        if unknown:
            # Named, never echoed: karrio's struct loader would log the values.
            raise ProviderRejected(
                f"Carrier account {account.code}: {account.carrier_name} does not take "
                f"{', '.join(unknown)}."
            )
        try:
            return karrio_sdk.gateway[account.carrier_name].create(
                settings, cache=_token_cache(account.code)
            )
        except Exception as exc:
            raise ProviderRejected(
                f"Carrier account {account.code}: karrio cannot use it "
                f"({type(exc).__name__}; check the connector and credentials)."
            ) from None

    def _run(
        self,
        account: CarrierAccount,
        call: Callable[[Any], tuple[T | None, list[Any]]],
        *,
        purchase: bool = False,
    ) -> tuple[T | None, list[Any], karrio_transport.CallJournal]:
        journal = self._journal(account, purchase=purchase)
        gateway = self._gateway(account)
        with karrio_transport.journal_open(journal):
            result, messages = call(gateway)
        return result, list(messages or []), journal

    def _failure(
        self,
        account: CarrierAccount,
        what: str,
        messages: list[Any],
        journal: karrio_transport.CallJournal,
    ) -> AdapterError:
        """The error for a call that produced no result (not for lost purchases)."""
        prefix = f"{account.code} ({account.carrier_name}) {what}"
        failed = journal.transport_failure
        if failed is not None:
            return ProviderUnavailable(f"{prefix}: carrier unreachable ({failed.error}).")
        statuses = journal.statuses
        last = statuses[-1] if statuses else None
        text = karrio_transport.redact(_messages_text(messages), journal.secrets)
        if last is not None and (last >= 500 or last == 429):
            return ProviderUnavailable(
                f"{prefix}: carrier answered {last}: {text}", status_code=last
            )
        if any(word in text.lower() for word in _RETRYABLE_WORDS):
            return ProviderUnavailable(f"{prefix}: {text}", status_code=last)
        return ProviderRejected(f"{prefix} refused: {text}", status_code=last)

    # --- request building -------------------------------------------------------------
    def _shipper(self, warehouse: Warehouse) -> dict[str, Any]:
        return {
            "company_name": warehouse.name,
            "person_name": warehouse.name,
            "address_line1": warehouse.line1,
            "city": warehouse.city,
            "postal_code": warehouse.postcode,
            "country_code": warehouse.country,
        }

    def _recipient(self, shipment: Shipment) -> dict[str, Any]:
        order = shipment.order
        return {
            "person_name": order.shipping_name,
            "address_line1": order.shipping_line1,
            "address_line2": order.shipping_line2,
            "city": order.shipping_city,
            "postal_code": order.shipping_postcode,
            "state_code": order.shipping_region or None,
            "country_code": order.shipping_country,
            "email": order.customer_email,
            "phone_number": order.customer_phone or None,
            "residential": True,
        }

    def _parcels(self, parcels: list[ParcelSpec]) -> list[dict[str, Any]]:
        if not parcels:
            raise ProviderRejected("A label needs at least one parcel.")
        return [
            {
                "weight": _float(Decimal(p.weight_grams) / 1000),
                "weight_unit": "KG",
                "length": _float(Decimal(p.length_mm) / 10),
                "width": _float(Decimal(p.width_mm) / 10),
                "height": _float(Decimal(p.height_mm) / 10),
                "dimension_unit": "CM",
                "reference_number": p.reference,
                "packaging_type": "your_packaging",
            }
            for p in parcels
        ]

    def _customs(self, shipment: Shipment) -> dict[str, Any] | None:
        try:
            declaration = shipment.customs_declaration
        except CustomsDeclaration.DoesNotExist:
            return None
        return {
            "content_type": "merchandise"
            if declaration.contents_type == CustomsDeclaration.ContentsType.MERCHANDISE
            else declaration.contents_type,
            "incoterm": declaration.incoterm,
            "invoice": declaration.invoice_number,
            "certify": True,
            "signer": shipment.warehouse.name,
            "duty": {"paid_by": "sender" if declaration.incoterm == "DDP" else "recipient"},
            "commodities": [
                {
                    "sku": line.sku,
                    "title": line.description[:35],
                    "description": line.description,
                    "quantity": line.quantity,
                    "hs_code": line.hs_code or None,
                    "origin_country": line.origin_country or None,
                    "weight": _float(Decimal(line.weight_grams) / 1000),
                    "weight_unit": "KG",
                    "value_amount": _float(line.unit_value)
                    if line.unit_value is not None
                    else None,
                    "value_currency": declaration.currency,
                }
                for line in declaration.lines.all()
            ],
        }

    def _request(
        self, shipment: Shipment, parcels: list[ParcelSpec], **extra: Any
    ) -> dict[str, Any]:
        request: dict[str, Any] = {
            "shipper": self._shipper(shipment.warehouse),
            "recipient": self._recipient(shipment),
            "parcels": self._parcels(parcels),
            "reference": f"SHP-{shipment.pk}",
            **extra,
        }
        customs = self._customs(shipment)
        if customs is not None:
            request["customs"] = customs
        return request

    # --- rates --------------------------------------------------------------------------
    def rate_quotes(
        self,
        shipment: Shipment,
        parcels: list[ParcelSpec],
        *,
        accounts: list[CarrierAccount] | None = None,
    ) -> list[RateQuote]:
        """Quotes from every active account of the provider (or `accounts`), cheapest first.

        An account that fails is left out; ProviderUnavailable/ProviderRejected only when
        every account failed.
        """
        import karrio.sdk as karrio_sdk

        quotes: list[RateQuote] = []
        errors: list[AdapterError] = []
        for account in accounts if accounts is not None else self.accounts():
            payload = self._request(shipment, parcels, services=list(account.services))

            def call(gateway: Any, payload: dict[str, Any] = payload) -> tuple[Any, Any]:
                return karrio_sdk.Rating.fetch(payload).from_(gateway).parse()

            rates, messages, journal = self._run(account, call)
            if not rates:
                errors.append(self._failure(account, "rates", messages, journal))
                continue
            for rate in rates:
                amount = _decimal(rate.total_charge)
                if amount is None or (account.services and rate.service not in account.services):
                    continue
                quotes.append(
                    RateQuote(
                        carrier_account=account.code,
                        carrier=account.carrier_name,
                        service=str(rate.service),
                        amount=amount,
                        currency=(rate.currency or "").upper(),
                        transit_days=int(rate.transit_days) if rate.transit_days else None,
                    )
                )
        if not quotes and errors:
            raise (
                errors[0]
                if len(errors) == 1
                else type(errors[0])("; ".join(e.message for e in errors)[:1000])
            )
        return sorted(quotes, key=lambda q: (q.amount, q.transit_days or 99, q.carrier_account))

    # --- labels -------------------------------------------------------------------------
    def buy_labels(
        self,
        shipment: Shipment,
        parcels: list[ParcelSpec],
        *,
        service: str,
        label_format: str = "PDF",
        carrier_account: CarrierAccount | None = None,
    ) -> PurchasedLabel:
        """Buy the labels of all `parcels` in one carrier shipment.

        Raises LabelOutcomeUnknown when the purchase request was sent and its answer lost
        (the caller must not retry), ProviderUnavailable when nothing was bought and a
        retry may work, ProviderRejected when the carrier refused.
        """
        import karrio.sdk as karrio_sdk

        account = carrier_account or self.account()
        if account.services and service not in account.services:
            raise ProviderRejected(f"Carrier account {account.code} does not offer {service}.")
        label_format = label_format.upper()
        if label_format not in ("PDF", "ZPL"):
            raise ProviderRejected(f"Unknown label format {label_format!r} (PDF or ZPL).")
        payload = self._request(shipment, parcels, service=service, label_type=label_format)

        def call(gateway: Any) -> tuple[Any, Any]:
            return karrio_sdk.Shipment.create(payload).from_(gateway).parse()

        details, messages, journal = self._run(account, call, purchase=True)
        if details is None:
            lost = journal.lost_purchase
            if lost is not None:
                raise LabelOutcomeUnknown(
                    f"{account.code}: the carrier's answer to the label purchase was lost "
                    f"({lost.error or f'HTTP {lost.status}'}); a label may have been bought."
                )
            raise self._failure(account, "label purchase", messages, journal)
        return self._purchased(details, label_format)

    def _purchased(self, details: Any, label_format: str) -> PurchasedLabel:
        meta = details.meta or {}
        tracking_numbers = [str(t) for t in meta.get("tracking_numbers") or [] if t]
        if not tracking_numbers and details.tracking_number:
            tracking_numbers = [str(details.tracking_number)]
        docs = details.docs
        label = getattr(docs, "label", None) or ""
        label_type = (details.label_type or label_format).upper()
        raw = _b64(label)
        zpl = raw.decode("utf-8", "replace") if label_type == "ZPL" else None
        pdf = raw if label_type != "ZPL" else _b64(getattr(docs, "pdf_label", None) or "")
        selected = details.selected_rate
        return PurchasedLabel(
            tracking_numbers=tracking_numbers,
            label_pdf=pdf,
            label_zpl=zpl,
            carrier_reference=str(details.shipment_identifier or details.tracking_number),
            amount=_decimal(getattr(selected, "total_charge", None)) if selected else None,
            currency=((getattr(selected, "currency", "") or "") if selected else "").upper(),
        )

    def void_labels(
        self,
        shipment: Shipment,
        *,
        carrier_account: CarrierAccount | None = None,
        carrier_reference: str = "",
        tracking_numbers: list[str] | None = None,
    ) -> None:
        """Void the shipment's labels at the carrier (every parcel of a multi-parcel
        purchase); NotSupported where the connector cannot, ProviderRejected when the
        carrier refuses (too late)."""
        import karrio.sdk as karrio_sdk

        account = carrier_account or self.account()
        if account.carrier_name not in VOID_CONNECTORS:
            raise NotSupported(
                f"{account.get_carrier_name_display()} labels cannot be voided through karrio."
            )
        reference = carrier_reference or shipment.provider_reference
        if not reference:
            raise ProviderRejected("Nothing to void: the shipment has no carrier reference.")
        others = [t for t in tracking_numbers or [] if t and t != reference]
        payload = {"shipment_identifier": reference, "options": {"shipment_identifiers": others}}

        def call(gateway: Any) -> tuple[Any, Any]:
            return karrio_sdk.Shipment.cancel(payload).from_(gateway).parse()

        confirmation, messages, journal = self._run(account, call)
        if confirmation is None or not getattr(confirmation, "success", False):
            raise self._failure(account, "void", messages, journal)

    # --- pickups and manifests ---------------------------------------------------------
    def schedule_pickup(
        self,
        *,
        warehouse: Warehouse,
        date: dt.date,
        shipments: list[Shipment],
        carrier_account: CarrierAccount | None = None,
        ready_time: str = "09:00",
        closing_time: str = "17:00",
    ) -> str:
        """Book a pickup at `warehouse` on `date`; the carrier's confirmation number."""
        import karrio.sdk as karrio_sdk

        account = carrier_account or self.account()
        if account.carrier_name not in PICKUP_CONNECTORS:
            raise NotSupported(f"{account.get_carrier_name_display()} pickups are not supported.")
        payload = {
            "pickup_date": date.isoformat(),
            "ready_time": ready_time,
            "closing_time": closing_time,
            "address": self._shipper(warehouse),
            "parcels_count": max(len(shipments), 1),
            "shipment_identifiers": [
                s.provider_reference for s in shipments if s.provider_reference
            ],
            "parcels": [{"weight": 1.0, "weight_unit": "KG"}],
        }

        def call(gateway: Any) -> tuple[Any, Any]:
            return karrio_sdk.Pickup.schedule(payload).from_(gateway).parse()

        details, messages, journal = self._run(account, call)
        if details is None or not details.confirmation_number:
            raise self._failure(account, "pickup", messages, journal)
        return str(details.confirmation_number)

    def manifest(
        self,
        *,
        warehouse: Warehouse,
        shipments: list[Shipment],
        carrier_account: CarrierAccount | None = None,
    ) -> bytes | None:
        """The end-of-day manifest document, or None where the carrier needs none (none of
        the installed connectors does: their labels are manifested on purchase)."""
        account = carrier_account or self.account()
        if account.carrier_name not in MANIFEST_CONNECTORS:
            return None
        raise NotSupported("Manifests are not implemented for this connector.")  # pragma: no cover

    # --- tracking ----------------------------------------------------------------------
    def fetch_tracking(
        self, shipment: Shipment, *, carrier_account: CarrierAccount | None = None
    ) -> list[TrackingUpdate]:
        import karrio.sdk as karrio_sdk

        numbers = [shipment.tracking_number] if shipment.tracking_number else []
        if not numbers:
            return []
        account = carrier_account or self._account_for(shipment)

        def call(gateway: Any) -> tuple[Any, Any]:
            return karrio_sdk.Tracking.fetch({"tracking_numbers": numbers}).from_(gateway).parse()

        details, messages, journal = self._run(account, call)
        if not details:
            raise self._failure(account, "tracking", messages, journal)
        return [update for d in details for update in self._updates(d)]

    def _account_for(self, shipment: Shipment) -> CarrierAccount:
        from logistics.models import LabelPurchase

        purchase = (
            LabelPurchase.objects.filter(shipment=shipment, state=LabelPurchase.State.PURCHASED)
            .select_related("carrier_account")
            .first()
        )
        return purchase.carrier_account if purchase is not None else self.account()

    def _updates(self, details: Any) -> list[TrackingUpdate]:
        updates = []
        for index, event in enumerate(details.events or []):
            status = self.map_status(event.status or "")
            if status == TrackingStatus.UNKNOWN and index == 0 and details.status:
                # The newest event without a normalised status: the shipment's status.
                status = self.map_status(str(details.status))
            occurred = _event_time(event)
            updates.append(
                TrackingUpdate(
                    status=status,
                    provider_status=str(event.code or event.status or "")[:100],
                    occurred_at=occurred,
                    tracking_number=str(details.tracking_number),
                    description=str(event.description or "")[:500],
                    location=str(event.location or "")[:200],
                    raw={
                        "code": event.code,
                        "status": event.status,
                        "date": event.date,
                        "time": event.time,
                    },
                )
            )
        return updates

    # --- the LSP interface: not what a carrier does -------------------------------------
    def create_shipment(self, shipment: Shipment) -> CreatedShipment:
        raise NotSupported(
            f"Provider {self.provider.code} is a carrier: buy its label at the pack station "
            "(logistics.services.labels.label_purchase_buy), not through dispatch."
        )

    def cancel_shipment(self, shipment: Shipment) -> None:
        self.void_labels(shipment)

    def fetch_stock_snapshot(self, warehouse: Warehouse) -> list[StockSnapshotLine]:
        raise NotSupported(f"Provider {self.provider.code} is a carrier: it holds no stock.")

    def create_return_label(
        self, shipment: Shipment, *, idempotency_key: str = "", items: list | None = None
    ) -> ReturnLabel:
        raise NotSupported(f"Return labels through {self.provider.code} are not supported yet.")

    def verify_webhook(self, *, headers: Mapping[str, str], body: bytes) -> str:
        raise NotSupported("Carriers through karrio are tracked by polling, not webhooks.")

    def parse_webhook(self, body: bytes) -> list[TrackingUpdate]:
        return []


def _b64(value: str) -> bytes:
    if not value:
        return b""
    try:
        return base64.b64decode(value, validate=False)
    except (ValueError, TypeError):
        return b""


def _event_time(event: Any) -> dt.datetime:
    """An event's time: its ISO timestamp, else its date and time, else now."""
    if event.timestamp:
        parsed = parse_datetime(str(event.timestamp).replace("Z", "+00:00"))
        if parsed is not None:
            return parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed, dt.UTC)
    day = parse_date(str(event.date or "")[:10]) if event.date else None
    if day is not None:
        clock = parse_time(str(event.time or "")[:8]) if event.time else None
        when = dt.datetime.combine(day, clock or dt.time(0, 0))
        return timezone.make_aware(when, dt.UTC)
    return timezone.now()
