"""WooCommerce REST API v3 (`/wp-json/wc/v3/`): orders in, fulfilments, cancellations and
stock out.

Only documented endpoints and fields are used (docs/channels.md lists them):
`GET /orders` (`modified_after`, `dates_are_gmt`, `orderby=modified`, `order=asc`,
`status=processing`, `per_page`, `page`; totals in `X-WP-Total`/`X-WP-TotalPages`),
`PUT /orders/{id}`, `GET|POST /orders/{id}/notes`, `GET /products?sku=`,
`POST /products/batch`. Authentication is HTTP Basic with the consumer key and
secret, which WooCommerce accepts over HTTPS only; plain HTTP is allowed for a host
listed in OUTBOUND_ALLOW_HOSTS (a local test shop).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from collections.abc import Iterator, Mapping
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

import httpx
from django.conf import settings

from core.ssrf import UnsafeDestination, listed_destination, public_request
from orders.iso import currency_places
from partners.connectors.base import (
    Connector,
    ConnectorError,
    Fulfilment,
    FulfilmentPushed,
    OrdersCursor,
    RemoteOrder,
)

API_PREFIX = "/wp-json/wc/v3"
PAGE_SIZE = 50
# Orders taken per run at most; the rest come with the next run (the cursor moved).
MAX_PAGES_PER_RUN = 20
# WooCommerce's batch endpoints take at most 100 objects.
BATCH_SIZE = 100
# Marks the note Consign added, so that a retry finds it instead of adding another.
NOTE_MARKER = "[consign:{number}]"


def _gmt(value: Any) -> dt.datetime | None:
    """WooCommerce's `*_gmt` fields: ISO 8601 without an offset, in UTC."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed.replace(tzinfo=dt.UTC) if parsed.tzinfo is None else parsed.astimezone(dt.UTC)


