"""A fake WooCommerce shop: the REST API v3 endpoints the connector uses, nothing more.

Documented endpoints and payloads only (woocommerce.github.io/woocommerce-rest-api-docs):
`GET /wp-json/wc/v3/orders` (`status`, `modified_after` with `dates_are_gmt`,
`orderby=modified|id|date`, `order`, `per_page` ≤ 100, `page`; `X-WP-Total` and
`X-WP-TotalPages` headers), `GET|PUT /orders/{id}`, `GET|POST /orders/{id}/notes`,
`GET /products` (`sku`, comma-separated), `PUT /products/{id}`, `POST /products/batch`
(`update`). HTTP Basic authentication with the consumer key and secret; errors in
WooCommerce's shape `{"code", "message", "data": {"status"}}`.

Fault switches: `fail_next(n, status)` (5xx burst, or 429 with `retry_after`),
`slow_next(n, seconds)`, `drop_next(method, path)` (do the work, then close the
connection without an answer: the answer is lost). `requests` records every call.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import itertools
import json
import math
import threading
import time
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

PREFIX = "/wp-json/wc/v3"


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).replace(tzinfo=None).strftime("%Y-%m-%dT%H:%M:%S")


class _Encoder(json.JSONEncoder):
    def default(self, o: Any) -> Any:
        if isinstance(o, Decimal):
            return str(o)
        return super().default(o)


class FakeWooCommerce:
    def __init__(self, *, consumer_key: str, consumer_secret: str) -> None:
        self.consumer_key = consumer_key
        self.consumer_secret = consumer_secret
        self.orders: dict[int, dict[str, Any]] = {}
        self.notes: dict[int, list[dict[str, Any]]] = {}
        self.products: dict[int, dict[str, Any]] = {}
        self.requests: list[dict[str, Any]] = []
        self._ids = itertools.count(1001)
        self._note_ids = itertools.count(501)
        self._product_ids = itertools.count(71)
        # Modification times move one second per change, from a day ago: ordering by
        # them is exact and they are inside intake's placed_at window.
        self._clock = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(days=1)
        self._lock = threading.Lock()
        self._faults: list[tuple[str, Any]] = []
        self._drops: list[tuple[str, str]] = []
        self._server: ThreadingHTTPServer | None = None

    # --- test set-up ---------------------------------------------------------------

    @property
    def base_url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def host_port(self) -> str:
        return self.base_url.removeprefix("http://")

    def tick(self) -> str:
        self._clock += dt.timedelta(seconds=1)
        return _iso(self._clock)

    def order_add(self, *, sku: str = "WOO-TEE", quantity: int = 1, **overrides: Any) -> dict:
        with self._lock:
            order_id = next(self._ids)
            now = self.tick()
            order = {
                "id": order_id,
                "parent_id": 0,
                "number": str(order_id),
                "order_key": f"wc_order_{order_id}",
                "created_via": "checkout",
                "version": "9.4.0",
                "status": "processing",
                "currency": "EUR",
                "date_created": now,
                "date_created_gmt": now,
                "date_modified": now,
                "date_modified_gmt": now,
                "discount_total": "0.00",
                "shipping_total": "4.95",
                "total": "24.90",
                "total_tax": "0.00",
                "prices_include_tax": False,
                "customer_id": 0,
                "customer_note": "",
                "billing": {
                    "first_name": "Grace",
                    "last_name": "Hopper",
                    "company": "",
                    "address_1": "1 Navy Way",
                    "address_2": "",
                    "city": "Arlington",
                    "state": "VA",
                    "postcode": "22202",
                    "country": "US",
                    "email": "grace@example.com",
                    "phone": "+1 555 0100",
                },
                "shipping": {
                    "first_name": "Grace",
                    "last_name": "Hopper",
                    "company": "",
                    "address_1": "Keizersgracht 1",
                    "address_2": "",
                    "city": "Amsterdam",
                    "state": "",
                    "postcode": "1015 CJ",
                    "country": "NL",
                    "phone": "",
                },
                "payment_method": "bacs",
                "line_items": [
                    {
                        "id": order_id * 10,
                        "name": "Tee",
                        "product_id": 71,
                        "variation_id": 0,
                        "quantity": quantity,
                        "sku": sku,
                        "price": 19.95,
                        "subtotal": str(Decimal("19.95") * quantity),
                        "total": str(Decimal("19.95") * quantity),
                        "total_tax": "0.00",
                    }
                ],
                "shipping_lines": [
                    {
                        "id": order_id * 10 + 1,
                        "method_title": "Flat rate",
                        "method_id": "flat_rate",
                        "instance_id": "1",
                        "total": "4.95",
                    }
                ],
            }
            order.update(overrides)
            self.orders[order_id] = order
            self.notes[order_id] = []
            return order

    def order_touch(self, order_id: int, **changes: Any) -> dict:
        """The shop changes an order (a customer fixed the address, say)."""
        with self._lock:
            order = self.orders[order_id]
            order.update(changes)
            order["date_modified"] = order["date_modified_gmt"] = self.tick()
            return order

    def product_add(self, *, sku: str, stock_quantity: int | None = None) -> dict:
        with self._lock:
            product_id = next(self._product_ids)
            product = {
                "id": product_id,
                "name": sku,
                "sku": sku,
                "type": "simple",
                "status": "publish",
                "manage_stock": stock_quantity is not None,
                "stock_quantity": stock_quantity,
                "stock_status": "instock",
            }
            self.products[product_id] = product
            return product

    def fail_next(
        self, n: int = 1, *, status: int = 500, retry_after: int | None = None, after: int = 0
    ) -> None:
        """Answer the next `n` calls (after `after` good ones) with `status`."""
        with self._lock:
            self._faults.extend([("pass", None)] * after)
            self._faults.extend([("status", (status, retry_after))] * n)

    def faults_clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def slow_next(self, n: int = 1, *, seconds: float = 2.0) -> None:
        with self._lock:
            self._faults.extend([("slow", seconds)] * n)

    def drop_next(self, method: str, path: str) -> None:
        """Do the next `method path` call, then lose its answer (close the connection)."""
        with self._lock:
            self._drops.append((method.upper(), path))

    def calls(self, method: str, path_start: str = "") -> list[dict[str, Any]]:
        return [
            r for r in self.requests if r["method"] == method and r["path"].startswith(path_start)
        ]

    # --- server --------------------------------------------------------------------

    def start(self) -> FakeWooCommerce:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                fake._handle(self, "GET")

            def do_PUT(self) -> None:
                fake._handle(self, "PUT")

            def do_POST(self) -> None:
                fake._handle(self, "POST")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def _authorised(self, handler: BaseHTTPRequestHandler) -> bool:
        header = handler.headers.get("Authorization", "")
        expected = base64.b64encode(f"{self.consumer_key}:{self.consumer_secret}".encode()).decode()
        return header == f"Basic {expected}"

    def _handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(handler.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        path = parts.path.removeprefix(PREFIX)
        with self._lock:
            self.requests.append(
                {
                    "method": method,
                    "path": path,
                    "query": query,
                    "body": raw.decode(),
                    "authorization": handler.headers.get("Authorization", ""),
                }
            )
            fault = self._faults.pop(0) if self._faults else None
            drop = (method, path) in self._drops
            if drop:
                self._drops.remove((method, path))
        if fault and fault[0] == "slow":
            time.sleep(fault[1])
        if fault and fault[0] == "status":
            status, retry_after = fault[1]
            headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
            self._send(handler, status, self._error("internal_server_error", status), headers)
            return
        if not parts.path.startswith(PREFIX + "/"):
            self._send(handler, 404, self._error("rest_no_route", 404))
            return
        if not self._authorised(handler):
            self._send(handler, 401, self._error("woocommerce_rest_cannot_view", 401))
            return
        try:
            body = json.loads(raw or b"null", parse_float=Decimal)
        except ValueError:
            self._send(handler, 400, self._error("rest_invalid_json", 400))
            return
        with self._lock:
            status, payload, headers = self._route(method, path, query, body)
        if drop:
            # The work is done; the answer never arrives.
            handler.close_connection = True
            handler.wfile.flush()
            with contextlib.suppress(OSError):
                handler.connection.shutdown(2)
            return
        self._send(handler, status, payload, headers)

    @staticmethod
    def _error(code: str, status: int) -> dict[str, Any]:
        return {"code": code, "message": code.replace("_", " "), "data": {"status": status}}

    def _send(
        self,
        handler: BaseHTTPRequestHandler,
        status: int,
        payload: Any,
        headers: dict[str, str] | None = None,
    ) -> None:
        data = json.dumps(payload, cls=_Encoder).encode()
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", "application/json; charset=UTF-8")
            handler.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                handler.send_header(name, value)
            handler.end_headers()
            handler.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _route(
        self, method: str, path: str, query: dict[str, str], body: Any
    ) -> tuple[int, Any, dict[str, str]]:
        segments = [s for s in path.split("/") if s]
        if segments == ["orders"] and method == "GET":
            return self._orders_list(query)
        if len(segments) >= 2 and segments[0] == "orders" and segments[1].isdigit():
            order = self.orders.get(int(segments[1]))
            if order is None:
                return 404, self._error("woocommerce_rest_shop_order_invalid_id", 404), {}
            if len(segments) == 2 and method == "GET":
                return 200, order, {}
            if len(segments) == 2 and method == "PUT":
                for key in ("status",):
                    if isinstance(body, dict) and key in body:
                        order[key] = body[key]
                order["date_modified"] = order["date_modified_gmt"] = self.tick()
                return 200, order, {}
            if segments[2:] == ["notes"] and method == "GET":
                return 200, list(reversed(self.notes[order["id"]])), {}
            if segments[2:] == ["notes"] and method == "POST":
                if not isinstance(body, dict) or not body.get("note"):
                    return 400, self._error("rest_missing_callback_param", 400), {}
                now = self.tick()
                note = {
                    "id": next(self._note_ids),
                    "author": "WooCommerce",
                    "date_created": now,
                    "date_created_gmt": now,
                    "note": body["note"],
                    "customer_note": bool(body.get("customer_note")),
                    "added_by_user": False,
                }
                self.notes[order["id"]].append(note)
                return 201, note, {}
        if segments == ["products"] and method == "GET":
            skus = set(filter(None, query.get("sku", "").split(",")))
            found = [p for p in self.products.values() if not skus or p["sku"] in skus]
            return 200, found[: int(query.get("per_page", "10"))], {"X-WP-Total": str(len(found))}
        if len(segments) == 2 and segments[0] == "products" and segments[1].isdigit():
            product = self.products.get(int(segments[1]))
            if product is None:
                return 404, self._error("woocommerce_rest_product_invalid_id", 404), {}
            if method == "PUT" and isinstance(body, dict):
                self._product_update(product, body)
            return 200, product, {}
        if segments == ["products", "batch"] and method == "POST":
            updated = []
            for change in (body or {}).get("update", []):
                product = self.products.get(int(change.get("id", 0)))
                if product is None:
                    updated.append(
                        {
                            "id": change.get("id"),
                            "error": self._error("woocommerce_rest_product_invalid_id", 400),
                        }
                    )
                    continue
                self._product_update(product, change)
                updated.append(product)
            return 200, {"update": updated}, {}
        return 404, self._error("rest_no_route", 404), {}

    @staticmethod
    def _product_update(product: dict[str, Any], change: dict[str, Any]) -> None:
        for key in ("stock_quantity", "manage_stock"):
            if key in change:
                product[key] = change[key]

    def _orders_list(self, query: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        orders = list(self.orders.values())
        statuses = set(filter(None, query.get("status", "any").split(",")))
        if statuses and "any" not in statuses:
            orders = [o for o in orders if o["status"] in statuses]
        if "modified_after" in query:
            # Exclusive, like WordPress's date_query 'after' (gmt fields with dates_are_gmt).
            field = "date_modified_gmt" if query.get("dates_are_gmt") == "true" else "date_modified"
            orders = [o for o in orders if o[field] > query["modified_after"]]
        key = {
            "modified": lambda o: (o["date_modified_gmt"], o["id"]),
            "id": lambda o: (o["id"],),
        }.get(query.get("orderby", "date"), lambda o: (o["date_created_gmt"], o["id"]))
        orders.sort(key=key, reverse=query.get("order", "desc") == "desc")
        per_page = min(100, max(1, int(query.get("per_page", "10"))))
        page = max(1, int(query.get("page", "1")))
        total = len(orders)
        pages = max(1, math.ceil(total / per_page)) if total else 0
        chunk = orders[(page - 1) * per_page : page * per_page]
        return 200, chunk, {"X-WP-Total": str(total), "X-WP-TotalPages": str(pages)}
