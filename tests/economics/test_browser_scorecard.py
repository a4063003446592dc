"""Playwright (Chromium): an operations manager opens the provider scorecard for the demo
providers, sees the charts and the table, picks one provider and downloads the CSV
(issue 19, item 5)."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from demo.world import demo_providers_ensure
from economics.services.scorecard import provider_days_backfill
from tests.backoffice.browser import login, screenshot
from tests.economics.test_scorecard import event, shipment

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

DOCS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def two_weeks_of_work(providers):
    now = timezone.now()
    for index, provider in enumerate(providers.values()):
        for day in range(1, 14):
            for n in range(3 + index):
                dispatched = now - dt.timedelta(days=day, hours=n)
                late = (n + day) % (4 + index) == 0
                delivered = dispatched + dt.timedelta(hours=80 if late else 30 + 5 * n)
                made = shipment(
                    provider,
                    dispatched=dispatched,
                    delivered=delivered if delivered < now else None,
                    transit_hours=72,
                )
                event(made, "in_transit", dispatched + dt.timedelta(hours=2 + n + index))
                if (n + day) % 7 == 0:
                    event(made, "exception", dispatched + dt.timedelta(hours=20),
                          provider_status="ADDRESS_UNKNOWN")  # fmt: skip


def test_the_scorecard_renders_for_the_demo_providers(live_server, browser_page, manager):
    providers, _ = demo_providers_ensure()
    two_weeks_of_work(providers)
    today = timezone.localdate()
    provider_days_backfill(first=today - dt.timedelta(days=14), last=today)
    page = browser_page
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # Any console error (a CSP violation included) but the browser's own favicon request.
    page.on(
        "console",
        lambda msg: (
            errors.append(msg.text)
            if msg.type == "error" and "Failed to load resource" not in msg.text
            else None
        ),
    )
    page.on(
        "response",
        lambda r: (
            errors.append(f"{r.status} {r.url}")
            if r.status >= 400 and not r.url.endswith("/favicon.ico")
            else None
        ),
    )
    start = (today - dt.timedelta(days=14)).isoformat()

    login(page, live_server.url, "manager", "/ops/scorecard/")
    page.select_option("#id_period", "custom")
    page.fill("#id_start", start)
    page.fill("#id_end", today.isoformat())
    page.click("#scorecard-filters button[type=submit]")

    rows = page.locator("#scorecard-table tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0).locator("td").first).to_have_text("fulfilnet")
    expect(rows.nth(1).locator("td").first).to_have_text("sandbox")
    for chart in ("on-time", "first-scan", "exceptions", "shipments"):
        expect(page.locator(f"#chart-{chart} svg")).to_be_visible()
    expect(page.locator("#chart-on-time svg rect")).to_have_count(2)
    expect(page.locator("#exception-reasons")).to_contain_text("exception: ADDRESS_UNKNOWN")
    path = screenshot(page, "scorecard")
    shutil.copyfile(path, DOCS / "scorecard.png")

    page.select_option("#id_provider", "sandbox")
    page.click("#scorecard-filters button[type=submit]")
    expect(rows).to_have_count(1)
    with page.expect_download() as download:
        page.click("#scorecard-csv")
    text = Path(download.value.path()).read_text()
    assert text.splitlines()[0].startswith("Provider,Shipments,On time,On-time sample")
    assert text.splitlines()[1].startswith("sandbox,")
    assert len(text.splitlines()) == 2
    assert errors == []
