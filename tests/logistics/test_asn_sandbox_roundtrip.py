"""The ASN round trip with real processes: the LSP sandbox, a Celery worker, Postgres, Redis.

A partner announces an ASN for the sandbox's warehouse through the API; the worker sends it
to the sandbox (outbox, idempotency key); one clock step later the sandbox receives it
short (`--asn-short-every 1`) and posts a signed receipt webhook; Consign posts the receipt
into the stock ledger and the API shows the ASN `received` with the discrepancy.
"""

from __future__ import annotations

import time

import httpx
import pytest

from inventory.models import InboundShipment, StockLevel, StockMovement
from logistics.models import AsnOutbox, InboundWebhook
from partners.services import api_key_create
from tests.inventory.factories import ProductFactory, WarehouseFactory
from tests.logistics.helpers import sandbox_provider
from tests.logistics.processes import processes_for_test
from tests.orders.factories import ChannelFactory

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
SECRET = "whsec_YXNuLXJvdW5kLXRyaXAtdGVzdC1zZWNyZXQ="


@pytest.fixture
def procs(tmp_path, live_server):
    with processes_for_test(tmp_path) as processes:
        yield processes


def _wait(predicate, *, timeout: float, what: str, procs) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.3)
    pytest.fail(f"{what} not within {timeout}s\n{procs.logs()}")


def test_short_receipt_from_the_sandbox_reaches_the_ledger_and_shows_the_discrepancy(
    procs, live_server
):
    url = procs.start_sandbox(
        consign_url=live_server.url,
        secret=SECRET,
        flags=["--step-seconds", "0.5", "--asn-short-every", "1", "--seed", "5"],
    )
    provider = sandbox_provider(base_url=url, webhook_secret=SECRET)
    warehouse = WarehouseFactory(code="sandbox-venlo", kind="lsp", provider=provider)
    product = ProductFactory(sku="RT-MUG")
    other = ProductFactory(sku="RT-CAP")
    channel = ChannelFactory(code="asn-roundtrip")
    _, raw_key = api_key_create(channel=channel, name="roundtrip")
    procs.start_worker(concurrency=2)
    api = httpx.Client(
        base_url=live_server.url, headers={"Authorization": f"Bearer {raw_key}"}, timeout=30
    )

    started = time.monotonic()
    created = api.post(
        "/api/v1/inbound-shipments/",
        json={
            "reference": "PO-RT-1",
            "warehouse": "sandbox-venlo",
            "expected_at": "2026-03-10T09:00:00Z",
            "lines": [{"sku": "RT-MUG", "quantity": 10}, {"sku": "RT-CAP", "quantity": 1}],
        },
        headers={"Idempotency-Key": "rt-1"},
    )
    assert created.status_code == 201, created.text
    number = created.json()["number"]
    assert created.json()["status"] == "draft"

    inbound = InboundShipment.objects.get(number=number)
    _wait(
        lambda: InboundShipment.objects.get(pk=inbound.pk).provider_reference != "",
        timeout=30,
        what="ASN sent to the sandbox",
        procs=procs,
    )
    _wait(
        lambda: api.get(f"/api/v1/inbound-shipments/{number}/").json()["status"] == "received",
        timeout=60,
        what="ASN received",
        procs=procs,
    )
    elapsed = time.monotonic() - started
    print(f"ASN created → received in {elapsed:.1f}s")  # noqa: T201

    body = api.get(f"/api/v1/inbound-shipments/{number}/").json()
    # Short by a tenth of each line, at least one unit: 10 → 9, 1 → 0 (nothing received).
    assert body["lines"] == [
        {"sku": "RT-MUG", "expected": 10, "received": 9, "discrepancy": -1},
        {"sku": "RT-CAP", "expected": 1, "received": 0, "discrepancy": -1},
    ]
    assert body["received_at"] is not None
    level = StockLevel.objects.get(product=product, warehouse=warehouse)
    assert level.on_hand == 9
    assert not StockLevel.objects.filter(product=other, warehouse=warehouse, on_hand__gt=0)
    receipts = StockMovement.objects.filter(type="receipt", warehouse=warehouse)
    assert [(m.product_id, m.on_hand_delta) for m in receipts] == [(product.pk, 9)]
    assert AsnOutbox.objects.get(inbound=inbound).status == AsnOutbox.Status.SENT
    assert InboundWebhook.objects.filter(status="processed").exists()

    sandbox = httpx.get(
        f"{url}/v1/inbound-shipments/{InboundShipment.objects.get(pk=inbound.pk).provider_reference}",
        timeout=10,
    ).json()
    assert (sandbox["status"], sandbox["outcome"]) == ("RECEIVED", "short")
    assert httpx.get(f"{url}/_sandbox/stats", timeout=10).json()["inbounds"] == 1
