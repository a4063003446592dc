"""The LSP sandbox service.

It keeps its state in memory (like a real LSP, it is not Consign's database), speaks
the generic HTTP/JSON contract of logistics.adapters.generic_http, advances every
shipment through tracking steps on a clock, pushes Standard-Webhooks-signed events
to Consign, and injects faults on request. See docs/logistics.md.
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
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from logistics import webhook_signing
from logistics.sandbox.pdf import label_pdf

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
    consign_url: str = "http://127.0.0.1:8000"
    provider_code: str = "sandbox"
    webhook_secret: str = ""
    api_token: str = ""
    webhooks: bool = True
    seed: int | None = None
    public_url: str = ""

    @property
    def webhook_url(self) -> str:
        return f"{self.consign_url.rstrip('/')}/webhooks/lsp/{self.provider_code}/"


@dataclass
class SandboxShipment:
    id: str
    reference: str
    tracking_number: str
    request: dict[str, Any]
    created_at: float
    response: dict[str, Any] = field(default_factory=dict)
    status: str = "INFO_RECEIVED"
    events: list[dict[str, Any]] = field(default_factory=list)
    plan: list[str] = field(default_factory=list)
    cancelled: bool = False
    create_requests: int = 1
    kind: str = "outbound"

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "reference": self.reference,
            "tracking_number": self.tracking_number,
            "status": self.status,
            "events": len(self.events),
            "create_requests": self.create_requests,
            "plan": self.plan,
            "kind": self.kind,
            "customs": self.request.get("customs"),
        }


class Sandbox:
    """State and clock of the sandbox; the HTTP handler is a thin layer over this."""

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.rng = random.Random(config.seed)  # noqa: S311 - simulation, not crypto
        self.lock = threading.RLock()
        self.shipments: dict[str, SandboxShipment] = {}
        self.by_reference: dict[str, str] = {}
        self.stock: dict[str, dict[str, int]] = {}
        self.counter = itertools.count(1)
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
            ],
            0,
        )
        self.running = True
        self.senders = ThreadPoolExecutor(max_workers=8, thread_name_prefix="sandbox-webhook")
        self.http = httpx.Client(timeout=10.0)
        self.clock = threading.Thread(target=self._run_clock, name="sandbox-clock", daemon=True)
        self.clock.start()

    # --- clock ---------------------------------------------------------------
    def _push(self, due: float, kind: str, payload: Any) -> None:
        with self.lock:
            heapq.heappush(self.heap, (due, next(self.seq), kind, payload))
            self.wakeup.notify()

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
                    self._step(payload, due)
                elif kind == "deliver":
                    self.senders.submit(self._deliver, payload)
            except Exception:
                logger.exception("sandbox clock item failed")

    def stop(self) -> None:
        self.running = False
        with self.lock:
            self.wakeup.notify_all()
        self.senders.shutdown(wait=False, cancel_futures=True)

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

    def create_shipment(self, *, key: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self.lock:
            self.stats["create_requests"] += 1
            existing = self.by_reference.get(key)
            if existing is not None:
                shipment = self.shipments[existing]
                shipment.create_requests += 1
                self.stats["replayed"] += 1
                return 200, shipment.response
            number = next(self.counter)
            shipment_id = f"sbx_{number:08d}"
            tracking = f"SBX{number:010d}"
            shipment = SandboxShipment(
                id=shipment_id,
                reference=str(body.get("reference") or key),
                tracking_number=tracking,
                request=body,
                created_at=time.time(),
                plan=self._plan(),
            )
            base = self.config.public_url or f"http://{self.config.host}:{self.config.port}"
            weight = sum(int(line.get("weight_grams") or 0) for line in body.get("lines") or [])
            shipment.response = {
                "id": shipment_id,
                "reference": shipment.reference,
                "tracking_number": tracking,
                "status": "INFO_RECEIVED",
                "label_url": f"{base}/v1/shipments/{shipment_id}/label.pdf",
                "tracking_url": f"{base}/track/{tracking}",
                "cost": {"amount": f"{4.95 + weight / 1000:.2f}", "currency": "EUR"},
            }
            self.shipments[shipment_id] = shipment
            self.by_reference[key] = shipment_id
            warehouse = (body.get("ship_from") or {}).get("warehouse", "")
            levels = self.stock.get(warehouse)
            if levels is not None:
                for line in body.get("lines") or []:
                    if line.get("sku") in levels:
                        levels[line["sku"]] -= int(line.get("quantity") or 0)
            self.stats["created"] += 1
        due = shipment.created_at
        for index in range(len(shipment.plan)):
            self._push(due, "step", (shipment_id, index))
            due += self.config.step_seconds * self.rng.uniform(0.75, 1.25)
        return 201, shipment.response

    def create_return(self, *, original_id: str, key: str, body: dict[str, Any]):
        """A return label for a shipment: a new, tracked return shipment back to the sender.

        Idempotent on `key`; the return always reaches the warehouse (no random faults).
        """
        with self.lock:
            original = self.shipments.get(original_id)
            if original is None:
                return 404, {"detail": "No such shipment."}
            if original.kind != "outbound" or original.cancelled:
                return 422, {"detail": "Only a shipped outbound shipment can be returned."}
            existing = self.by_reference.get(f"return:{key}")
            if existing is not None:
                self.stats["replayed"] += 1
                return 200, self.shipments[existing].response
            number = next(self.counter)
            shipment_id = f"sbr_{number:08d}"
            tracking = f"RSBX{number:010d}"
            to = original.request.get("ship_from") or {}
            frm = original.request.get("ship_to") or {}
            shipment = SandboxShipment(
                id=shipment_id,
                reference=f"return:{key}",
                tracking_number=tracking,
                request={
                    "order_number": original.request.get("order_number", ""),
                    "ship_to": {"name": to.get("warehouse", ""), **to},
                    "ship_from": frm,
                    "lines": body.get("items") or [],
                    "return_of": original.id,
                },
                created_at=time.time(),
                plan=["INFO_RECEIVED", "IN_TRANSIT", "OUT_FOR_DELIVERY", "DELIVERED"],
                kind="return",
            )
            base = self.config.public_url or f"http://{self.config.host}:{self.config.port}"
            shipment.response = {
                "id": shipment_id,
                "reference": shipment.reference,
                "tracking_number": tracking,
                "status": "INFO_RECEIVED",
                "label_url": f"{base}/v1/shipments/{shipment_id}/label.pdf",
                "tracking_url": f"{base}/track/{tracking}",
                "return_of": original.id,
            }
            self.shipments[shipment_id] = shipment
            self.by_reference[f"return:{key}"] = shipment_id
            self.stats["created"] += 1
        due = shipment.created_at
        for index in range(len(shipment.plan)):
            self._push(due, "step", (shipment_id, index))
            due += self.config.step_seconds * self.rng.uniform(0.75, 1.25)
        return 201, shipment.response

    def _step(self, payload: tuple[str, int], due: float) -> None:
        shipment_id, index = payload
        with self.lock:
            shipment = self.shipments.get(shipment_id)
            if shipment is None or shipment.cancelled:
                return
            status = shipment.plan[index]
            event = {
                "id": f"evt_{shipment_id}_{index}",
                "status": status,
                "occurred_at": dt.datetime.fromtimestamp(due, tz=dt.UTC).isoformat(),
                "description": status.replace("_", " ").capitalize(),
                "location": (shipment.request.get("ship_to") or {}).get("city", "")
                if status in ("OUT_FOR_DELIVERY", "DELIVERED", "DELIVERY_FAILED")
                else "Sandbox hub",
            }
            shipment.events.append(event)
            shipment.status = status
        self._emit(shipment, event)

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

    def _emit(self, shipment: SandboxShipment, event: dict[str, Any]) -> None:
        c = self.config
        if not c.webhooks:
            return
        with self.lock:
            if self.rng.random() < c.drop_webhook_rate:
                self.stats["webhooks_dropped"] += 1
                return
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
        self._push(now + delay, "deliver", {"id": msg_id, "body": body, "attempt": 0})
        if duplicate:
            with self.lock:
                self.stats["webhooks_duplicated"] += 1
            # Either the same delivery again (same webhook-id), or the same event in a
            # new delivery (new webhook-id): Consign must see both as nothing new.
            again_id = msg_id if same_id else f"msg_{uuid.uuid4().hex}"
            again = body if same_id else self._message(shipment, event)
            extra = self.rng.uniform(0.05, max(c.step_seconds, 0.1))
            self._push(
                now + delay + extra, "deliver", {"id": again_id, "body": again, "attempt": 0}
            )

    def _deliver(self, delivery: dict[str, Any]) -> None:
        headers = webhook_signing.sign_headers(
            secret=self.config.webhook_secret, body=delivery["body"], msg_id=delivery["id"]
        )
        try:
            response = self.http.post(
                self.config.webhook_url, content=delivery["body"], headers=headers
            )
            ok = 200 <= response.status_code < 300
        except httpx.HTTPError:
            ok = False
        with self.lock:
            self.stats["webhooks_sent" if ok else "webhooks_failed"] += 1
        if not ok and delivery["attempt"] < 10:
            delivery = {**delivery, "attempt": delivery["attempt"] + 1}
            self._push(time.time() + min(0.5 * 2 ** delivery["attempt"], 30), "deliver", delivery)

    def cancel(self, shipment_id: str) -> tuple[int, dict[str, Any]]:
        with self.lock:
            shipment = self.shipments.get(shipment_id)
            if shipment is None:
                return 404, {"detail": "No such shipment."}
            if shipment.status not in ("INFO_RECEIVED", "CANCELLED"):
                return 409, {"detail": f"Too late to cancel: shipment is {shipment.status}."}
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
        self._emit(shipment, event)
        return 200, shipment.summary()

    def tracking(self, shipment_id: str) -> tuple[int, dict[str, Any]]:
        with self.lock:
            shipment = self.shipments.get(shipment_id)
            if shipment is None:
                return 404, {"detail": "No such shipment."}
            return 200, {
                "shipment_id": shipment.id,
                "reference": shipment.reference,
                "tracking_number": shipment.tracking_number,
                "status": shipment.status,
                "events": list(shipment.events),
            }

    def reset(self) -> None:
        with self.lock:
            self.shipments.clear()
            self.by_reference.clear()
            self.stock.clear()
            self.heap.clear()
            for key in self.stats:
                self.stats[key] = 0


class SandboxHandler(BaseHTTPRequestHandler):
    sandbox: Sandbox  # set on the subclass built by make_server
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # noqa: A002 - BaseHTTPRequestHandler's signature
        logger.debug("%s %s", self.address_string(), format % args)

    # --- plumbing ------------------------------------------------------------
    def _send(self, status: int, payload: Any, content_type: str = "application/json") -> None:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
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

    # --- routes --------------------------------------------------------------
    def do_GET(self):
        url = urlsplit(self.path)
        parts = [p for p in url.path.split("/") if p]
        sandbox = self.sandbox
        if not parts or parts == ["health"]:
            return self._send(200, {"status": "ok", "service": "consign-lsp-sandbox"})
        if parts == ["_sandbox", "shipments"]:
            reference = parse_qs(url.query).get("reference", [""])[0]
            with sandbox.lock:
                items = [
                    s.summary()
                    for s in sandbox.shipments.values()
                    if not reference or s.reference == reference
                ]
            return self._send(200, {"count": len(items), "shipments": items})
        if parts == ["_sandbox", "stats"]:
            with sandbox.lock:
                return self._send(200, {**sandbox.stats, "shipments": len(sandbox.shipments)})
        if len(parts) == 2 and parts[0] == "track":
            with sandbox.lock:
                found = next(
                    (s for s in sandbox.shipments.values() if s.tracking_number == parts[1]), None
                )
            if found is None:
                return self._send(404, {"detail": "Unknown tracking number."})
            return self._send(200, sandbox.tracking(found.id)[1])
        if parts[:1] != ["v1"]:
            return self._send(404, {"detail": "Not found."})
        if len(parts) == 4 and parts[1] == "shipments" and parts[3] == "label.pdf":
            with sandbox.lock:
                shipment = sandbox.shipments.get(parts[2])
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
        if not self._authorised():
            return self._send(401, {"detail": "Missing or wrong API token."})
        fault = self._api_fault()
        if fault:
            return self._send(503, {"detail": "Injected fault: service unavailable."})
        if len(parts) == 4 and parts[1] == "shipments" and parts[3] == "tracking":
            return self._send(*sandbox.tracking(parts[2]))
        if len(parts) == 3 and parts[1] == "shipments":
            with sandbox.lock:
                shipment = sandbox.shipments.get(parts[2])
                data = {**shipment.response, **shipment.summary()} if shipment else None
            return (
                self._send(200, data) if data else self._send(404, {"detail": "No such shipment."})
            )
        if parts == ["v1", "stock"]:
            warehouse = parse_qs(url.query).get("warehouse", [""])[0]
            with sandbox.lock:
                levels = dict(sandbox.stock.get(warehouse, {}))
            items = [{"sku": sku, "on_hand": qty} for sku, qty in sorted(levels.items())]
            return self._send(200, {"warehouse": warehouse, "items": items})
        return self._send(404, {"detail": "Not found."})

    def do_POST(self):
        parts = [p for p in urlsplit(self.path).path.split("/") if p]
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
        if parts == ["v1", "shipments"]:
            key = self.headers.get("Idempotency-Key") or str(body.get("reference") or "")
            if not key:
                return self._send(422, {"detail": "An Idempotency-Key header is required."})
            missing = [
                name
                for name in ("country", "line1", "city")
                if not (body.get("ship_to") or {}).get(name)
            ]
            if missing or not body.get("lines"):
                detail = f"ship_to is missing {', '.join(missing)}" if missing else "no lines"
                return self._send(422, {"detail": f"Invalid shipment: {detail}."})
            customs_problem = _customs_problem(body)
            if customs_problem:
                return self._send(
                    422, {"detail": f"Invalid customs declaration: {customs_problem}."}
                )
            status, data = sandbox.create_shipment(key=key, body=body)
        elif len(parts) == 4 and parts[1] == "shipments" and parts[3] == "cancel":
            status, data = sandbox.cancel(parts[2])
        elif len(parts) == 4 and parts[1] == "shipments" and parts[3] == "return-label":
            key = self.headers.get("Idempotency-Key") or str(body.get("reference") or "")
            if not key:
                return self._send(422, {"detail": "An Idempotency-Key header is required."})
            status, data = sandbox.create_return(original_id=parts[2], key=key, body=body)
        else:
            return self._send(404, {"detail": "Not found."})
        if fault == "after":
            # The work is done but the answer is lost: the client must retry with the
            # same idempotency key and get the same shipment back.
            with sandbox.lock:
                sandbox.stats["faults_after"] += 1
            return self._send(500, {"detail": "Injected fault: internal error."})
        return self._send(status, data)

    def do_PUT(self):
        parts = [p for p in urlsplit(self.path).path.split("/") if p]
        body = self._body()
        if parts != ["_sandbox", "stock"] or body is None:
            return self._send(404, {"detail": "Not found."})
        with self.sandbox.lock:
            self.sandbox.stock[str(body.get("warehouse", ""))] = {
                str(item["sku"]): int(item["on_hand"]) for item in body.get("items") or []
            }
        return self._send(200, {"status": "ok"})


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
    sandbox = Sandbox(config)
    handler = type("BoundSandboxHandler", (SandboxHandler,), {"sandbox": sandbox})
    server = _Server((config.host, config.port), handler)
    return server, sandbox
