"""The LSP sandbox's side of customs and returns, spoken to through the generic adapter."""

from __future__ import annotations

import threading

import httpx
import pytest
from django.db import transaction

from logistics.adapters.base import ProviderRejected
from logistics.adapters.generic_http import GenericHttpAdapter
from logistics.models import Shipment
from logistics.services.dispatch import shipment_dispatch
from orders.services.shipment_planning import shipments_plan_for_order
from sandbox.server import SandboxConfig, make_server
from tests.logistics.helpers import allocated_order, sandbox_provider

pytestmark = pytest.mark.django_db


@pytest.fixture
def sandbox_url():
    server, _ = make_server(SandboxConfig(port=0, webhooks=False, step_seconds=3600))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _dispatched(url: str, country: str) -> Shipment:
    sandbox_provider(base_url=url)
    order = allocated_order(quantities=(1, 2))
    order.shipping_country = country
    order.save(update_fields=["shipping_country"])
    with transaction.atomic():
        shipments_plan_for_order(order=order, actor="test")
    shipment = Shipment.objects.get(order=order)
    assert shipment_dispatch(shipment_id=shipment.pk).outcome == "sent"
    shipment.refresh_from_db()
    return shipment


def _sandbox_shipment(url: str, shipment_id: str) -> dict:
    listed = httpx.get(f"{url}/_sandbox/shipments", timeout=5).json()["shipments"]
    return next(s for s in listed if s["id"] == shipment_id)


def test_the_declaration_reaches_the_sandbox_with_the_dispatch(sandbox_url):
    shipment = _dispatched(sandbox_url, "US")
    customs = _sandbox_shipment(sandbox_url, shipment.provider_reference)["customs"]
    assert customs["destination_country"] == "US"
    assert [item["quantity"] for item in customs["items"]] == [1, 2]
    assert all(item["hs_code"] for item in customs["items"])


def test_a_domestic_dispatch_carries_no_declaration(sandbox_url):
    shipment = _dispatched(sandbox_url, "NL")
    assert _sandbox_shipment(sandbox_url, shipment.provider_reference)["customs"] is None


def test_the_sandbox_refuses_an_incomplete_declaration(sandbox_url):
    body = {
        "reference": "x-1",
        "ship_to": {"country": "US", "line1": "1 Main St", "city": "New York"},
        "lines": [{"sku": "A", "quantity": 1}],
        "customs": {"incoterm": "DAP", "items": [{"sku": "A", "quantity": 1, "hs_code": ""}]},
    }
    response = httpx.post(
        f"{sandbox_url}/v1/shipments", json=body, headers={"Idempotency-Key": "x-1"}, timeout=5
    )
    assert response.status_code == 422
    assert "A has no hs_code" in response.json()["detail"]


def test_return_label_is_a_tracked_return_shipment_and_idempotent(sandbox_url):
    shipment = _dispatched(sandbox_url, "NL")
    adapter = GenericHttpAdapter(shipment.provider)
    first = adapter.create_return_label(shipment, idempotency_key="rma-1", items=[])
    again = adapter.create_return_label(shipment, idempotency_key="rma-1", items=[])
    other = adapter.create_return_label(shipment, idempotency_key="rma-2", items=[])
    assert first.provider_reference == again.provider_reference
    assert first.tracking_number == again.tracking_number
    assert other.provider_reference != first.provider_reference
    returned = _sandbox_shipment(sandbox_url, first.provider_reference)
    assert returned["kind"] == "return"
    assert returned["plan"][-1] == "DELIVERED"
    assert first.label_url.endswith(f"/v1/shipments/{first.provider_reference}/label.pdf")
    # (port 0 in the config: fetch it from the real port)
    label = httpx.get(f"{sandbox_url}/v1/shipments/{first.provider_reference}/label.pdf", timeout=5)
    assert label.content.startswith(b"%PDF")


def test_return_label_for_an_unknown_shipment_is_refused(sandbox_url):
    shipment = _dispatched(sandbox_url, "NL")
    shipment.provider_reference = "sbx_missing"
    with pytest.raises(ProviderRejected):
        GenericHttpAdapter(shipment.provider).create_return_label(shipment, idempotency_key="k")
