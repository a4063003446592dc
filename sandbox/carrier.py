"""The sandbox answering as DHL Parcel Germany, the carrier the offline demo ships with.

A demo CarrierAccount (connector `dhl_parcel_de`) has its base URL pointed at the sandbox;
karrio then speaks DHL's real API to it (docs/decisions/0010-carrier-offline.md):

* POST /parcel/de/account/auth/ropc/v1/token    an OAuth token
* POST /parcel/de/shipping/v2/orders             one label per parcel, each a real PDF
                                                  showing its tracking number
* DELETE /parcel/de/shipping/v2/orders?shipment=  void
* GET /parcel/de/tracking/v0/shipments?xml=      tracking, advancing on the sandbox clock
* POST /parcel/de/transportation/pickup/v3/orders a pickup confirmation

The shapes follow DHL's published samples (the ones karrio's connector tests use). State
is kept in memory: a restarted sandbox no longer knows the labels it sold, as a carrier's
test system forgets.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import random
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs
from xml.sax.saxutils import quoteattr

from sandbox.pdf import label_pdf

PREFIX = "/parcel/de/"
_PIECE_CODE = re.compile(r'piece-code="([0-9A-Za-z]+)"')

# (seconds after purchase in sandbox steps, ice code karrio maps, text)
_TIMELINE = (
    (1, "PCKDU", "AE", "The shipment has been picked up"),
    (2, "LDTMV", "AA", "The shipment has been processed in the parcel center of origin"),
    (3, "LDTMV", "AA", "The shipment has been processed in the destination parcel center"),
    (4, "DLVRD", "ZU", "The shipment has been successfully delivered"),
)


@dataclass
class CarrierLabel:
    number: str
    created: float
    recipient: str
    reference: str
    cancelled: bool = False


@dataclass
class CarrierSandbox:
    """DHL Parcel DE as the sandbox plays it; `step_seconds` paces the tracking."""

    step_seconds: float = 10.0
    latency_ms: float = 0.0
    labels: dict[str, CarrierLabel] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    rng: random.Random = field(default_factory=random.Random)
    purchases: int = 0

    def handles(self, path: str) -> bool:
        return path.startswith(PREFIX)

    def handle(self, method: str, path: str, query: str, body: bytes) -> tuple[int, str, bytes]:
        """(status, content type, body) of one request to the carrier API."""
        if self.latency_ms:
            time.sleep(self.latency_ms / 1000)
        route = (method, path.rstrip("/"))
        if route == ("POST", "/parcel/de/account/auth/ropc/v1/token"):
            return _json(
                200,
                {
                    "access_token": f"sandbox-{uuid.uuid4().hex}",
                    "token_type": "Bearer",
                    "expires_in": "1799",
                },
            )
        if route == ("POST", "/parcel/de/shipping/v2/orders"):
            return self._ship(body)
        if route == ("DELETE", "/parcel/de/shipping/v2/orders"):
            return self._cancel(query)
        if route == ("GET", "/parcel/de/tracking/v0/shipments"):
            return self._track(query)
        if route == ("POST", "/parcel/de/transportation/pickup/v3/orders"):
            return _json(
                200,
                {
                    "confirmation": {
                        "type": "ORDER",
                        "value": {
                            "orderID": f"PU{self.rng.randrange(10**9):09d}",
                            "pickupDate": dt.date.today().isoformat(),  # noqa: DTZ011 (a carrier's local day)
                        },
                    },
                    "orderedShipments": [],
                },
            )
        return _json(
            404,
            {
                "status": {
                    "title": "Not Found",
                    "statusCode": 404,
                    "detail": f"No such resource: {method} {path}",
                }
            },
        )

    # --- shipping ---------------------------------------------------------------------
    def _ship(self, body: bytes) -> tuple[int, str, bytes]:
        try:
            data = json.loads(body or b"{}")
        except ValueError:
            return _json(400, _status(400, "Bad Request", "The body is not JSON."))
        shipments = data.get("shipments") if isinstance(data, dict) else None
        if not isinstance(shipments, list) or not shipments:
            return _json(400, _status(400, "Bad Request", "No shipments in the order."))
        items: list[dict[str, Any]] = []
        for index, shipment in enumerate(shipments, start=1):
            problem = _problem(shipment)
            if problem:
                items.append(
                    {
                        "sstatus": {"title": "Bad Request", "statusCode": 400},
                        "validationMessages": [
                            {
                                "property": problem[0],
                                "validationMessage": problem[1],
                                "validationState": "Error",
                            }
                        ],
                    }
                )
                continue
            items.append(self._label(shipment, index, len(shipments)))
        ok = all(item["sstatus"]["statusCode"] == 200 for item in items)
        status = (
            _status(200, "ok", "The Webservice call ran successfully.")
            if ok
            else _status(400, "Bad Request", "Some shipments were refused.")
        )
        return _json(200 if ok else 400, {**status, "items": items})

    def _label(self, shipment: dict[str, Any], index: int, count: int) -> dict[str, Any]:
        consignee = shipment.get("consignee") or {}
        recipient = ", ".join(
            str(consignee.get(k) or "")
            for k in ("name1", "addressStreet", "city")
            if consignee.get(k)
        )
        reference = str(shipment.get("refNo") or "")
        with self.lock:
            number = f"00340434{self.rng.randrange(10**12):012d}"
            self.labels[number] = CarrierLabel(number, time.time(), recipient, reference)
            self.purchases += 1
        pdf = label_pdf(
            [
                number,
                "DHL PAKET (sandbox)",
                f"Parcel {index} of {count}",
                f"To: {recipient}"[:80],
                f"Ref: {reference}"[:80],
            ]
        )
        return {
            "shipmentNo": number,
            "shipmentRefNo": reference,
            "sstatus": {"title": "OK", "statusCode": 200},
            "label": {
                "b64": base64.b64encode(pdf).decode(),
                "fileFormat": "PDF",
                "printFormat": "910-300-700",
            },
        }

    def _cancel(self, query: str) -> tuple[int, str, bytes]:
        numbers = [n for v in parse_qs(query).get("shipment", []) for n in v.split(",") if n]
        items: list[dict[str, Any]] = []
        with self.lock:
            for number in numbers:
                label = self.labels.get(number)
                if label is None:
                    items.append(
                        {"shipmentNo": number, "sstatus": {"title": "Not Found", "statusCode": 404}}
                    )
                    continue
                if self._delivered_steps(label) >= 1:
                    items.append(
                        {
                            "shipmentNo": number,
                            "sstatus": {
                                "title": "Bad Request",
                                "statusCode": 400,
                                "detail": "The shipment is already with DHL.",
                            },
                        }
                    )
                    continue
                label.cancelled = True
                items.append({"shipmentNo": number, "sstatus": {"title": "OK", "statusCode": 200}})
        ok = bool(items) and all(i["sstatus"]["statusCode"] == 200 for i in items)
        status = (
            _status(200, "ok", "Cancelled.")
            if ok
            else _status(400, "Bad Request", "Not all cancelled.")
        )
        return _json(200 if ok else 400, {**status, "items": items})

    # --- tracking ----------------------------------------------------------------------
    def _delivered_steps(self, label: CarrierLabel) -> int:
        return int((time.time() - label.created) / max(self.step_seconds, 0.001))

    def _track(self, query: str) -> tuple[int, str, bytes]:
        xml = (parse_qs(query).get("xml") or [""])[0]
        pieces = []
        with self.lock:
            found = [self.labels.get(code) for code in _PIECE_CODE.findall(xml)]
        for label in found:
            if label is None or label.cancelled:
                pieces.append(
                    '<data name="piece-shipment" error-status="100" '
                    'status="No data found for this piece code" />'
                )
                continue
            pieces.append(self._piece(label))
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            '<data name="piece-shipment-list" code="0" request-id="sandbox">'
            + "".join(pieces)
            + "</data>"
        )
        return 200, "application/xml", body.encode()

    def _piece(self, label: CarrierLabel) -> str:
        steps = self._delivered_steps(label)
        created = dt.datetime.fromtimestamp(label.created, tz=dt.UTC)
        events = []
        for at, ice, code, text in _TIMELINE:
            if steps < at:
                break
            when = created + dt.timedelta(seconds=at * self.step_seconds)
            events.append(
                f'<data name="piece-event" event-timestamp="{when:%d.%m.%Y %H:%M}" '
                f"event-status={quoteattr(text)} event-short-status={quoteattr(text)} "
                f'ice="{ice}" ric="OTHER" event-location="Sandbox" event-country="DE" '
                f'standard-event-code="{code}" ruecksendung="false" />'
            )
        delivered = "1" if events and events[-1].count('ice="DLVRD"') else "0"
        last_ice = _TIMELINE[min(steps, len(_TIMELINE)) - 1][1] if steps else "SHRCU"
        return (
            f'<data name="piece-shipment" error-status="0" piece-code="{label.number}" '
            f'piece-identifier="{label.number}" searched-piece-code="{label.number}" '
            f'delivery-event-flag="{delivered}" ice="{last_ice}" product-name="DHL PAKET" '
            f'recipient-name={quoteattr(label.recipient[:60])} dest-country="DE" origin-country="DE">'
            f'<data name="piece-event-list" piece-identifier="{label.number}">'
            + "".join(events)
            + "</data></data>"
        )


def _problem(shipment: Any) -> tuple[str, str] | None:
    """What DHL would refuse in one shipment of an order, if anything."""
    if not isinstance(shipment, dict):
        return ("shipment", "must be an object")
    consignee = shipment.get("consignee") or {}
    for key in ("name1", "postalCode", "city", "country"):
        if not consignee.get(key):
            return (f"consignee.{key}", "must not be empty")
    weight = (shipment.get("details") or {}).get("weight") or {}
    if not weight.get("value"):
        return ("details.weight", "must be given")
    return None


def _status(code: int, title: str, detail: str) -> dict[str, Any]:
    return {"status": {"title": title, "statusCode": code, "detail": detail}}


def _json(status: int, payload: Any) -> tuple[int, str, bytes]:
    return status, "application/json", json.dumps(payload).encode()
