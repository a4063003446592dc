"""Generic HTTP/JSON adapter: the API the LSP sandbox speaks.

Any LSP that implements this small contract (documented in docs/logistics.md)
can be connected by creating a Provider with adapter "generic_http", its base
URL, API token and webhook secret; nothing else is needed.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

import httpx
from django.conf import settings
from django.utils.dateparse import parse_datetime

from core.json_input import json_loads_bounded
from core.ssrf import UnsafeDestination, resolve_public
from logistics import webhook_signing
from logistics.adapters.base import (
    AdapterError,
    CreatedInbound,
    CreatedShipment,
    InboundEvent,
    InboundReceiptLine,
    ProviderAdapter,
    ProviderRejected,
    ProviderUnavailable,
    ReturnLabel,
    StockSnapshotLine,
    TrackingUpdate,
)
from logistics.adapters.registry import register
from logistics.models import CustomsDeclaration, TrackingStatus
from logistics.services.customs import customs_payload

if TYPE_CHECKING:
    from inventory.models import InboundShipment, Warehouse
    from logistics.models import Shipment

_client_lock = threading.Lock()
_client: httpx.Client | None = None
_client_pid: int | None = None


def http_client() -> httpx.Client:
    """One pooled client per process (created after a prefork worker forks)."""
    import os

    global _client, _client_pid
    with _client_lock:
        if _client is None or _client_pid != os.getpid():
            _client = httpx.Client(
                timeout=httpx.Timeout(settings.LSP_HTTP_TIMEOUT_SECONDS),
                limits=httpx.Limits(max_connections=50, max_keepalive_connections=20),
            )
            _client_pid = os.getpid()
        return _client


def _provider_message(response: httpx.Response) -> str:
    try:
        data = json_loads_bounded(response.content)
    except ValueError:
        return response.text[:500] or response.reason_phrase
    if isinstance(data, dict):
        for key in ("detail", "message", "error", "title"):
            if data.get(key):
                return str(data[key])[:500]
    return json.dumps(data)[:500]


@register("generic_http")
class GenericHttpAdapter(ProviderAdapter):
    status_map = {
        "INFO_RECEIVED": TrackingStatus.PRE_TRANSIT,
        "PRE_TRANSIT": TrackingStatus.PRE_TRANSIT,
        "PICKED_UP": TrackingStatus.IN_TRANSIT,
        "IN_TRANSIT": TrackingStatus.IN_TRANSIT,
        "OUT_FOR_DELIVERY": TrackingStatus.OUT_FOR_DELIVERY,
        "READY_FOR_PICKUP": TrackingStatus.AVAILABLE_FOR_PICKUP,
        "AVAILABLE_FOR_PICKUP": TrackingStatus.AVAILABLE_FOR_PICKUP,
        "DELIVERED": TrackingStatus.DELIVERED,
        "DELIVERY_FAILED": TrackingStatus.FAILED_ATTEMPT,
        "FAILED_ATTEMPT": TrackingStatus.FAILED_ATTEMPT,
        "EXCEPTION": TrackingStatus.EXCEPTION,
        "RETURNED_TO_SENDER": TrackingStatus.RETURN_TO_SENDER,
        "RETURN_TO_SENDER": TrackingStatus.RETURN_TO_SENDER,
        "CANCELLED": TrackingStatus.CANCELLED,
    }

    # --- transport ---------------------------------------------------------
    def _url(self, path: str) -> str:
        return self.provider.base_url.rstrip("/") + path

    def _headers(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        if self.provider.api_token:
            headers["Authorization"] = f"Bearer {self.provider.api_token}"
        if extra:
            headers.update(extra)
        return headers

    def _request(
        self, method: str, path: str, *, json_body: Any = None, headers=None
    ) -> dict[str, Any]:
        if not self.provider.base_url:
            raise ProviderRejected(f"Provider {self.provider.code} has no base URL configured.")
        try:
            # Checked at call time too, not only when saved (core/ssrf.py); redirects are
            # never followed (httpx's default).
            resolve_public(self._url(path))
        except UnsafeDestination as exc:
            raise ProviderRejected(f"Provider {self.provider.code}: {exc}") from exc
        try:
            response = http_client().request(
                method, self._url(path), json=json_body, headers=self._headers(headers)
            )
        except httpx.TimeoutException as exc:
            raise ProviderUnavailable(f"Timeout calling {self.provider.code}: {exc}") from exc
        except httpx.TransportError as exc:
            raise ProviderUnavailable(f"Cannot reach {self.provider.code}: {exc}") from exc
        status = response.status_code
        if status >= 500 or status in (408, 409, 425, 429):
            # 409 here is "the same idempotency key is still being processed".
            raise ProviderUnavailable(
                f"{self.provider.code} answered {status}: {_provider_message(response)}",
                status_code=status,
            )
        if status >= 400:
            raise ProviderRejected(_provider_message(response), status_code=status)
        try:
            data = json_loads_bounded(response.content)
        except ValueError as exc:
            raise ProviderUnavailable(
                f"{self.provider.code} answered {status} without JSON", status_code=status
            ) from exc
        if not isinstance(data, dict):
            raise AdapterError(f"{self.provider.code} answered a non-object", raw=data)
        return data

    # --- operations --------------------------------------------------------
    def shipment_payload(self, shipment: Shipment) -> dict[str, Any]:
        order = shipment.order
        warehouse = shipment.warehouse
        lines = []
        for line in shipment.lines.select_related("order_line__product"):
            product = line.order_line.product
            lines.append(
                {
                    "sku": line.order_line.sku,
                    "quantity": line.quantity,
                    "description": product.customs_description or product.name,
                    "hs_code": product.hs_code,
                    "origin_country": product.country_of_origin,
                    "customs_value": str(product.customs_value)
                    if product.customs_value is not None
                    else None,
                    "weight_grams": product.weight_grams,
                }
            )
        payload = {
            "reference": str(shipment.idempotency_token),
            "order_number": order.number,
            "service_level": shipment.service_level.code if shipment.service_level else "",
            "ship_from": {
                "warehouse": warehouse.code,
                "line1": warehouse.line1,
                "city": warehouse.city,
                "postcode": warehouse.postcode,
                "country": warehouse.country,
            },
            "ship_to": {
                "name": order.shipping_name,
                "line1": order.shipping_line1,
                "line2": order.shipping_line2,
                "city": order.shipping_city,
                "postcode": order.shipping_postcode,
                "region": order.shipping_region,
                "country": order.shipping_country,
                "email": order.customer_email,
                "phone": order.customer_phone,
            },
            "lines": lines,
            "parcels": [
                {
                    "weight_grams": p.weight_grams,
                    "length_mm": p.length_mm,
                    "width_mm": p.width_mm,
                    "height_mm": p.height_mm,
                }
                for p in shipment.parcels.all()
            ],
        }
        declaration = CustomsDeclaration.objects.filter(shipment=shipment).first()
        if declaration is not None:
            payload["customs"] = customs_payload(declaration=declaration)
        return payload

    def create_shipment(self, shipment: Shipment) -> CreatedShipment:
        data = self._request(
            "POST",
            "/v1/shipments",
            json_body=self.shipment_payload(shipment),
            headers={"Idempotency-Key": str(shipment.idempotency_token)},
        )
        cost = data.get("cost") or {}
        amount: Decimal | None
        try:
            amount = Decimal(str(cost["amount"])) if cost.get("amount") is not None else None
        except (InvalidOperation, KeyError):
            amount = None
        if not data.get("id"):
            raise ProviderUnavailable(f"{self.provider.code} answered without a shipment id")
        return CreatedShipment(
            provider_reference=str(data["id"]),
            tracking_number=str(data.get("tracking_number") or ""),
            label_url=str(data.get("label_url") or ""),
            cost=amount,
            cost_currency=str(cost.get("currency") or ""),
            raw=data,
        )

    def cancel_shipment(self, shipment: Shipment) -> None:
        try:
            self._request("POST", f"/v1/shipments/{shipment.provider_reference}/cancel")
        except ProviderUnavailable as exc:
            if exc.status_code == 409:
                # On cancel, 409 means "too late: the parcel already moved".
                raise ProviderRejected(exc.message, status_code=409) from exc
            raise

    def fetch_tracking(self, shipment: Shipment) -> list[TrackingUpdate]:
        data = self._request("GET", f"/v1/shipments/{shipment.provider_reference}/tracking")
        return [self._update(data, event) for event in data.get("events") or []]

    def fetch_stock_snapshot(self, warehouse: Warehouse) -> list[StockSnapshotLine]:
        data = self._request("GET", f"/v1/stock?warehouse={warehouse.code}")
        return [
            StockSnapshotLine(sku=str(item["sku"]), on_hand=int(item["on_hand"]))
            for item in data.get("items") or []
        ]

    def create_return_label(
        self, shipment: Shipment, *, idempotency_key: str = "", items: list | None = None
    ) -> ReturnLabel:
        data = self._request(
            "POST",
            f"/v1/shipments/{shipment.provider_reference}/return-label",
            json_body={"reference": idempotency_key, "items": items or []},
            headers={"Idempotency-Key": idempotency_key} if idempotency_key else None,
        )
        return ReturnLabel(
            tracking_number=str(data.get("tracking_number") or ""),
            label_url=str(data.get("label_url") or ""),
            raw=data,
            provider_reference=str(data.get("id") or ""),
        )

    # --- ASNs ----------------------------------------------------------------
    def inbound_payload(self, inbound: InboundShipment) -> dict[str, Any]:
        return {
            "reference": inbound.number,
            "client_reference": inbound.reference,
            "warehouse": inbound.warehouse.code,
            "expected_at": inbound.expected_at.isoformat() if inbound.expected_at else None,
            "carrier": inbound.carrier,
            "tracking_number": inbound.tracking_number,
            "lines": [
                {"sku": line.product.sku, "quantity": line.expected_quantity}
                for line in inbound.lines.select_related("product").order_by("id")
            ],
        }

    def create_inbound(self, inbound: InboundShipment) -> CreatedInbound:
        data = self._request(
            "POST",
            "/v1/inbound-shipments",
            json_body=self.inbound_payload(inbound),
            headers={"Idempotency-Key": f"asn:{inbound.number}"},
        )
        if not data.get("id"):
            raise ProviderUnavailable(f"{self.provider.code} answered without an ASN id")
        return CreatedInbound(provider_reference=str(data["id"]), raw=data)

    def cancel_inbound(self, inbound: InboundShipment) -> None:
        try:
            self._request("POST", f"/v1/inbound-shipments/{inbound.provider_reference}/cancel")
        except ProviderUnavailable as exc:
            if exc.status_code == 409:
                # As for shipments: 409 on cancel means "too late: receiving started".
                raise ProviderRejected(exc.message, status_code=409) from exc
            raise

    def fetch_inbound(self, inbound: InboundShipment) -> InboundEvent | None:
        data = self._request("GET", f"/v1/inbound-shipments/{inbound.provider_reference}")
        event = self._inbound_event(data)
        if event is None or event.client_reference != inbound.number:
            return None  # another ASN under this id (a provider that lost its state)
        return event

    def parse_inbound_events(self, body: bytes) -> list[InboundEvent]:
        try:
            message = json_loads_bounded(body)
        except ValueError:
            return []
        if not isinstance(message, dict) or not str(message.get("type", "")).startswith("inbound."):
            return []
        event = self._inbound_event(message.get("data"))
        return [event] if event is not None else []

    @staticmethod
    def _inbound_event(data: Any) -> InboundEvent | None:
        if not isinstance(data, dict) or not data.get("reference"):
            return None
        receipts = []
        for item in data.get("receipts") or []:
            if not isinstance(item, dict):
                continue
            try:
                quantity = int(item.get("quantity") or 0)
            except (TypeError, ValueError):
                continue
            if item.get("id") and item.get("sku") and 0 < quantity < 2**31:
                receipts.append(
                    InboundReceiptLine(
                        event_id=str(item["id"])[:128], sku=str(item["sku"]), quantity=quantity
                    )
                )
        status = str(data.get("status") or "").lower()
        return InboundEvent(
            client_reference=str(data["reference"]),
            provider_reference=str(data.get("id") or ""),
            status=status,
            receipts=tuple(receipts),
            complete=status == "received",
            raw=data,
        )

    def verify_webhook(self, *, headers: Mapping[str, str], body: bytes) -> str:
        return webhook_signing.verify(
            secret=self.provider.webhook_secret,
            headers=headers,
            body=body,
            tolerance_seconds=settings.LSP_WEBHOOK_TOLERANCE_SECONDS,
        )

    def parse_webhook(self, body: bytes) -> list[TrackingUpdate]:
        try:
            # Bounded (core/json_input.py): too deep is a ValueError, never a RecursionError.
            message = json_loads_bounded(body)
        except ValueError:
            return []
        if not isinstance(message, dict):
            return []
        data = message.get("data") or {}
        if not isinstance(data, dict):
            return []
        events = data.get("events")
        if events is None:
            events = [data["event"]] if isinstance(data.get("event"), dict) else []
        return [self._update(data, event) for event in events if isinstance(event, dict)]

    def _update(self, envelope: Mapping[str, Any], event: Mapping[str, Any]) -> TrackingUpdate:
        provider_status = str(event.get("status") or "")
        occurred = parse_datetime(str(event.get("occurred_at") or "")) or dt.datetime.now(tz=dt.UTC)
        if occurred.tzinfo is None:
            occurred = occurred.replace(tzinfo=dt.UTC)
        return TrackingUpdate(
            status=self.map_status(provider_status),
            provider_status=provider_status,
            occurred_at=occurred,
            event_id=str(event.get("id") or ""),
            tracking_number=str(envelope.get("tracking_number") or ""),
            provider_reference=str(envelope.get("shipment_id") or envelope.get("id") or ""),
            client_reference=str(envelope.get("reference") or ""),
            description=str(event.get("description") or "")[:500],
            location=str(event.get("location") or "")[:200],
            raw={"envelope": {k: v for k, v in envelope.items() if k != "events"}, "event": event},
        )
