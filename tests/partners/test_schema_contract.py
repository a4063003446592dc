"""The published schema against what partners build from it (issue 16, partner API).

Partners generate clients from /api/schema/ and validate our answers with strict
OpenAPI tools. So, from the schema the server serves:
- openapi-python-client generates a client with the configuration docs/api.md
  gives partners, without a single warning (a warning is a part of the API the
  client silently lacks), and that client reads a PDF and a null return label;
- every operation's real answers, problems included, validate with openapi-core,
  and so do the requests that produced them (a deliberately bad request must not).
The operations come from the schema: a new one without a case here fails.
"""

from __future__ import annotations

import datetime as dt
import importlib
import json
import re
from dataclasses import dataclass, field
from urllib.parse import urlencode

import pytest
from django.db import transaction
from django.test import Client
from django.utils import timezone
from openapi_core import Config, OpenAPI
from openapi_core.testing import MockRequest, MockResponse

from inventory.models import InboundShipment
from inventory.services.receiving import inbound_receive as receiving_inbound_receive
from logistics.models import PartnerWebhookDelivery, Shipment
from logistics.services.partner_events import partner_event_publish
from orders.services.shipment_planning import shipments_plan_for_order
from returns.models import ReturnRequest
from returns.services import return_label_issue
from tests.fixtures.generated_client import HOST, PACKAGE, DjangoTransport
from tests.logistics.helpers import allocated_order
from tests.returns.helpers import FakeReturnAdapter, delivered_order

# What docs/api.md tells partners who validate with openapi-core: it parses JSON bodies
# by their media type and does not know RFC 9457's application/problem+json.
OPENAPI_CORE_CONFIG = Config(
    extra_media_type_deserializers={"application/problem+json": json.loads}
)
METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")


def test_client_generates_from_the_schema_without_warnings(generated):
    _, returncode, output = generated
    assert returncode == 0, output
    noise = [
        line for line in output.splitlines() if line.strip() and not line.startswith("Generating ")
    ]
    assert noise == [], output


@pytest.mark.django_db
def test_generated_client_reads_a_pdf_and_a_null_return_label(client_package, api_key, api_channel):
    types = importlib.import_module(f"{PACKAGE}.types")
    models = importlib.import_module(f"{PACKAGE}.models")
    order = delivered_order(channel=api_channel)
    shipment = Shipment.objects.filter(order=order).first()
    client = client_package.AuthenticatedClient(
        base_url=HOST,
        token=api_key[1],
        raise_on_unexpected_status=True,
        httpx_args={"transport": DjangoTransport()},
    )
    kind = models.OrdersShipmentDocumentKind.PACKING_SLIP
    document = importlib.import_module(f"{PACKAGE}.api.v1.orders_shipment_document")
    response = document.sync_detailed(order.number, shipment.pk, kind, client=client)
    assert response.status_code == 200
    assert isinstance(response.parsed, types.File)
    assert response.parsed.payload.read().startswith(b"%PDF")

    create = importlib.import_module(f"{PACKAGE}.api.v1.orders_returns_create")
    body = models.OrdersReturnsCreateBody.from_dict(
        {"lines": [{"line_number": 1, "quantity": 1, "reason": "size_fit"}]}
    )
    created = create.sync(order.number, client=client, body=body)
    assert isinstance(created, models.Return)
    assert created.label is None
    listed = importlib.import_module(f"{PACKAGE}.api.v1.orders_returns_list")
    (only,) = listed.sync(order.number, client=client)
    assert only.number == created.number
    assert only.label is None


# --- every operation, validated with openapi-core ---------------------------------------


@dataclass
class Exchange:
    operation: str
    status: int
    response: object


