"""End to end (issue 19): orders are dispatched to the LSP sandbox over HTTP, the sandbox's
invoice for the month is fetched with faults and imported; the summary counts exactly
what was injected, the disputes are there, and a second import changes nothing."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest

from core.errors import Conflict
from economics.models import Dispute, Invoice, InvoiceLine
from economics.services import expected_cost
from economics.services.invoice_import import lsp_invoice_import
from economics.services.rate_card_csv import rate_card_import
from economics.services.rate_cards import rate_card_activate
from logistics.models import Shipment
from logistics.services.dispatch import shipment_dispatch
from tests.economics.test_expected_cost import CARD
from tests.logistics.helpers import planned_orders, sandbox_provider
from tests.logistics.processes import processes_for_test

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
SECRET = "whsec_aW52b2ljZS1lbmQtdG8tZW5kLXNlY3JldA=="
ORDERS = 50


def test_the_sandbox_invoice_with_injected_faults_reconciles_to_exactly_those_faults(tmp_path):
    card_csv = CARD.format(fee="1.95", start="2020-01-01", end="", name="sandbox 2026")
    card_file = tmp_path / "card.csv"
    card_file.write_text(card_csv)
    with processes_for_test(tmp_path) as procs:
        url = procs.start_sandbox(
            consign_url="http://127.0.0.1:9",
            secret=SECRET,
            flags=["--no-webhooks", "--step-seconds", "3600", "--rate-card", str(card_file)],
        )
        provider = sandbox_provider(base_url=url, webhook_secret=SECRET)
        rate_card_activate(
            card_id=rate_card_import(provider_id=provider.pk, text=card_csv).pk, actor="test"
        )
        planned_orders(ORDERS)
        for shipment_id in Shipment.objects.values_list("pk", flat=True):
            shipment_dispatch(shipment_id=shipment_id)
        assert Shipment.objects.filter(status="dispatched").count() == ORDERS
        expected_cost.expected_costs_sweep()
        month = dt.datetime.now(dt.UTC).strftime("%Y-%m")
        clean = httpx.get(f"{url}/invoices/{month}.csv", timeout=10)
        faulty = httpx.get(
            f"{url}/invoices/{month}.csv",
            params={"overcharge_every": 10, "duplicate_every": 25, "unknown_every": 40},
            timeout=10,
        )
        refused = httpx.get(f"{url}/invoices/{month}.csv?overcharge_every=x", timeout=10)

    assert clean.status_code == faulty.status_code == 200
    assert refused.status_code == 400
    base = len(clean.text.splitlines()) - 1
    assert base == 2 * ORDERS  # a fulfilment fee and a parcel per shipment

    invoice = lsp_invoice_import(provider_code=provider.code, text=faulty.text)

    summary = invoice.summary
    injected = {
        "overcharged": base // 10,
        "duplicate": base // 25,
        "unknown_reference": base // 40,
    }
    assert {key: summary[key] for key in injected} == injected
    assert summary["matched"] == base - base // 10
    assert (summary["undercharged"], summary["not_invoiced"]) == (0, 0)
    assert summary["lines"] == base + base // 25 + base // 40
    disputes = Dispute.objects.filter(invoice=invoice)
    assert disputes.count() == sum(injected.values())
    assert set(disputes.values_list("status", flat=True)) == {"open"}

    counts = (Invoice.objects.count(), InvoiceLine.objects.count(), Dispute.objects.count())
    with pytest.raises(Conflict):
        lsp_invoice_import(provider_code=provider.code, text=faulty.text)
    assert (Invoice.objects.count(), InvoiceLine.objects.count(), Dispute.objects.count()) == counts
