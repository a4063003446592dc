"""The LSP sandbox service.

It keeps its state in its own SQLite file (store.py; like a real LSP, it is not
Consign's database), so a restart forgets nothing. It speaks the generic HTTP/JSON
contract of logistics.adapters.generic_http, advances every shipment through
tracking steps on a clock, pushes Standard-Webhooks-signed events to Consign, serves
a tracking page for people, and injects faults on request. See docs/logistics.md.
"""

from __future__ import annotations

import datetime as dt
import heapq
import itertools
import json
import logging
import random
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult, parse_qs, unquote, urlsplit

import httpx

from economics.services.rate_card_csv import card_terms_from_csv
from logistics import webhook_signing
from sandbox import invoices
from sandbox.carrier import CarrierSandbox
from sandbox.pages import tracking_page, unknown_tracking_page
from sandbox.pdf import label_pdf
from sandbox.store import (
    MEMORY,
    ORIGIN_DEMO,
    Delivery,
    SandboxInbound,
    SandboxShipment,
    SandboxStore,
)

__all__ = ["Sandbox", "SandboxConfig", "SandboxShipment", "make_server"]

logger = logging.getLogger("consign.lsp_sandbox")


@dataclass
class SandboxConfig:
    host: str = "127.0.0.1"
    port: int = 8700
    step_seconds: float = 10.0
    fail_rate: float = 0.0
    latency_ms: float = 0.0
    duplicate_rate: float = 0.0
    reorder_rate: float = 0.0
    drop_webhook_rate: float = 0.0
    failed_attempt_rate: float = 0.05
    exception_rate: float = 0.03
    return_rate: float = 0.02
    # ASN receipt faults: every Nth ASN is received short (or over) by a tenth of each
    # line, at least one unit; 0 = never.
    asn_short_every: int = 0
    asn_over_every: int = 0
    consign_url: str = "http://127.0.0.1:8000"
    provider_code: str = "sandbox"
    # Out of the repr, so a logged or printed config never carries them.
    webhook_secret: str = field(default="", repr=False)
    api_token: str = field(default="", repr=False)
    webhooks: bool = True
    seed: int | None = None
    public_url: str = ""
    # The SQLite file the state lives in; ":memory:" keeps it for this process only.
    state: str = MEMORY
    # Consign's rate-card CSV the sandbox bills its work with (GET /invoices/<month>.csv).
    rate_card: str = ""

    @property
    def webhook_url(self) -> str:
        return f"{self.consign_url.rstrip('/')}/webhooks/lsp/{self.provider_code}/"


