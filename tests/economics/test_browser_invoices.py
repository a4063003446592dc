"""Playwright (Chromium): a manager uploads an LSP invoice, watches the import's progress
bar, opens a discrepancy and disputes it (issue 19)."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from economics.models import Dispute
from economics.tasks import invoice_import_job_task
from tests.backoffice.browser import celery_worker_for, login, screenshot
from tests.economics.test_invoice_import import HEADER, bill, dispatched_shipments

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_a_manager_imports_an_invoice_and_disputes_an_overcharge(
    live_server, browser_page, manager, monkeypatch, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    provider, shipments = dispatched_shipments(4)
    rows = bill(shipments[0]) + bill(shipments[1]) + bill(shipments[2], scale=Decimal("1.25"))
    invoice_file = tmp_path / "lsp-invoice.csv"
    invoice_file.write_text(HEADER + "".join(rows))
    page = browser_page
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    with celery_worker_for(monkeypatch, invoice_import_job_task):
        login(page, live_server.url, "manager", "/ops/invoices/")
        page.select_option("#id_provider", provider.code)
        page.set_input_files("#id_file", str(invoice_file))
        page.click("#invoice-upload button[type=submit]")
        page.wait_for_url(re.compile(r".*/ops/invoices/jobs/\d+/$"))
        expect(page.locator("#job .progress")).to_be_visible()
        expect(page.locator("#job")).to_have_attribute("data-finished", "true", timeout=60_000)
        expect(page.locator("#job")).to_have_attribute("data-outcome", "done")
        expect(page.locator("#job .progress > div")).to_have_attribute("style", "width: 100%;")
        screenshot(page, "invoice-import-done")
        page.click("text=Open the reconciliation")

    page.wait_for_url(re.compile(r".*/ops/invoices/\d+/$"))
    expect(page.locator("#invoice-counts tr[data-outcome=overcharged] td.num")).to_have_text(
        str(len(bill(shipments[2])))
    )
    expect(page.locator("#invoice-counts tr[data-outcome=not_invoiced] td.num")).to_have_text("1")
    screenshot(page, "invoice-reconciliation")
    page.click("#invoice-counts tr[data-outcome=overcharged] a")
    page.locator("#disputes tbody tr td a").first.click()
    page.wait_for_url(re.compile(r".*/ops/disputes/\d+/$"))
    page.select_option("#id_to_status", "disputed")
    page.fill("#id_note", "Billed 25 % over the contracted rate card")
    page.click("#decide button[type=submit]")

    expect(page.locator("#messages")).to_contain_text("The dispute was updated.")
    expect(page.locator("#history")).to_contain_text(
        "manager: open → disputed — Billed 25 % over the contracted rate card"
    )
    screenshot(page, "invoice-dispute")
    disputed = Dispute.objects.get(status="disputed")
    assert (disputed.kind, disputed.decided_by) == ("overcharged", "manager")
    assert errors == []