@dataclass
class Recorder:
    """Sends requests through Django, validates each request and answer with openapi-core."""

    openapi: OpenAPI
    operations: dict[tuple[str, str], str]
    key: str
    seen: list[Exchange] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def __call__(
        self,
        method: str,
        path: str,
        expect: int,
        *,
        query: list[tuple[str, str]] | None = None,
        body: object = None,
        raw: bytes | None = None,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
        auth: bool = True,
        valid_request: bool = True,
    ):
        headers = dict(headers or {})
        if auth:
            headers["Authorization"] = f"Bearer {self.key}"
        if raw is None:
            raw = b"" if body is None else json.dumps(body).encode()
        url = path + (f"?{urlencode(query)}" if query else "")
        response = Client().generic(
            method, url, raw, content_type=content_type if raw else "", headers=headers
        )
        label = f"{method} {url} -> {response.status_code}"
        if response.status_code != expect:
            self.failures.append(f"{label}: expected {expect}: {response.content[:300]!r}")
        request = MockRequest(
            HOST,
            method.lower(),
            path,
            args=query or [],  # pairs: a parameter may repeat (?sku=A&sku=B)
            headers=headers,
            data=raw or None,
            content_type=content_type,
        )
        try:
            self.openapi.validate_request(request)
        except Exception as exc:
            if valid_request:
                self.failures.append(f"{label}: request refused by the schema: {exc!r}")
        else:
            if not valid_request:
                self.failures.append(f"{label}: a bad request passed the schema")
        try:
            self.openapi.validate_response(
                request,
                MockResponse(
                    response.content,
                    status_code=response.status_code,
                    headers=dict(response.items()),
                    content_type=response.get("Content-Type", ""),
                ),
            )
        except Exception as exc:
            details = getattr(exc, "__cause__", None)
            self.failures.append(f"{label}: answer refused by the schema: {exc!r} {details!r}")
        operation = self._operation(method, path)
        self.seen.append(Exchange(operation, response.status_code, response))
        return response

    def _operation(self, method: str, path: str) -> str:
        for (verb, template), operation_id in self.operations.items():
            if verb != method.lower():
                continue
            pattern = "[^/]+".join(re.escape(part) for part in re.split(r"\{[^}]+\}", template))
            if re.fullmatch(pattern, path):
                return operation_id
        return "?"


def _operations(schema: dict) -> dict[tuple[str, str], str]:
    return {
        (method, path): operation["operationId"]
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    }