class Sandbox:
    """State and clock of the sandbox; the HTTP handler is a thin layer over this.

    Every shipment lives in the store (store.py) and is read from it on each use;
    memory holds only the clock (a heap of due steps and webhook deliveries, rebuilt
    from the store on start) and the fault counters of this process.
    """

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.rng = random.Random(config.seed)  # noqa: S311 - simulation, not crypto
        self.lock = threading.RLock()
        self.store = SandboxStore(config.state, exclusive=True)
        # Read once at start: a bad card file stops the sandbox instead of every invoice.
        self.card = (
            card_terms_from_csv(Path(config.rate_card).read_text(encoding="utf-8"))
            if config.rate_card
            else None
        )
        # The sandbox also answers as a carrier (DHL Parcel DE) for the offline demo.
        self.carrier = CarrierSandbox(
            step_seconds=config.step_seconds, latency_ms=config.latency_ms
        )
        self.closed = False
        self.seq = itertools.count()
        self.heap: list[tuple[float, int, str, Any]] = []
        self.wakeup = threading.Condition(self.lock)
        self.stats: dict[str, int] = dict.fromkeys(
            [
                "create_requests",
                "created",
                "replayed",
                "faults_before",
                "faults_after",
                "webhooks_sent",
                "webhooks_failed",
                "webhooks_dropped",
                "webhooks_duplicated",
                "webhooks_reordered",
                "inbounds_created",
            ],
            0,
        )
        self.running = True
        self.senders = ThreadPoolExecutor(max_workers=8, thread_name_prefix="sandbox-webhook")
        self.http = httpx.Client(timeout=10.0)
        self.resumed = self._resume()
        self.clock = threading.Thread(target=self._run_clock, name="sandbox-clock", daemon=True)
        self.clock.start()

    @property
    def base_url(self) -> str:
        return self.config.public_url or f"http://{self.config.host}:{self.config.port}"

    # --- clock ---------------------------------------------------------------
    def _push(self, due: float, kind: str, payload: Any) -> None:
        with self.lock:
            heapq.heappush(self.heap, (due, next(self.seq), kind, payload))
            self.wakeup.notify()

    def _resume(self) -> tuple[int, int]:
        """Put every step not yet applied and every webhook not yet delivered back on the clock.

        Steps keep their planned times: one that fell due while the sandbox was down
        happens at once, dated when it was due, as a parcel keeps moving while a
        carrier's API is down.
        """
        with self.lock:
            steps = list(self.store.pending_steps())
            deliveries = self.store.deliveries()
            for shipment_id, index, due in steps:
                heapq.heappush(self.heap, (due, next(self.seq), "step", (shipment_id, index)))
            for delivery in deliveries:
                heapq.heappush(self.heap, (delivery.due, next(self.seq), "deliver", delivery))
            inbounds = self.store.inbounds_pending()
            for inbound_id, due in inbounds:
                heapq.heappush(self.heap, (due, next(self.seq), "inbound", inbound_id))
        return len(steps) + len(inbounds), len(deliveries)

    def _run_clock(self) -> None:
        while self.running:
            with self.lock:
                now = time.time()
                if not self.heap or self.heap[0][0] > now:
                    timeout = (self.heap[0][0] - now) if self.heap else 0.5
                    self.wakeup.wait(timeout=min(max(timeout, 0.001), 0.5))
                    continue
                due, _, kind, payload = heapq.heappop(self.heap)
            try:
                if kind == "step":
                    self._step(payload)
                elif kind == "inbound":
                    self._inbound_receive(payload)
                elif kind == "deliver":
                    self.senders.submit(self._deliver, payload)
            except Exception:
                logger.exception("sandbox clock item failed")

    def stop(self) -> None:
        """Stop the clock and close the store; what is still due resumes on the next start."""
        self.running = False
        with self.lock:
            self.wakeup.notify_all()
        if self.clock is not threading.current_thread():
            self.clock.join(timeout=5)
        self.senders.shutdown(wait=False, cancel_futures=True)
        with self.lock:
            if not self.closed:
                self.closed = True
                self.store.close()

    # --- shipments -----------------------------------------------------------
    def _plan(self) -> list[str]:
        c = self.config
        plan = ["INFO_RECEIVED", "IN_TRANSIT"]
        if self.rng.random() < c.exception_rate:
            plan += ["EXCEPTION", "IN_TRANSIT"]
        plan.append("OUT_FOR_DELIVERY")
        if self.rng.random() < c.return_rate:
            return [*plan, "DELIVERY_FAILED", "RETURNED_TO_SENDER"]
        if self.rng.random() < c.failed_attempt_rate:
            plan += ["DELIVERY_FAILED", "OUT_FOR_DELIVERY"]
        plan.append("DELIVERED")
        return plan

    def _schedule(self, start: float, steps: int) -> list[float]:
        due, schedule = start, []
        for _ in range(steps):
            schedule.append(due)
            due += self.config.step_seconds * self.rng.uniform(0.75, 1.25)
        return schedule

    def _clock_steps(self, shipment: SandboxShipment) -> None:
        for index in range(shipment.applied, len(shipment.plan)):
            self._push(shipment.schedule[index], "step", (shipment.id, index))

    def response_of(self, shipment: SandboxShipment) -> dict[str, Any]:
        """The create answer, exactly as first given (a replay returns it unchanged)."""
        if shipment.origin != ORIGIN_DEMO:
            return shipment.response
        # Demo shipments were registered by seed_demo, which does not know the address
        # this sandbox answers on: their links are built from it here.
        return self._created_response(shipment, **shipment.response)

    def create_shipment(self, *, key: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self.lock, self.store.write():
            self.stats["create_requests"] += 1
            existing = self.store.by_key(key)
            if existing is not None:
                self.store.count_create_request(existing.id)
                self.stats["replayed"] += 1
                return 200, self.response_of(existing)
            number = self.store.next_number()
            shipment_id = f"sbx_{number:08d}"
            tracking = f"SBX{number:010d}"
            plan = self._plan()
            now = time.time()
            shipment = SandboxShipment(
                id=shipment_id,
                idem_key=key,
                reference=str(body.get("reference") or key),
                tracking_number=tracking,
                request=body,
                created_at=now,
                plan=plan,
                schedule=self._schedule(now, len(plan)),
            )
            weight = sum(int(line.get("weight_grams") or 0) for line in body.get("lines") or [])
            shipment.response = self._created_response(
                shipment, cost={"amount": f"{4.95 + weight / 1000:.2f}", "currency": "EUR"}
            )
            self.store.insert(shipment)
            warehouse = str((body.get("ship_from") or {}).get("warehouse", ""))
            for line in body.get("lines") or []:
                self.store.stock_take(
                    warehouse=warehouse,
                    sku=str(line.get("sku")),
                    quantity=int(line.get("quantity") or 0),
                )
            self.stats["created"] += 1
        self._clock_steps(shipment)
        return 201, shipment.response

    def create_return(
        self, *, original_id: str, key: str, body: dict[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        """A return label for a shipment: a new, tracked return shipment back to the sender.

        Idempotent on `key`; the return always reaches the warehouse (no random faults).
        """
        with self.lock, self.store.write():
            original = self.store.get(original_id)
            if original is None:
                return 404, {"detail": "No such shipment."}
            if original.kind != "outbound" or original.cancelled:
                return 422, {"detail": "Only a shipped outbound shipment can be returned."}
            existing = self.store.by_key(f"return:{key}")
            if existing is not None:
                self.stats["replayed"] += 1
                return 200, existing.response
            number = self.store.next_number()
            shipment_id = f"sbr_{number:08d}"
            tracking = f"RSBX{number:010d}"
            to = original.request.get("ship_from") or {}
            frm = original.request.get("ship_to") or {}
            plan = ["INFO_RECEIVED", "IN_TRANSIT", "OUT_FOR_DELIVERY", "DELIVERED"]
            now = time.time()
            shipment = SandboxShipment(
                id=shipment_id,
                idem_key=f"return:{key}",
                reference=f"return:{key}",
                tracking_number=tracking,
                request={
                    "order_number": original.request.get("order_number", ""),
                    "ship_to": {"name": to.get("warehouse", ""), **to},
                    "ship_from": frm,
                    "lines": body.get("items") or [],
                    "return_of": original.id,
                },
                created_at=now,
                plan=plan,
                schedule=self._schedule(now, len(plan)),
                kind="return",
            )
            shipment.response = self._created_response(shipment, return_of=original.id)
            self.store.insert(shipment)
            self.stats["created"] += 1
        self._clock_steps(shipment)
        return 201, shipment.response

    # --- inbound shipments (ASNs) -----------------------------------------------
    def create_inbound(self, *, key: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """Accept an ASN, idempotent on `key`; its receipt comes one clock step later."""
        c = self.config
        with self.lock, self.store.write():
            existing = self.store.inbound_get(column="idem_key", value=key)
            if existing is not None:
                self.stats["replayed"] += 1
                return 200, existing.response
            number = self.store.next_number()
            inbound_id = f"sba_{number:08d}"
            self.stats["inbounds_created"] += 1
            nth = self.store.inbound_count() + 1
            outcome = "exact"
            if c.asn_short_every and nth % c.asn_short_every == 0:
                outcome = "short"
            elif c.asn_over_every and nth % c.asn_over_every == 0:
                outcome = "over"
            inbound = SandboxInbound(
                id=inbound_id,
                idem_key=key,
                reference=str(body.get("reference") or key),
                warehouse=str(body.get("warehouse") or ""),
                request=body,
                response={
                    "id": inbound_id,
                    "reference": str(body.get("reference") or key),
                    "status": "ACCEPTED",
                },
                due=time.time() + c.step_seconds * self.rng.uniform(0.75, 1.25),
                outcome=outcome,
            )
            self.store.inbound_insert(inbound)
        self._push(inbound.due, "inbound", inbound.id)
        return 201, inbound.response

    def inbound(self, inbound_id: str) -> SandboxInbound | None:
        with self.lock:
            return self.store.inbound_get(column="id", value=inbound_id)

    def cancel_inbound(self, inbound_id: str) -> tuple[int, dict[str, Any]]:
        with self.lock, self.store.write():
            inbound = self.store.inbound_get(column="id", value=inbound_id)
            if inbound is None:
                return 404, {"detail": "No such inbound shipment."}
            if inbound.status == "RECEIVED":
                return 409, {"detail": "Too late to cancel: the goods were received."}
            inbound.status = "CANCELLED"
            self.store.inbound_save(inbound)
        return 200, inbound.summary()

    @staticmethod
    def _received_quantity(expected: int, outcome: str) -> int:
        delta = max(1, expected // 10)
        if outcome == "short":
            return max(expected - delta, 0)
        if outcome == "over":
            return expected + delta
        return expected

    def _inbound_receive(self, inbound_id: str) -> None:
        """The goods arrived: receipts per line (short or over per the ASN's outcome), the
        stock goes up, and one signed `inbound.received` webhook reports it."""
        deliveries: list[Delivery] = []
        with self.lock:
            if self.closed:
                return
            with self.store.write():
                inbound = self.store.inbound_get(column="id", value=inbound_id)
                if inbound is None or inbound.status != "ACCEPTED":
                    return
                receipts = []
                for index, line in enumerate(inbound.request.get("lines") or []):
                    quantity = self._received_quantity(
                        int(line.get("quantity") or 0), inbound.outcome
                    )
                    if quantity <= 0:
                        continue
                    sku = str(line.get("sku") or "")
                    receipts.append(
                        {"id": f"rcp_{inbound.id}_{index}", "sku": sku, "quantity": quantity}
                    )
                    self.store.stock_put(warehouse=inbound.warehouse, sku=sku, quantity=quantity)
                inbound.status = "RECEIVED"
                inbound.receipts = receipts
                self.store.inbound_save(inbound)
                if self.config.webhooks:
                    body = json.dumps(
                        {
                            "type": "inbound.received",
                            "timestamp": dt.datetime.now(tz=dt.UTC).isoformat(),
                            "data": {
                                "id": inbound.id,
                                "reference": inbound.reference,
                                "warehouse": inbound.warehouse,
                                "status": "RECEIVED",
                                "receipts": receipts,
                            },
                        },
                        separators=(",", ":"),
                    ).encode()
                    deliveries.append(
                        self._delivery(msg_id=f"msg_{uuid.uuid4().hex}", body=body, due=time.time())
                    )
        for delivery in deliveries:
            self._push(delivery.due, "deliver", delivery)

    def _created_response(self, shipment: SandboxShipment, **extra: object) -> dict[str, Any]:
        """What a create answers (and a replay repeats): the shipment as the LSP made it."""
        base = self.base_url
        return {
            "id": shipment.id,
            "reference": shipment.reference,
            "tracking_number": shipment.tracking_number,
            "status": "INFO_RECEIVED",
            "label_url": f"{base}/v1/shipments/{shipment.id}/label.pdf",
            "tracking_url": f"{base}/track/{shipment.tracking_number}",
            **extra,
        }

    def _step(self, payload: tuple[str, int]) -> None:
        """Apply a planned step (and any earlier one still missing), once."""
        shipment_id, index = payload
        deliveries: list[Delivery] = []
        with self.lock:
            if self.closed:
                return
            with self.store.write():
                shipment = self.store.get(shipment_id)
                if shipment is None or shipment.cancelled or index < shipment.applied:
                    return
                while shipment.applied <= index:
                    event = self._event(shipment, shipment.applied)
                    shipment.events.append(event)
                    shipment.status = event["status"]
                    shipment.applied += 1
                    deliveries += self._emit(shipment, event)
                self.store.save(shipment)
        for delivery in deliveries:
            self._push(delivery.due, "deliver", delivery)

    @staticmethod
    def _event(shipment: SandboxShipment, index: int) -> dict[str, Any]:
        status = shipment.plan[index]
        return {
            "id": f"evt_{shipment.id}_{index}",
            "status": status,
            "occurred_at": dt.datetime.fromtimestamp(
                shipment.schedule[index], tz=dt.UTC
            ).isoformat(),
            "description": status.replace("_", " ").capitalize(),
            "location": (shipment.request.get("ship_to") or {}).get("city", "")
            if status in ("OUT_FOR_DELIVERY", "DELIVERED", "DELIVERY_FAILED")
            else "Sandbox hub",
        }

    def _message(self, shipment: SandboxShipment, event: dict[str, Any]) -> bytes:
        return json.dumps(
            {
                "type": "shipment.tracking_updated",
                "timestamp": dt.datetime.now(tz=dt.UTC).isoformat(),
                "data": {
                    "shipment_id": shipment.id,
                    "reference": shipment.reference,
                    "tracking_number": shipment.tracking_number,
                    "event": event,
                },
            },
            separators=(",", ":"),
        ).encode()

    def _emit(self, shipment: SandboxShipment, event: dict[str, Any]) -> list[Delivery]:
        """Queue the webhook(s) for an event, in the caller's store transaction.

        Written with the event itself (a transactional outbox), so an event is never
        stored without its webhook, and a delivery still pending at a restart goes out
        after it. Called with the lock held.
        """
        c = self.config
        if not c.webhooks:
            return []
        if self.rng.random() < c.drop_webhook_rate:
            self.stats["webhooks_dropped"] += 1
            return []
        delay = 0.0
        if self.rng.random() < c.reorder_rate:
            # Held back past the next step, so that a newer event overtakes it.
            delay = c.step_seconds * self.rng.uniform(1.2, 2.5)
            self.stats["webhooks_reordered"] += 1
        duplicate = self.rng.random() < c.duplicate_rate
        same_id = self.rng.random() < 0.5
        msg_id = f"msg_{uuid.uuid4().hex}"
        body = self._message(shipment, event)
        now = time.time()
        out = [self._delivery(msg_id=msg_id, body=body, due=now + delay)]
        if duplicate:
            self.stats["webhooks_duplicated"] += 1
            # Either the same delivery again (same webhook-id), or the same event in a
            # new delivery (new webhook-id): Consign must see both as nothing new.
            again_id = msg_id if same_id else f"msg_{uuid.uuid4().hex}"
            again = body if same_id else self._message(shipment, event)
            extra = self.rng.uniform(0.05, max(c.step_seconds, 0.1))
            out.append(self._delivery(msg_id=again_id, body=again, due=now + delay + extra))
        return out

    def _delivery(self, *, msg_id: str, body: bytes, due: float) -> Delivery:
        row_id = self.store.delivery_add(msg_id=msg_id, body=body, due=due)
        return Delivery(row_id=row_id, msg_id=msg_id, body=body, attempt=0, due=due)

    def _deliver(self, delivery: Delivery) -> None:
        headers = webhook_signing.sign_headers(
            secret=self.config.webhook_secret, body=delivery.body, msg_id=delivery.msg_id
        )
        try:
            response = self.http.post(
                self.config.webhook_url, content=delivery.body, headers=headers
            )
            ok = 200 <= response.status_code < 300
        except httpx.HTTPError:
            ok = False
        with self.lock:
            if self.closed:
                return  # still in the store: sent again after the restart
            self.stats["webhooks_sent" if ok else "webhooks_failed"] += 1
            with self.store.write():
                if ok or delivery.attempt >= 10:
                    self.store.delivery_done(delivery.row_id)
                    return
                attempt = delivery.attempt + 1
                due = time.time() + min(0.5 * 2**attempt, 30)
                self.store.delivery_retry(row_id=delivery.row_id, attempt=attempt, due=due)
        self._push(due, "deliver", replace(delivery, attempt=attempt, due=due))

    def cancel(self, shipment_id: str) -> tuple[int, dict[str, Any]]:
        deliveries: list[Delivery] = []
        with self.lock, self.store.write():
            shipment = self.store.get(shipment_id)
            if shipment is None:
                return 404, {"detail": "No such shipment."}
            if shipment.status not in ("INFO_RECEIVED", "CANCELLED"):
                return 409, {"detail": f"Too late to cancel: shipment is {shipment.status}."}
            if not shipment.cancelled:
                shipment.cancelled = True
                shipment.status = "CANCELLED"
                event = {
                    "id": f"evt_{shipment_id}_cancel",
                    "status": "CANCELLED",
                    "occurred_at": dt.datetime.now(tz=dt.UTC).isoformat(),
                    "description": "Cancelled by shipper",
                    "location": "",
                }
                shipment.events.append(event)
                self.store.save(shipment)
                deliveries = self._emit(shipment, event)
        for delivery in deliveries:
            self._push(delivery.due, "deliver", delivery)
        return 200, shipment.summary()

    def tracking(self, shipment_id: str) -> tuple[int, dict[str, Any]]:
        with self.lock:
            shipment = self.store.get(shipment_id)
        if shipment is None:
            return 404, {"detail": "No such shipment."}
        return 200, self.tracking_of(shipment)

    @staticmethod
    def tracking_of(shipment: SandboxShipment) -> dict[str, Any]:
        return {
            "shipment_id": shipment.id,
            "reference": shipment.reference,
            "tracking_number": shipment.tracking_number,
            "status": shipment.status,
            "events": list(shipment.events),
        }

    def shipment(self, shipment_id: str) -> SandboxShipment | None:
        with self.lock:
            return self.store.get(shipment_id)

    def by_tracking_number(self, number: str) -> SandboxShipment | None:
        with self.lock:
            return self.store.by_tracking_number(number)

    def listing(
        self, *, reference: str = "", shipment_id: str = "", limit: int = 1000
    ) -> tuple[int, list[SandboxShipment]]:
        with self.lock:
            return self.store.listing(reference=reference, shipment_id=shipment_id, limit=limit)

    def stats_snapshot(self) -> dict[str, int]:
        with self.lock:
            return {
                **self.stats,
                "shipments": self.store.shipment_count(),
                "inbounds": self.store.inbound_count(),
            }

    def invoice(self, *, month: str, faults: invoices.Faults) -> str:
        """The month's invoice as CSV (sandbox/invoices.py); ValueError for a bad month."""
        if self.card is None:
            raise LookupError("the sandbox was started without a rate card (--rate-card FILE)")
        start, end, _ = invoices.month_bounds(month)
        with self.lock:
            shipments = self.store.created_between(start, end)
        return invoices.invoice_csv(month=month, shipments=shipments, card=self.card, faults=faults)

    def stock_levels(self, warehouse: str) -> dict[str, int]:
        with self.lock:
            return self.store.stock(warehouse)

    def stock_set(self, *, warehouse: str, levels: dict[str, int]) -> None:
        with self.lock, self.store.write():
            self.store.stock_replace(warehouse=warehouse, levels=levels)

    def reset(self) -> None:
        """Forget every shipment, key, snapshot and pending webhook (numbers are never reused)."""
        with self.lock:
            with self.store.write():
                self.store.clear()
            self.heap.clear()
            for key in self.stats:
                self.stats[key] = 0


_HTML = "text/html; charset=utf-8"


class SandboxHandler(BaseHTTPRequestHandler):
    sandbox: Sandbox  # set on the subclass built by make_server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - BaseHTTPRequestHandler's signature
        logger.debug("%s %s", self.address_string(), format % args)

    # --- plumbing ------------------------------------------------------------
    def _send(self, status: int, payload: Any, content_type: str = "application/json") -> None:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        if content_type == _HTML:
            self.send_header("Vary", "Accept")
            self.send_header("Cache-Control", "no-store")
            self.send_header("X-Content-Type-Options", "nosniff")
            self.send_header(
                "Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'"
            )
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _body(self) -> dict[str, Any] | None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not raw:
            return {}
        try:
            data = json.loads(raw)
        except ValueError:
            return None
        return data if isinstance(data, dict) else None

    def _authorised(self) -> bool:
        token = self.sandbox.config.api_token
        return not token or self.headers.get("Authorization") == f"Bearer {token}"

    def _api_fault(self) -> str | None:
        """Injected latency, then maybe a fault: 'before' (nothing done) or 'after'."""
        c = self.sandbox.config
        if c.latency_ms:
            time.sleep(c.latency_ms / 1000 * self.sandbox.rng.uniform(0.5, 1.5))
        with self.sandbox.lock:
            if self.sandbox.rng.random() >= c.fail_rate:
                return None
            return "before" if self.sandbox.rng.random() < 0.5 else "after"

    def _wants_json(self) -> bool:
        """JSON for API clients that ask for it; the tracking page for browsers and people."""
        if parse_qs(urlsplit(self.path).query).get("format") == ["json"]:
            return True
        accept = self.headers.get("Accept") or ""
        best: dict[str, float] = {}
        for item in accept.split(","):
            media, *params = (part.strip() for part in item.split(";"))
            quality = 1.0
            for param in params:
                name, _, value = param.partition("=")
                if name.strip() == "q":
                    try:
                        quality = float(value)
                    except ValueError:
                        quality = 0.0
            best[media.lower()] = max(quality, best.get(media.lower(), 0.0))
        json_q = best.get("application/json", 0.0)
        return json_q > 0 and json_q >= best.get("text/html", 0.0)

    def _track(self, number: str) -> None:
        shipment = self.sandbox.by_tracking_number(number)
        if self._wants_json():
            if shipment is None:
                return self._send(404, {"detail": "Unknown tracking number."})
            return self._send(200, self.sandbox.tracking_of(shipment))
        if shipment is None:
            return self._send(404, unknown_tracking_page(number), _HTML)
        return self._send(200, tracking_page(shipment), _HTML)

    # --- routes --------------------------------------------------------------
    # Each route is a path pattern ("*" matches one segment, handed to the handler)
    # and the handler's name. GET routes before the API gate answer anyone; the API
    # routes after it need the token and may meet an injected fault.
    _GET_OPEN: tuple[tuple[tuple[str, ...], str], ...] = (
        ((), "_get_health"),
        (("health",), "_get_health"),
        (("_sandbox", "shipments"), "_get_listing"),
        (("_sandbox", "stats"), "_get_stats"),
        (("track", "*"), "_get_track"),
        (("v1", "shipments", "*", "label.pdf"), "_get_label"),
        (("invoices", "*"), "_get_invoice"),
    )
    _GET_API: tuple[tuple[tuple[str, ...], str], ...] = (
        (("v1", "shipments", "*", "tracking"), "_get_tracking"),
        (("v1", "shipments", "*"), "_get_shipment"),
        (("v1", "stock"), "_get_stock"),
        (("v1", "inbound-shipments", "*"), "_get_inbound"),
    )
    _POST_API: tuple[tuple[tuple[str, ...], str], ...] = (
        (("v1", "shipments"), "_post_shipment"),
        (("v1", "shipments", "*", "cancel"), "_post_cancel"),
        (("v1", "shipments", "*", "return-label"), "_post_return_label"),
        (("v1", "inbound-shipments"), "_post_inbound"),
        (("v1", "inbound-shipments", "*", "cancel"), "_post_inbound_cancel"),
    )

    def _carrier(self) -> bool:
        """Answer a request to the carrier API the sandbox plays (sandbox/carrier.py)."""
        url = urlsplit(self.path)
        if not self.sandbox.carrier.handles(url.path):
            return False
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        status, content_type, payload = self.sandbox.carrier.handle(
            self.command, url.path, url.query, body
        )
        self._send(status, payload, content_type)
        return True

    def do_DELETE(self) -> None:
        if not self._carrier():
            self._send(404, {"detail": "Not found."})

    def do_GET(self) -> None:
        if self._carrier():
            return None
        url = urlsplit(self.path)
        parts = _segments(url.path)
        found = _route(self._GET_OPEN, parts)
        if found is not None:
            getattr(self, found[0])(url, *found[1])
            return None
        if parts[:1] != ["v1"]:
            return self._send(404, {"detail": "Not found."})
        if not self._authorised():
            return self._send(401, {"detail": "Missing or wrong API token."})
        if self._api_fault():
            return self._send(503, {"detail": "Injected fault: service unavailable."})
        found = _route(self._GET_API, parts)
        if found is None:
            return self._send(404, {"detail": "Not found."})
        getattr(self, found[0])(url, *found[1])
        return None

    def _get_invoice(self, url: SplitResult, name: str) -> None:
        """GET /invoices/<YYYY-MM>.csv[?overcharge_every=N&duplicate_every=N&unknown_every=N]."""
        if not self._authorised():
            return self._send(401, {"detail": "Missing or wrong API token."})
        if not name.endswith(".csv"):
            return self._send(404, {"detail": "Not found: invoices are /invoices/<YYYY-MM>.csv."})
        try:
            faults = invoices.Faults.from_query(parse_qs(url.query))
            text = self.sandbox.invoice(month=name.removesuffix(".csv"), faults=faults)
        except ValueError as exc:
            return self._send(400, {"detail": str(exc)})
        except LookupError as exc:
            return self._send(409, {"detail": str(exc)})
        return self._send(200, text.encode(), content_type="text/csv; charset=utf-8")

    def _get_health(self, url: SplitResult) -> None:
        self._send(200, {"status": "ok", "service": "consign-lsp-sandbox"})

    def _get_listing(self, url: SplitResult) -> None:
        query = parse_qs(url.query)
        try:
            limit = max(0, int(query.get("limit", ["1000"])[0]))
        except ValueError:
            return self._send(400, {"detail": "limit must be a whole number."})
        count, found = self.sandbox.listing(
            reference=query.get("reference", [""])[0],
            shipment_id=query.get("id", [""])[0],
            limit=limit,
        )
        return self._send(200, {"count": count, "shipments": [s.summary() for s in found]})

    def _get_stats(self, url: SplitResult) -> None:
        self._send(200, self.sandbox.stats_snapshot())

    def _get_track(self, url: SplitResult, number: str) -> None:
        self._track(unquote(number))

    def _get_label(self, url: SplitResult, shipment_id: str) -> None:
        shipment = self.sandbox.shipment(shipment_id)
        if shipment is None:
            return self._send(404, {"detail": "No such shipment."})
        to = shipment.request.get("ship_to") or {}
        pdf = label_pdf(
            [
                shipment.tracking_number,
                f"Order {shipment.request.get('order_number', '')}",
                to.get("name", ""),
                to.get("line1", ""),
                f"{to.get('postcode', '')} {to.get('city', '')}",
                to.get("country", ""),
            ]
        )
        return self._send(200, pdf, "application/pdf")

    def _get_tracking(self, url: SplitResult, shipment_id: str) -> None:
        self._send(*self.sandbox.tracking(shipment_id))

    def _get_shipment(self, url: SplitResult, shipment_id: str) -> None:
        shipment = self.sandbox.shipment(shipment_id)
        if shipment is None:
            return self._send(404, {"detail": "No such shipment."})
        return self._send(200, {**self.sandbox.response_of(shipment), **shipment.summary()})

    def _get_inbound(self, url: SplitResult, inbound_id: str) -> None:
        inbound = self.sandbox.inbound(inbound_id)
        if inbound is None:
            return self._send(404, {"detail": "No such inbound shipment."})
        return self._send(200, inbound.summary())

    def _get_stock(self, url: SplitResult) -> None:
        warehouse = parse_qs(url.query).get("warehouse", [""])[0]
        levels = self.sandbox.stock_levels(warehouse)
        items = [{"sku": sku, "on_hand": qty} for sku, qty in sorted(levels.items())]
        self._send(200, {"warehouse": warehouse, "items": items})

    def do_POST(self) -> None:
        if self._carrier():
            return None
        parts = _segments(urlsplit(self.path).path)
        sandbox = self.sandbox
        body = self._body()
        if body is None:
            return self._send(400, {"detail": "Body must be a JSON object."})
        if parts == ["_sandbox", "reset"]:
            sandbox.reset()
            return self._send(200, {"status": "reset"})
        if parts[:1] != ["v1"]:
            return self._send(404, {"detail": "Not found."})
        if not self._authorised():
            return self._send(401, {"detail": "Missing or wrong API token."})
        fault = self._api_fault()
        if fault == "before":
            with sandbox.lock:
                sandbox.stats["faults_before"] += 1
            return self._send(503, {"detail": "Injected fault: service unavailable."})
        found = _route(self._POST_API, parts)
        try:
            if found is None:
                raise _Refused(404, "Not found.")
            status, data = getattr(self, found[0])(body, *found[1])
        except _Refused as refused:
            return self._send(refused.status, {"detail": refused.detail})
        if fault == "after":
            # The work is done but the answer is lost: the client must retry with the
            # same idempotency key and get the same shipment back.
            with sandbox.lock:
                sandbox.stats["faults_after"] += 1
            return self._send(500, {"detail": "Injected fault: internal error."})
        return self._send(status, data)

    def _idempotency_key(self, body: dict[str, Any]) -> str:
        key = self.headers.get("Idempotency-Key") or str(body.get("reference") or "")
        if not key:
            raise _Refused(422, "An Idempotency-Key header is required.")
        return key

    def _post_shipment(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        key = self._idempotency_key(body)
        missing = [
            name
            for name in ("country", "line1", "city")
            if not (body.get("ship_to") or {}).get(name)
        ]
        if missing or not body.get("lines"):
            detail = f"ship_to is missing {', '.join(missing)}" if missing else "no lines"
            raise _Refused(422, f"Invalid shipment: {detail}.")
        customs_problem = _customs_problem(body)
        if customs_problem:
            raise _Refused(422, f"Invalid customs declaration: {customs_problem}.")
        return self.sandbox.create_shipment(key=key, body=body)

    def _post_cancel(self, body: dict[str, Any], shipment_id: str) -> tuple[int, dict[str, Any]]:
        return self.sandbox.cancel(shipment_id)

    def _post_return_label(
        self, body: dict[str, Any], shipment_id: str
    ) -> tuple[int, dict[str, Any]]:
        key = self._idempotency_key(body)
        return self.sandbox.create_return(original_id=shipment_id, key=key, body=body)

    def _post_inbound(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        key = self._idempotency_key(body)
        lines = body.get("lines")
        if not body.get("warehouse") or not isinstance(lines, list) or not lines:
            raise _Refused(422, "Invalid inbound shipment: warehouse and lines are required.")
        for line in lines:
            if not isinstance(line, dict) or not line.get("sku"):
                raise _Refused(422, "Invalid inbound shipment: every line needs a sku.")
            quantity = line.get("quantity")
            if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 1:
                raise _Refused(422, f"Invalid inbound shipment: bad quantity for {line['sku']}.")
        return self.sandbox.create_inbound(key=key, body=body)

    def _post_inbound_cancel(
        self, body: dict[str, Any], inbound_id: str
    ) -> tuple[int, dict[str, Any]]:
        return self.sandbox.cancel_inbound(inbound_id)

    def do_PUT(self) -> None:
        parts = _segments(urlsplit(self.path).path)
        body = self._body()
        if parts != ["_sandbox", "stock"] or body is None:
            return self._send(404, {"detail": "Not found."})
        self.sandbox.stock_set(
            warehouse=str(body.get("warehouse", "")),
            levels={str(item["sku"]): int(item["on_hand"]) for item in body.get("items") or []},
        )
        return self._send(200, {"status": "ok"})


class _Refused(Exception):  # noqa: N818 - a refusal, not an error of the sandbox
    """An API request refused before any work was done (no injected "after" fault)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def _segments(path: str) -> list[str]:
    return [part for part in path.split("/") if part]


def _route(
    routes: tuple[tuple[tuple[str, ...], str], ...], parts: list[str]
) -> tuple[str, list[str]] | None:
    """The handler name of the first route matching `parts`, and the "*" segments."""
    for pattern, handler in routes:
        if len(pattern) == len(parts) and all(
            want in ("*", part) for want, part in zip(pattern, parts, strict=True)
        ):
            return handler, [part for want, part in zip(pattern, parts, strict=True) if want == "*"]
    return None


def _customs_problem(body: dict[str, Any]) -> str:
    """What a customs broker would refuse in the declaration sent with a shipment, if any."""
    customs = body.get("customs")
    if customs is None:
        return ""
    if not isinstance(customs, dict) or not customs.get("items"):
        return "no items"
    if customs.get("incoterm") not in ("DAP", "DDP"):
        return "incoterm must be DAP or DDP"
    for item in customs["items"]:
        for name in ("hs_code", "origin_country", "unit_value", "quantity"):
            if not item.get(name):
                return f"{item.get('sku', '?')} has no {name}"
    return ""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128


def make_server(config: SandboxConfig) -> tuple[ThreadingHTTPServer, Sandbox]:
    """A bound server and its sandbox; stop with server.shutdown() then sandbox.stop().

    Raises StateInUse when another sandbox holds the state file.
    """
    sandbox = Sandbox(config)
    handler = type("BoundSandboxHandler", (SandboxHandler,), {"sandbox": sandbox})
    try:
        server = _Server((config.host, config.port), handler)
    except OSError:
        sandbox.stop()
        raise
    if not config.port:
        # Port 0: the links the sandbox hands out name the port it really got.
        config.port = server.server_address[1]
    return server, sandbox