def _text(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    return str(value).strip() if value is not None else ""


def _name(person: Mapping[str, Any]) -> str:
    name = f"{_text(person, 'first_name')} {_text(person, 'last_name')}".strip()
    return name or _text(person, "company")


def _lines(
    items: list[Mapping[str, Any]], *, step: Decimal, problems: list[dict[str, str]]
) -> list[dict[str, Any]]:
    """`line_items` → intake lines by SKU; what cannot be mapped goes to `problems`."""
    lines = []
    for index, item in enumerate(items):
        sku = _text(item, "sku")
        try:
            quantity = int(item.get("quantity") or 0)
            total = Decimal(str(item.get("total") or "0"))
        except (InvalidOperation, TypeError, ValueError):
            problems.append({"field": f"line_items[{index}]", "message": "Bad quantity or total."})
            continue
        if not sku:
            name = _text(item, "name")
            problems.append(
                {"field": f"line_items[{index}].sku", "message": f"Line {name!r} has no SKU."}
            )
        elif quantity < 1:
            problems.append(
                {"field": f"line_items[{index}].quantity", "message": "Quantity below 1."}
            )
        else:
            unit = (total / quantity).quantize(step, rounding=ROUND_HALF_UP)
            lines.append({"sku": sku, "quantity": quantity, "unit_price": str(unit)})
    return lines


def _address(shipping: Mapping[str, Any]) -> dict[str, str]:
    return {
        "name": _name(shipping),
        "line1": _text(shipping, "address_1"),
        "line2": _text(shipping, "address_2"),
        "city": _text(shipping, "city"),
        "postcode": _text(shipping, "postcode"),
        "region": _text(shipping, "state"),
        "country": _text(shipping, "country").upper(),
    }


def order_map(
    data: Mapping[str, Any], *, service_levels: Mapping[str, str], default_level: str
) -> RemoteOrder:
    """A WooCommerce order object → a RemoteOrder with the intake payload.

    Billing gives the customer, shipping the address (billing's when the order has no
    shipping address); line items go by `sku` with the unit price their `total` (after
    discounts) implies; the first shipping line's `method_id` picks the service level.
    What cannot be mapped is listed in `problems`, never guessed.
    """
    problems: list[dict[str, str]] = []
    remote_id = int(data["id"])
    billing = data.get("billing") or {}
    shipping = data.get("shipping") or {}
    if not _text(shipping, "address_1"):
        shipping = billing
    currency = _text(data, "currency").upper()
    places = currency_places(currency)
    if places is None:
        problems.append({"field": "currency", "message": f"Unknown currency {currency!r}."})
    step = Decimal(1).scaleb(-(places or 0))
    lines = _lines(data.get("line_items") or [], step=step, problems=problems)
    if not lines and not problems:
        problems.append({"field": "line_items", "message": "The order has no line items."})
    shipping_lines = data.get("shipping_lines") or [{}]
    level = service_levels.get(_text(shipping_lines[0], "method_id")) or default_level or None
    modified = _gmt(data.get("date_modified_gmt")) or _gmt(data.get("date_created_gmt"))
    payload: dict[str, Any] = {
        "external_reference": str(remote_id),
        "currency": currency,
        "customer": {
            "email": _text(billing, "email"),
            "name": _name(billing) or _name(shipping),
            "phone": _text(billing, "phone") or _text(shipping, "phone"),
        },
        "shipping_address": _address(shipping),
        "lines": lines,
        "service_level": level,
    }
    placed = _gmt(data.get("date_created_gmt"))
    if placed is not None:
        payload["placed_at"] = placed.isoformat()
    return RemoteOrder(
        remote_id=remote_id,
        number=_text(data, "number") or str(remote_id),
        modified_at=modified or dt.datetime.now(dt.UTC),
        payload=payload,
        problems=problems,
    )


def note_text(fulfilment: Fulfilment) -> str:
    parts = [f"{number} {url}".strip() if url else number for number, url in fulfilment.tracking]
    tracking = "; ".join(parts) if parts else "no tracking number"
    marker = NOTE_MARKER.format(number=fulfilment.order_number)
    return f"Shipped. Tracking: {tracking} {marker}"


class WooCommerceConnector(Connector):
    def __init__(self, *, base_url: str, consumer_key: str, consumer_secret: str) -> None:
        self.base_url = base_url.rstrip("/")
        self._auth = (consumer_key, consumer_secret)

    def __repr__(self) -> str:
        # Never the credentials (they would end up in tracebacks and logs).
        return f"WooCommerceConnector({self.base_url!r})"

    # --- HTTP ----------------------------------------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        body: Any = None,
    ) -> tuple[Any, httpx.Response]:
        url = f"{self.base_url}{API_PREFIX}{path}"
        parts = urlsplit(url)
        if parts.scheme != "https" and not listed_destination(
            parts.hostname or "", parts.port or 80
        ):
            # Basic auth in clear text: WooCommerce itself refuses it, and so do we.
            raise ConnectorError(
                "The shop's base URL must be https:// (credentials travel with every call).",
                transient=False,
            )
        content = None
        headers = {"Accept": "application/json"}
        if body is not None:
            content = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        try:
            response = public_request(
                method,
                url,
                params=params,
                content=content,
                headers=headers,
                auth=self._auth,
                timeout=settings.CHANNEL_HTTP_TIMEOUT_SECONDS,
            )
        except UnsafeDestination as exc:
            raise ConnectorError(str(exc), transient=False) from None
        except httpx.TimeoutException:
            raise ConnectorError(f"{method} {path}: timed out.") from None
        except httpx.HTTPError as exc:
            raise ConnectorError(f"{method} {path}: {type(exc).__name__}.") from None
        status = response.status_code
        if status >= 400:
            raise self._error(method, path, response)
        try:
            data = json.loads(response.content or b"null", parse_float=Decimal)
        except ValueError:
            raise ConnectorError(f"{method} {path}: the answer is not JSON.") from None
        return data, response

    @staticmethod
    def _error(method: str, path: str, response: httpx.Response) -> ConnectorError:
        status = response.status_code
        detail = ""
        try:
            body = json.loads(response.content)
            if isinstance(body, dict):
                detail = str(body.get("code") or body.get("message") or "")[:200]
        except ValueError:
            pass
        message = f"{method} {path}: HTTP {status}" + (f" ({detail})" if detail else "")
        if status == 429:
            retry_after = None
            with contextlib.suppress(ValueError):
                retry_after = float(response.headers.get("Retry-After", ""))
            return ConnectorError(message, retry_after=retry_after)
        if status in (401, 403):
            return ConnectorError(f"{message}: the shop refused the credentials.", transient=False)
        return ConnectorError(message, transient=status >= 500 or status == 408)

    # --- the interface ---------------------------------------------------------

    def orders_since(
        self, *, cursor: OrdersCursor, service_levels: Mapping[str, str], default_level: str
    ) -> Iterator[RemoteOrder]:
        params = {
            "orderby": "modified",
            "order": "asc",
            "status": "processing",
            "per_page": str(PAGE_SIZE),
            "dates_are_gmt": "true",
        }
        if cursor.modified_after is not None:
            # modified_after is exclusive and second-grained: ask from a second earlier and
            # skip what the cursor already passed, so an order changed in the cursor's own
            # second is not lost.
            since = cursor.modified_after - dt.timedelta(seconds=1)
            params["modified_after"] = since.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
        page = 1
        while page <= MAX_PAGES_PER_RUN:
            data, response = self._request("GET", "/orders", params={**params, "page": str(page)})
            if not isinstance(data, list):
                raise ConnectorError("GET /orders: the answer is not a list.")
            for item in data:
                if not isinstance(item, dict) or "id" not in item:
                    continue
                remote = order_map(item, service_levels=service_levels, default_level=default_level)
                if cursor.comes_after(remote.modified_at, remote.remote_id):
                    yield remote
            try:
                pages = int(response.headers.get("X-WP-TotalPages", "1"))
            except ValueError:
                pages = 1
            if page >= pages or not data:
                return
            page += 1

    def fulfilment_push(self, *, fulfilment: Fulfilment, note_id: int | None) -> FulfilmentPushed:
        path = f"/orders/{fulfilment.remote_id}"
        if note_id is None:
            marker = NOTE_MARKER.format(number=fulfilment.order_number)
            notes, _ = self._request("GET", f"{path}/notes")
            for note in notes if isinstance(notes, list) else []:
                if isinstance(note, dict) and marker in str(note.get("note", "")):
                    note_id = int(note["id"])
                    break
        if note_id is None:
            created, _ = self._request(
                "POST", f"{path}/notes", body={"note": note_text(fulfilment), "customer_note": True}
            )
            note_id = int(created["id"]) if isinstance(created, dict) and "id" in created else None
        self._request("PUT", path, body={"status": "completed"})
        return FulfilmentPushed(note_id=note_id)

    def cancellation_push(self, *, remote_id: int) -> None:
        self._request("PUT", f"/orders/{remote_id}", body={"status": "cancelled"})

    def stock_push(self, *, quantities: Mapping[str, int]) -> dict[str, int]:
        skus = sorted(quantities)
        pushed: dict[str, int] = {}
        for start in range(0, len(skus), BATCH_SIZE):
            chunk = skus[start : start + BATCH_SIZE]
            products, _ = self._request(
                "GET", "/products", params={"sku": ",".join(chunk), "per_page": str(BATCH_SIZE)}
            )
            ids = {
                str(p["sku"]): int(p["id"])
                for p in (products if isinstance(products, list) else [])
                if isinstance(p, dict) and p.get("sku") in quantities
            }
            if not ids:
                continue
            update = [
                {"id": ids[sku], "stock_quantity": quantities[sku], "manage_stock": True}
                for sku in chunk
                if sku in ids
            ]
            self._request("POST", "/products/batch", body={"update": update})
            pushed.update({sku: quantities[sku] for sku in chunk if sku in ids})
        return pushed