@pytest.mark.django_db
def test_every_operation_answers_as_the_schema_says(
    published_schema, api_key, api_channel, api_world, order_payload
):
    openapi = OpenAPI.from_dict(published_schema, config=OPENAPI_CORE_CONFIG)
    call = Recorder(openapi=openapi, operations=_operations(published_schema), key=api_key[1])
    api_channel.return_window_days = 14
    api_channel.save(update_fields=["return_window_days"])
    delivered = delivered_order(channel=api_channel)
    shipment = Shipment.objects.filter(order=delivered).first()
    late = delivered_order(channel=api_channel, delivered_at=timezone.now() - dt.timedelta(days=20))
    open_order = allocated_order(channel=api_channel)
    with transaction.atomic():
        shipments_plan_for_order(order=open_order, actor="test")
    unknown = "/api/v1/orders/CS-999999/"
    orders = "/api/v1/orders/"
    detail = f"{orders}{delivered.number}/"

    # Stock.
    call("GET", "/api/v1/inventory/", 200, query=[("sku", "API-MUG"), ("sku", "NOPE")])
    call(
        "GET",
        "/api/v1/inventory/",
        400,
        query=[("sku", f"S{i}") for i in range(101)],
        valid_request=False,
    )
    feed = call("GET", "/api/v1/inventory/", 200, query=[("page_size", "1")])
    call(
        "GET",
        "/api/v1/inventory/",
        200,
        query=[
            ("by_warehouse", "1"),
            ("updated_after", feed.json()["changes_cursor"]),
            ("cursor", feed.json()["next_cursor"]),
        ],
    )
    call("GET", "/api/v1/inventory/", 400, query=[("cursor", "nope")])
    call(
        "GET",
        "/api/v1/inventory/",
        401,
        query=[("sku", "API-MUG")],
        auth=False,
        valid_request=False,
    )
    call(
        "GET",
        "/api/v1/inventory/",
        406,
        query=[("sku", "API-MUG")],
        headers={"Accept": "text/html"},
    )

    # Orders: create, replay, refusals.
    created = call("POST", orders, 201, body=order_payload, headers={"Idempotency-Key": "k-1"})
    replayed = call("POST", orders, 201, body=order_payload, headers={"Idempotency-Key": "k-1"})
    number = created.json()["number"]
    for answer in (created, replayed):
        assert answer["Location"] == f"/api/v1/orders/{number}/"
    assert replayed["Idempotent-Replayed"] == "true"
    call("POST", orders, 409, body=order_payload)
    reused = {**order_payload, "external_reference": "SHOP-1"}
    call("POST", orders, 422, body=reused, headers={"Idempotency-Key": "k-1"})
    invalid = {**order_payload, "external_reference": "SHOP-2", "lines": []}
    call("POST", orders, 422, body=invalid, valid_request=False)
    call("POST", orders, 400, raw=b'{"lines": [', valid_request=False)
    call(
        "POST",
        orders,
        415,
        raw=b"a=b",
        content_type="application/x-www-form-urlencoded",
        valid_request=False,
    )
    call("POST", orders, 413, raw=b'{"x": "' + b"a" * (1024 * 1024) + b'"}', valid_request=False)
    call("POST", orders, 401, body=order_payload, auth=False, valid_request=False)

    # Batch intake: one created, one refused (duplicate), a replay; a whole-request refusal.
    batch = "/api/v1/orders/batch"
    fresh = {**order_payload, "external_reference": "SHOP-BATCH-1"}
    body = {"orders": [fresh, order_payload]}
    first = call("POST", batch, 200, body=body, headers={"Idempotency-Key": "b-1"})
    assert [r["status"] for r in first.json()["results"]] == [201, 409]
    again = call("POST", batch, 200, body=body, headers={"Idempotency-Key": "b-1"})
    assert again.content == first.content
    call("POST", batch, 422, body={"orders": []}, valid_request=False)
    call("POST", batch, 401, body=body, auth=False, valid_request=False)

    # Orders: read, list, shipments, documents, cancel.
    call("GET", detail, 200)
    call("GET", unknown, 404)
    call("GET", orders, 200, query=[("status", "delivered"), ("ordering", "-updated_at")])
    call("GET", orders, 400, query=[("ordering", "sideways")], valid_request=False)
    call("GET", orders, 400, query=[("created_after", "2026-13-45T99:00:00Z")], valid_request=False)
    call("GET", f"{detail}shipments/", 200)
    call("GET", f"{unknown}shipments/", 404)
    documents = f"{detail}shipments/{shipment.pk}/documents/"
    call("GET", f"{documents}packing-slip.pdf", 200)
    call("GET", f"{documents}commercial-invoice.pdf", 404)  # domestic: no customs
    # Orders: edit before dispatch (then the open order is cancelled below).
    edit = {"customer": {"email": "ada@example.org", "name": "Ada King"}}
    open_detail = f"{orders}{open_order.number}/"
    edited = call("PATCH", open_detail, 200, body=edit, headers={"Idempotency-Key": "e-1"})
    assert (
        call("PATCH", open_detail, 200, body=edit, headers={"Idempotency-Key": "e-1"})[
            "Idempotent-Replayed"
        ]
        == "true"
    )
    assert edited.json()["customer"]["name"] == "Ada King"
    call("PATCH", open_detail, 422, body={"lines": []}, valid_request=False)
    call("PATCH", open_detail, 422, body={"lines": [{"sku": "NOPE", "quantity": 1}]})
    call("PATCH", detail, 409, body=edit)
    call("PATCH", unknown, 404, body=edit)
    call("POST", f"{orders}{open_order.number}/cancel/", 200, body={"reason": "test"})
    call("POST", f"{detail}cancel/", 409, body={})
    call("POST", f"{unknown}cancel/", 404, body={})

    # Returns: created with a null label, one label issued later, refusals.
    returns = f"{detail}returns/"
    line = {"line_number": 1, "quantity": 1, "reason": "size_fit"}
    first = call("POST", returns, 201, body={"lines": [line]})
    assert first.json()["label"] is None
    call("POST", returns, 201, body={"lines": [{**line, "line_number": 2}]})
    call("GET", returns, 200)  # both labels null
    return_label_issue(
        return_id=ReturnRequest.objects.filter(order=delivered).earliest("pk").pk,
        adapter=FakeReturnAdapter(),
    )
    listed = call("GET", returns, 200)
    assert sorted(r["label"] is None for r in listed.json()) == [False, True]
    closed = call("POST", f"{orders}{late.number}/returns/", 422, body={"lines": [line]})
    assert closed.json()["code"] == "return_window_closed"
    assert closed.json()["window_closed_at"]
    call("POST", returns, 422, body={"lines": [{**line, "line_number": 9}]})
    call("POST", returns, 422, body={"lines": []}, valid_request=False)
    call("GET", f"{unknown}returns/", 404)
    call("POST", f"{unknown}returns/", 404, body={"lines": [line]})

    # Inbound shipments (ASNs): create, replay, list, read, cancel, refusals.
    from tests.inventory.factories import WarehouseFactory

    WarehouseFactory(code="asn-own")
    inbound = "/api/v1/inbound-shipments/"
    asn_body = {
        "reference": "PO-1",
        "warehouse": "asn-own",
        "expected_at": "2026-03-10T09:00:00Z",
        "lines": [{"sku": "API-MUG", "quantity": 5}],
    }
    asn_number = call(
        "POST", inbound, 201, body=asn_body, headers={"Idempotency-Key": "asn-1"}
    ).json()["number"]
    call("POST", inbound, 409, body=asn_body)
    call("POST", inbound, 422, body={**asn_body, "reference": "PO-2", "warehouse": "nowhere"})
    call("POST", inbound, 422, body={**asn_body, "lines": []}, valid_request=False)
    call("GET", inbound, 200, query=[("status", "sent"), ("warehouse", "asn-own")])
    call("GET", inbound, 400, query=[("status", "closed")], valid_request=False)
    call("GET", f"{inbound}{asn_number}/", 200)
    call("GET", f"{inbound}ASN-999999/", 404)
    call("POST", f"{inbound}{asn_number}/cancel/", 200, body={})
    call("POST", f"{inbound}ASN-999999/cancel/", 404, body={})
    received = call("POST", inbound, 201, body={**asn_body, "reference": "PO-3"}).json()
    receiving_inbound_receive(
        inbound=InboundShipment.objects.get(number=received["number"]), code="API-MUG"
    )
    call("POST", f"{inbound}{received['number']}/cancel/", 409, body={})

    # Webhook endpoints: create (the secret once), read, list, change, rotate, log, retry.
    hooks = "/api/v1/webhook-endpoints/"
    subscribe = {"url": "http://127.0.0.1:9/hooks", "topics": ["order.shipped"]}
    hook = call("POST", hooks, 201, body=subscribe, headers={"Idempotency-Key": "wh-1"})
    assert hook.json()["secret"].startswith("whsec_")
    hook_url = f"{hooks}{hook.json()['id']}/"
    gone = f"{hooks}999999/"
    call("POST", hooks, 422, body={**subscribe, "topics": ["nope"]}, valid_request=False)
    call("GET", hooks, 200)
    call("GET", hooks, 400, query=[("page_size", "0")], valid_request=False)
    call("GET", hook_url, 200)
    call("GET", gone, 404)
    call("PATCH", hook_url, 200, body={"description": "Shop backend"})
    call("PATCH", hook_url, 422, body={"topics": []}, valid_request=False)
    call("POST", f"{hook_url}rotate-secret", 200)
    call("POST", f"{gone}rotate-secret", 404)
    partner_event_publish(channel_id=api_channel.pk, topic="order.shipped", data={"n": 1})
    sent = PartnerWebhookDelivery.objects.filter(endpoint_id=hook.json()["id"]).latest("pk")
    call("GET", f"{hook_url}deliveries/", 200, query=[("topic", "order.shipped")])
    call("GET", f"{gone}deliveries/", 404)
    call("POST", f"{hook_url}deliveries/{sent.pk}/retry", 409)  # still pending
    PartnerWebhookDelivery.objects.filter(pk=sent.pk).update(status="failed")
    call("POST", f"{hook_url}deliveries/{sent.pk}/retry", 202)
    call("DELETE", hook_url, 204)
    call("DELETE", hook_url, 404)
    # Catalogue (issue 18): shared reads, writes for a channel with catalogue_write.
    products = "/api/v1/products/"
    call("PUT", f"{products}CAT-1/", 403, body={"name": "Cat"})
    api_channel.catalogue_write = True
    api_channel.save(update_fields=["catalogue_write"])
    product = {"name": "Cat", "barcodes": ["8712345678906"], "customs_value": "6.50"}
    product["customs_currency"] = "EUR"
    call(
        "PUT", f"{products}CAT-1/", 201, body=product, headers={"Idempotency-Key": "catalogue-p-1"}
    )
    call("PUT", f"{products}CAT-1/", 200, body={"weight_grams": 180})
    call("PUT", f"{products}CAT-2/", 422, body={"name": "Thief", "barcodes": ["8712345678906"]})
    call("PUT", f"{products}CAT-3/", 422, body={"weight_grams": -1}, valid_request=False)
    call("GET", f"{products}CAT-1/", 200)
    call("GET", f"{products}NOPE-1/", 404)
    page = call("GET", products, 200, query=[("page_size", "1")])
    call("GET", products, 200, query=[("cursor", page.json()["next_cursor"])])
    call("GET", products, 200, query=[("updated_after", "2026-01-01T00:00:00Z")])
    call("GET", products, 400, query=[("cursor", "nonsense")])
    products_batch = {"products": [{"sku": "CAT-4", "name": "Four"}, {"sku": "CAT-5"}]}
    answered = call(
        "POST",
        f"{products}batch",
        200,
        body=products_batch,
        headers={"Idempotency-Key": "catalogue-b-1"},
    )
    assert [r["status"] for r in answered.json()["results"]] == [201, 422]
    call("POST", f"{products}batch", 422, body={"products": []}, valid_request=False)

    assert not call.failures, "\n".join(call.failures)
    # Every operation of the schema had an answer that worked and one that was a problem.
    statuses: dict[str, set[int]] = {op: set() for op in call.operations.values()}
    for exchange in call.seen:
        statuses.setdefault(exchange.operation, set()).add(exchange.status)
    uncovered = {
        op: sorted(found)
        for op, found in statuses.items()
        if not (any(s < 300 for s in found) and any(s >= 400 for s in found))
    }
    assert uncovered == {}
