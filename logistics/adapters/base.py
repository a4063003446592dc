"""The one interface every provider adapter implements.

Adapters are stateless translators: they turn Consign shipments into provider
requests and provider answers (responses, webhooks, polls) into canonical data.
They never touch the database; services do.
"""

from __future__ import annotations

import abc
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from logistics.models import TrackingStatus

if TYPE_CHECKING:
    from inventory.models import InboundShipment, Warehouse
    from logistics.models import Provider, Shipment


class AdapterError(Exception):
    """A provider call failed. `retryable` says whether trying again can help."""

    retryable = False

    def __init__(self, message: str, *, status_code: int | None = None, raw: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.raw = raw


class ProviderUnavailable(AdapterError):
    """Timeout, connection failure, 5xx or 429: the same request may succeed later."""

    retryable = True


class ProviderRejected(AdapterError):
    """4xx: the provider refused the request; retrying the same request will not help."""


class NotSupported(ProviderRejected):
    """The provider (or its connector) cannot do this at all: asking again will not help."""


class LabelOutcomeUnknown(AdapterError):
    """The label purchase was sent and its answer lost: a label may or may not exist.

    Not retryable: carriers take no idempotency key, so a retry could buy a second
    label. logistics.services.labels parks the purchase for a person to settle.
    """


@dataclass(frozen=True)
class CreatedShipment:
    provider_reference: str
    tracking_number: str
    label_url: str = ""
    cost: Decimal | None = None
    cost_currency: str = ""
    raw: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ParcelSpec:
    """One physical parcel of a shipment, as packed."""

    weight_grams: int
    length_mm: int
    width_mm: int
    height_mm: int
    reference: str  # e.g. "SHP-12/1"


@dataclass(frozen=True)
class RateQuote:
    carrier_account: str  # CarrierAccount.code
    carrier: str  # the karrio connector, e.g. "ups"
    service: str  # the connector's service code, what buy_labels takes
    amount: Decimal
    currency: str
    transit_days: int | None


@dataclass(frozen=True)
class PurchasedLabel:
    tracking_numbers: list[str]  # one per parcel, in parcel order (some carriers: one in all)
    label_pdf: bytes  # all labels in one document (empty when only ZPL came back)
    label_zpl: str | None  # when label_format="ZPL" was asked for
    carrier_reference: str  # the carrier's shipment id, needed to void
    amount: Decimal | None
    currency: str


@dataclass(frozen=True)
class TrackingUpdate:
    """One normalised tracking event; `raw` keeps what the provider sent."""

    status: TrackingStatus
    provider_status: str
    occurred_at: dt.datetime
    event_id: str = ""
    tracking_number: str = ""
    provider_reference: str = ""
    client_reference: str = ""
    description: str = ""
    location: str = ""
    raw: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StockSnapshotLine:
    sku: str
    on_hand: int


@dataclass(frozen=True)
class ReturnLabel:
    tracking_number: str
    label_url: str
    raw: Mapping[str, Any] = field(default_factory=dict)
    # The provider's id of the return shipment (tracked like any other), if it has one.
    provider_reference: str = ""


@dataclass(frozen=True)
class CreatedInbound:
    """The LSP's answer to an ASN: its own id of it."""

    provider_reference: str
    raw: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class InboundReceiptLine:
    event_id: str  # the LSP's id of this receipt: the ledger posts it once
    sku: str
    quantity: int


@dataclass(frozen=True)
class InboundEvent:
    """What an LSP reports about an ASN: it moved (`in_transit`), goods were received
    (`receipts`), and whether receiving is `complete`."""

    client_reference: str  # our ASN number
    provider_reference: str = ""
    status: str = ""  # "in_transit", "receiving" or "received"
    receipts: tuple[InboundReceiptLine, ...] = ()
    complete: bool = False
    raw: Mapping[str, Any] = field(default_factory=dict)


class ProviderAdapter(abc.ABC):
    """Speaks one provider's API. One instance per Provider row."""

    #: provider status code -> canonical status; unknown codes map to UNKNOWN.
    status_map: Mapping[str, TrackingStatus] = {}

    def __init__(self, provider: Provider) -> None:
        self.provider = provider

    def map_status(self, provider_status: str) -> TrackingStatus:
        return self.status_map.get(provider_status.strip().upper(), TrackingStatus.UNKNOWN)

    @abc.abstractmethod
    def create_shipment(self, shipment: Shipment) -> CreatedShipment:
        """Create the shipment at the provider, idempotent on shipment.idempotency_token."""

    @abc.abstractmethod
    def cancel_shipment(self, shipment: Shipment) -> None:
        """Cancel at the provider; ProviderRejected if it is too late."""

    @abc.abstractmethod
    def fetch_tracking(self, shipment: Shipment) -> list[TrackingUpdate]:
        """Every tracking event the provider holds for the shipment."""

    @abc.abstractmethod
    def fetch_stock_snapshot(self, warehouse: Warehouse) -> list[StockSnapshotLine]:
        """What the provider says it holds at an LSP-operated warehouse."""

    @abc.abstractmethod
    def create_return_label(
        self, shipment: Shipment, *, idempotency_key: str = "", items: list | None = None
    ) -> ReturnLabel:
        """A return label for a delivered shipment, idempotent on `idempotency_key`.

        `items` ([{"sku", "quantity"}]) says what comes back, for providers that want it.
        """

    # ASNs (inbound shipments to an LSP-operated warehouse). Not abstract: a provider
    # that does not take ASNs refuses them, and its webhooks carry no inbound events.
    def create_inbound(self, inbound: InboundShipment) -> CreatedInbound:
        """Send the ASN to the LSP, idempotent on inbound.number (its Idempotency-Key)."""
        raise ProviderRejected(f"Provider {self.provider.code} does not take ASNs.")

    def cancel_inbound(self, inbound: InboundShipment) -> None:
        """Cancel the ASN at the LSP; ProviderRejected if it is too late."""
        raise ProviderRejected(f"Provider {self.provider.code} does not take ASNs.")

    def fetch_inbound(self, inbound: InboundShipment) -> InboundEvent | None:
        """What the LSP holds for the ASN (its status and every receipt), for providers
        without webhooks; None when it does not say."""
        return None

    def parse_inbound_events(self, body: bytes) -> list[InboundEvent]:
        """ASN events (receipts, progress) carried by a verified webhook body (may be empty)."""
        return []

    # Carrier capabilities (labels at the pack station). Not abstract: an LSP adapter
    # does not buy labels; the karrio adapter does (logistics/adapters/karrio_carrier.py).
    def rate_quotes(self, shipment: Shipment, parcels: list[ParcelSpec]) -> list[RateQuote]:
        """Rates for the parcels, cheapest first."""
        raise NotSupported(f"Provider {self.provider.code} does not quote carrier rates.")

    def buy_labels(
        self,
        shipment: Shipment,
        parcels: list[ParcelSpec],
        *,
        service: str,
        label_format: str = "PDF",
    ) -> PurchasedLabel:
        """Buy one label per parcel. Call it through logistics.services.labels, which
        records the attempt first: LabelOutcomeUnknown must never be retried."""
        raise NotSupported(f"Provider {self.provider.code} does not sell carrier labels.")

    def void_labels(self, shipment: Shipment) -> None:
        """Void the shipment's labels at the carrier."""
        raise NotSupported(f"Provider {self.provider.code} does not void carrier labels.")

    def schedule_pickup(self, *, warehouse: Warehouse, date: dt.date, shipments: list) -> str:
        """Book a carrier pickup; its confirmation number."""
        raise NotSupported(f"Provider {self.provider.code} does not schedule pickups.")

    def manifest(self, *, warehouse: Warehouse, shipments: list) -> bytes | None:
        """The end-of-day manifest, or None when the carrier needs none."""
        raise NotSupported(f"Provider {self.provider.code} does not make manifests.")

    @abc.abstractmethod
    def verify_webhook(self, *, headers: Mapping[str, str], body: bytes) -> str:
        """Check the webhook's authenticity; return its delivery id.

        Raises logistics.webhook_signing.WebhookVerificationError.
        """

    @abc.abstractmethod
    def parse_webhook(self, body: bytes) -> list[TrackingUpdate]:
        """Tracking updates carried by a verified webhook body (may be empty)."""
