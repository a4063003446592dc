"""Playwright (Chromium): a what-if's page follows the run's progress, then shows the
comparison; on a 390 px phone it needs no sideways scrolling (issue 20)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from routing.services import whatif
from tests.backoffice.browser import login, screenshot
from tests.routing.test_whatif import World, _run

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def small_world(settings):
    settings.PROMISE_DEFAULT_TRANSIT_DAYS = 1
    w = World()
    for _ in range(3):
        w.shipped(w.order("NL", [w.p1]), w.alpha, "6.00")
    for _ in range(4):
        w.shipped(w.order("DE", [w.p1]), w.alpha, "6.00")
    return w


def test_the_run_page_follows_progress_then_shows_the_comparison(
    live_server, browser_page, manager, small_world
):
    run = _run(small_world)
    page = browser_page
    login(page, live_server.url, "manager", f"/ops/routing/whatif/{run.pk}/")
    expect(page.locator("#job")).to_have_attribute("data-outcome", "queued")
    expect(page.locator("#whatif-figures")).to_have_count(0)

    whatif.whatif_execute(run_id=run.pk)

    expect(page.locator("#job")).to_have_attribute("data-finished", "true", timeout=15_000)
    expect(page.locator("#job")).to_have_attribute("data-outcome", "done")
    expect(page.locator("#job .progress > div")).to_have_attribute("style", "width: 100%;")
    page.click("text=Show the comparison")
    expect(page.locator("#whatif-figures tr[data-figure=split_rate] td").first).to_have_text(
        "0.0 %"
    )
    expect(page.locator("#whatif-volumes tr[data-site=beta] td[data-side=simulated]")).to_have_text(
        "4"
    )
    expect(page.locator("#whatif-sites svg")).to_be_visible()
    screenshot(page, "routing-whatif-done")


def test_the_run_page_fits_a_phone(live_server, handheld_page, manager, small_world):
    run = whatif.whatif_execute(run_id=_run(small_world).pk)
    page = handheld_page
    login(page, live_server.url, "manager", f"/ops/routing/whatif/{run.pk}/")
    expect(page.locator("#whatif-figures")).to_be_visible()
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390
    screenshot(page, "routing-whatif-phone")
