"""The back office driven through real headless Chromium against a live server."""

import re

import pytest
from playwright.sync_api import expect

from backoffice.models import BulkJob
from orders.models import Hold, Order, OrderEvent
from tests.backoffice.browser import login, screenshot
from tests.inventory.factories import StockLevelFactory
from tests.logistics.factories import ShipmentFactory, TrackingEventFactory
from tests.orders.factories import ChannelFactory, OrderFactory, OrderLineFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_agent_finds_order_by_tracking_number_and_places_a_hold(live_server, browser_page, agent):
    order = OrderFactory(
        status=Order.Status.ALLOCATED,
        customer_name="Ingrid Bergman",
        customer_email="ingrid@example.se",
    )
    OrderLineFactory(order=order, line_number=1, quantity=2)
    shipment = ShipmentFactory(order=order, tracking_number="SBX00042424242")
    TrackingEventFactory(shipment=shipment, status="pre_transit", description="Label created")
    page = browser_page

    login(page, live_server.url, "agent", "/desk/")
    page.fill("#desk-q", "SBX00042424242")
    page.keyboard.press("Enter")
    results = page.locator("#results")
    expect(results).to_contain_text(order.number)
    expect(results).to_contain_text("Tracking number")
    screenshot(page, "desk-search")

    results.get_by_role("link", name=order.number).click()
    expect(page.locator("h1")).to_contain_text(order.number)
    expect(page.locator("#timeline")).to_contain_text("Europe/Amsterdam")
    page.select_option("#hold-form select[name=reason]", "customer_request")
    page.fill("#hold-form textarea[name=note]", "Customer is moving house, wait for new address")
    page.click("#hold-form button[type=submit]")

    timeline = page.locator("#timeline")
    expect(timeline).to_contain_text("Hold placed")
    expect(timeline).to_contain_text("Customer is moving house")
    expect(page.locator("h1 .badge")).to_have_text("On hold")
    screenshot(page, "desk-order-on-hold")
    event = OrderEvent.objects.get(order=order, type=OrderEvent.Type.HOLD_PLACED)
    assert event.user.username == "agent"
    # The hold's time is shown in the browser's zone (Amsterdam), not UTC.
    local = event.created_at.astimezone(__import__("zoneinfo").ZoneInfo("Europe/Amsterdam"))
    expect(timeline).to_contain_text(local.strftime("%H:%M"))


def test_customer_service_is_refused_a_stock_adjustment(live_server, browser_page, agent):
    level = StockLevelFactory(on_hand=7)
    page = browser_page
    login(page, live_server.url, "agent", "/desk/")
    expect(page.locator("#user-tools")).not_to_contain_text("Stock")

    response = page.goto(f"{live_server.url}/warehouse/stock/{level.pk}/")
    assert response.status == 403
    expect(page.locator("h1")).to_have_text("Not allowed")
    screenshot(page, "stock-adjust-refused")

    # Even a hand-made POST with a valid CSRF token is refused by the server.
    page.goto(f"{live_server.url}/desk/")
    status = page.evaluate(
        """async (url) => {
            const token = document.querySelector("input[name=csrfmiddlewaretoken]").value;
            const body = new URLSearchParams({csrfmiddlewaretoken: token, delta: "5", reason: "x"});
            const r = await fetch(url, {method: "POST", body, credentials: "same-origin"});
            return r.status;
        }""",
        f"{live_server.url}/warehouse/stock/{level.pk}/adjust/",
    )
    assert status == 403
    level.refresh_from_db()
    assert level.on_hand == 7


@pytest.mark.integration
def test_manager_bulk_holds_500_orders_and_watches_progress(
    live_server, browser_page, manager, celery_worker
):
    channel = ChannelFactory(code="webshop")
    OrderFactory.create_batch(500, channel=channel, status=Order.Status.RECEIVED)
    page = browser_page
    page.on("dialog", lambda dialog: dialog.accept())

    login(page, live_server.url, "manager", "/ops/bulk-hold/")
    page.select_option("#id_status", "received")
    page.fill("#id_channel", "webshop")
    page.select_option("#id_reason", "fraud_review")
    page.fill("#id_note", "Card testing wave")
    page.click("#bulk-hold-form button[type=submit]")

    page.wait_for_url(re.compile(r".*/ops/jobs/\d+/$"))
    expect(page.locator("[data-job-label]")).to_contain_text("/ 500")
    screenshot(page, "bulk-hold-progress")
    expect(page.locator("#job")).to_have_attribute("data-finished", "true", timeout=120_000)
    expect(page.locator("[data-job-label]")).to_contain_text("100 %")
    expect(page.locator(".progress > div")).to_have_attribute("style", re.compile("width: 100%"))
    expect(page.get_by_role("link", name="Download result (CSV)")).to_be_visible()
    screenshot(page, "bulk-hold-done")

    job = BulkJob.objects.get()
    assert (job.status, job.processed, job.succeeded) == ("done", 500, 500)
    assert Hold.objects.filter(reason="fraud_review", released_at__isnull=True).count() == 500
    assert Order.objects.filter(status=Order.Status.ON_HOLD).count() == 500
