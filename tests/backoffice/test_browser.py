"""The back office driven through real headless Chromium against a live server."""

import re

import pytest
from playwright.sync_api import expect

from backoffice.models import BulkJob
from orders.models import Hold, Order, OrderEvent
from orders.services.holds import order_hold_place
from tests.backoffice.browser import PASSWORD, login, screenshot
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
    # The provider rejected the first dispatch; the customer calls with the tracking number.
    shipment = ShipmentFactory(
        order=order, tracking_number="SBX00042424242", status="dispatch_failed"
    )
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


def test_action_outcome_messages_are_in_view_after_the_redirect(live_server, browser_page, agent):
    """Issue 16 item 10: success and refusal messages are seen, not scrolled away."""
    order = OrderFactory(status=Order.Status.ALLOCATED)
    OrderLineFactory(order=order, line_number=1)
    page = browser_page
    page.on("dialog", lambda dialog: dialog.accept())
    login(page, live_server.url, "agent", f"/desk/orders/{order.number}/")

    page.fill("#notes textarea[name=text]", "Customer asked about delivery")
    page.click("#notes button[type=submit]")
    success = page.locator("#messages .success")
    expect(success).to_contain_text("Note added")
    expect(success).to_be_in_viewport()

    # The warehouse ships the order while the agent has the page open.
    Order.objects.filter(pk=order.pk).update(status=Order.Status.SHIPPED)
    page.fill("#cancel-reason", "Customer changed their mind")
    page.check("#cancel-form input[name=confirm]")
    page.click("#cancel-form button[type=submit]")
    refusal = page.locator("#messages .error")
    expect(refusal).to_contain_text("can no longer be cancelled")
    expect(refusal).to_be_in_viewport()
    assert "#" not in page.url
    screenshot(page, "desk-cancel-refused")


@pytest.mark.parametrize(
    ("role", "username", "start", "heading"),
    [
        ("agent", "agent", "/desk/", "Customer desk"),
        ("warehouse_user", "warehouse", "/warehouse/stock/", "Stock"),
        ("manager", "manager", "/ops/dashboard/", "Operations dashboard"),
        ("superuser", "admin", "/ops/dashboard/", "Operations dashboard"),
    ],
)
def test_login_lands_on_the_roles_start_screen_in_the_local_time_zone(
    live_server, browser_page, request, role, username, start, heading
):
    """Issue 16 item 17: own start screen, local times from the first page, logout to login."""
    request.getfixturevalue(role)
    page = browser_page
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(f"{live_server.url}{start}")
    expect(page.locator("h1")).to_contain_text(heading)
    # The very first page after login, no reload: the browser's zone, not the server's UTC.
    expect(page.locator("#user-tools .tz")).to_have_text("Europe/Amsterdam")
    page.click("#logout-form button[type=submit]")
    page.wait_for_url(f"{live_server.url}/admin/login/")
    expect(page.locator("#id_username")).to_be_visible()


def test_refusal_and_unknown_order_pages_keep_the_navigation(live_server, browser_page, agent):
    """Issue 16 item 17: the 403 page keeps the navigation; an unknown order is a styled 404."""
    page = browser_page
    login(page, live_server.url, "agent", "/desk/")
    response = page.goto(f"{live_server.url}/ops/dashboard/")
    assert response.status == 403
    expect(page.locator("h1")).to_have_text("Not allowed")
    page.locator("#user-tools").get_by_role("link", name="Desk").click()
    page.wait_for_url(f"{live_server.url}/desk/")

    response = page.goto(f"{live_server.url}/desk/orders/CS-999999/")
    assert response.status == 404
    expect(page.locator("h1")).to_have_text("Order not found")
    expect(page.locator("#not-found")).to_contain_text("There is no order CS-999999.")
    expect(page.locator("#user-tools")).to_contain_text("Desk")
    expect(page.locator("#desk-q")).to_have_value("CS-999999")
    screenshot(page, "desk-unknown-order")


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


def test_warehouse_user_receives_inbound_shipment_by_typing_barcodes(
    live_server, browser_page, warehouse_user
):
    from inventory.models import StockLevel
    from tests.inventory.factories import ProductFactory, WarehouseFactory
    from tests.inventory.helpers import asn

    warehouse = WarehouseFactory(code="tilburg")
    shirt = ProductFactory(sku="SHIRT-M", name="Oxford shirt M", barcode="5012345678900")
    ProductFactory(sku="SOCKS-L", name="Wool socks L", barcode="5012345678917")
    StockLevelFactory(product=shirt, warehouse=warehouse, on_hand=3)
    inbound = asn(warehouse=warehouse, reference="ASN-7001", lines=[("SHIRT-M", 2), ("SOCKS-L", 1)])
    page = browser_page

    login(page, live_server.url, "warehouse", "/warehouse/inbound/")
    # The list links each ASN by its number; the reference is shown beside it.
    page.get_by_role("link", name=inbound.number).click()
    shirt_row = page.locator("#line-SHIRT-M")
    expect(shirt_row.locator(".on-hand")).to_have_text("3")
    for barcode in ["5012345678900", "5012345678900", "5012345678917"]:
        scan = page.locator("#scan-barcode")
        expect(scan).to_be_focused()
        # A scanner "types" the digits and presses Enter.
        scan.press_sequentially(barcode, delay=5)
        scan.press("Enter")
        expect(page.locator("#last-scan")).to_contain_text(barcode)
    expect(shirt_row.locator(".received")).to_have_text("2")
    expect(shirt_row.locator(".on-hand")).to_have_text("5")
    expect(page.locator("#line-SOCKS-L .on-hand")).to_have_text("1")
    screenshot(page, "warehouse-receiving")
    assert StockLevel.objects.get(product=shirt, warehouse=warehouse).on_hand == 5
    assert inbound.lines.get(product=shirt).received_quantity == 2


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
    page.click("#bulk-check")
    expect(page.locator("#bulk-recognised")).to_have_text("500 orders recognised")
    page.click("#bulk-start")

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


@pytest.mark.integration
def test_manager_bulk_holds_typed_numbers_with_unknown_entries(
    live_server, browser_page, manager, celery_worker
):
    """Issue 16 item 9: unknown entries are listed before starting; a job where nothing
    could be done ends red and "Failed", and the tab title follows the job to its end."""
    fine = OrderFactory(status=Order.Status.RECEIVED)
    shipped = OrderFactory(status=Order.Status.SHIPPED)
    page = browser_page
    login(page, live_server.url, "manager", "/ops/bulk-hold/")
    page.fill("#id_numbers", f"55\n{fine.number}\nCS-999999 hello")
    page.select_option("#id_reason", "manual")
    page.click("#bulk-check")
    expect(page.locator("#bulk-recognised")).to_have_text("1 order recognised")
    unrecognised = page.locator("#bulk-unrecognised li")
    expect(unrecognised).to_have_count(3)
    for entry in ("55", "CS-999999", "hello"):
        expect(page.locator("#bulk-unrecognised")).to_contain_text(entry)
    screenshot(page, "bulk-hold-check")
    page.click("#bulk-start")
    page.wait_for_url(re.compile(r".*/ops/jobs/\d+/$"))
    expect(page.locator("#job")).to_have_attribute("data-finished", "true", timeout=60_000)
    expect(page.locator("#job")).to_have_attribute("data-outcome", "done_with_failures")
    expect(page.locator("#job-unrecognised")).to_contain_text("hello")
    expect(page).to_have_title(re.compile(r"^Bulk hold #\d+ · Done, not all \|"))

    # Every order refused: red and "Failed", never a calm "done".
    page.goto(f"{live_server.url}/ops/bulk-hold/")
    page.fill("#id_numbers", shipped.number)
    page.select_option("#id_reason", "manual")
    page.click("#bulk-check")
    page.click("#bulk-start")
    page.wait_for_url(re.compile(r".*/ops/jobs/\d+/$"))
    expect(page.locator("#job")).to_have_attribute("data-finished", "true", timeout=60_000)
    expect(page.locator("#job")).to_have_attribute("data-outcome", "failed")
    expect(page.locator("[data-job-outcome]")).to_have_text("Failed")
    expect(page.locator("[data-job-error]")).to_contain_text("None of the 1 order")
    expect(page).to_have_title(re.compile(r"^Bulk hold #\d+ · Failed \|"))
    screenshot(page, "bulk-hold-failed")


def test_manager_screens_render_in_the_browser(live_server, browser_page, manager):
    """Every main screen loads without a console error; screenshots for the docs."""
    from datetime import timedelta

    from django.utils import timezone

    from orders.services.holds import order_hold_place
    from tests.logistics.factories import ServiceLevelFactory

    level = ServiceLevelFactory(max_transit_hours=24)
    now = timezone.now()
    for i, channel_code in enumerate(["webshop", "marketplace", "wholesale"]):
        channel = ChannelFactory(code=channel_code)
        for order in OrderFactory.create_batch(4 + 3 * i, channel=channel):
            OrderLineFactory(order=order, line_number=1)
        held = OrderFactory(channel=channel)
        order_hold_place(order=held, reason="fraud_review", note="velocity check", user=manager)
    ShipmentFactory(
        status="dispatch_failed", last_error="503 from provider", provider=level.provider
    )
    ShipmentFactory(status="pending", provider=level.provider)
    ShipmentFactory(
        status="in_transit",
        provider=level.provider,
        service_level=level,
        dispatched_at=now - timedelta(hours=30),
    )
    ShipmentFactory(
        status="delivered",
        provider=level.provider,
        service_level=level,
        dispatched_at=now - timedelta(hours=30),
        delivered_at=now - timedelta(hours=10),
    )
    StockLevelFactory(on_hand=2, low_stock_threshold=5)
    from inventory.services.stock import stock_adjust

    level = StockLevelFactory(on_hand=40, low_stock_threshold=5)
    stock_adjust(
        product=level.product, warehouse=level.warehouse, delta=-3, reason="damaged", user=manager
    )

    page = browser_page
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    login(page, live_server.url, "manager", "/ops/exceptions/")
    for path, name, marker in [
        ("/ops/exceptions/", "ops-exceptions", "#q-hold"),
        ("/ops/dashboard/", "ops-dashboard", "#chart-orders svg"),
        ("/warehouse/stock/", "warehouse-stock", "#stock"),
        ("/warehouse/dispatch/", "warehouse-dispatch", "#col-failed"),
        (f"/warehouse/stock/{level.pk}/", "warehouse-stock-history", "#movements"),
    ]:
        response = page.goto(live_server.url + path)
        assert response.status == 200, path
        expect(page.locator(marker)).to_be_visible()
        screenshot(page, name)
    assert errors == []


def test_manager_ticks_every_row_of_a_queue_section_at_once(live_server, browser_page, manager):
    """Issue 16 item 16: select-all on the exception queue (static app.js, no inline script)."""
    orders = [OrderFactory(status=Order.Status.ALLOCATED) for _ in range(3)]
    for order in orders:
        order_hold_place(order=order, reason="manual", user=manager)
    page = browser_page
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # A blocked (inline) script is a console error naming the Content Security Policy.
    page.on("console", lambda m: errors.append(m.text) if "Security Policy" in m.text else None)
    login(page, live_server.url, "manager", "/ops/exceptions/?kind=hold")

    section = page.locator("#q-hold")
    rows = section.locator("input[name=order_ids]")
    select_all = section.locator("input[data-select-all]")
    expect(rows).to_have_count(3)
    select_all.check()
    for i in range(3):
        expect(rows.nth(i)).to_be_checked()

    rows.nth(1).uncheck()
    expect(select_all).not_to_be_checked()
    assert select_all.evaluate("box => box.indeterminate") is True
    rows.nth(1).check()
    expect(select_all).to_be_checked()
    select_all.uncheck()
    for i in range(3):
        expect(rows.nth(i)).not_to_be_checked()


def test_desk_finds_lower_case_tracking_number_and_stock_screen_searches_by_name(
    live_server, browser_page, agent, warehouse_user
):
    """Issue 16 items 13 and 14, as the testers walked them in Chromium."""
    from tests.inventory.factories import ProductFactory

    order = OrderFactory(customer_name="Linnea Holm")
    ShipmentFactory(order=order, tracking_number="SBX00077777777", status="in_transit")
    socks = ProductFactory(sku="SOCK-42", name="Merino Wool Socks", barcode="8712345000424")
    StockLevelFactory(product=socks, on_hand=3, reserved=3)
    StockLevelFactory(product=ProductFactory(sku="SHIRT-42", name="Linen Shirt"), on_hand=5)
    page = browser_page
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    login(page, live_server.url, "agent", "/desk/")
    expect(page.locator("#recent")).to_contain_text(order.number)
    page.fill("#desk-q", "sbx00077777777")
    page.keyboard.press("Enter")
    results = page.locator("#results")
    expect(results).to_contain_text(order.number)
    expect(results).to_contain_text("Tracking number")

    page.context.clear_cookies()
    login(page, live_server.url, "warehouse", "/warehouse/stock/")
    page.fill("#f-q", "wool socks")
    page.keyboard.press("Enter")
    rows = page.locator("#stock tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("SOCK-42")
    expect(rows.first).to_have_class(re.compile(r"\bout\b"))
    expect(rows.first).to_contain_text("out of stock")
    screenshot(page, "warehouse-stock-search")
    with page.expect_download() as download:
        page.click("#stock-export")
    text = download.value.path().read_text(encoding="utf-8")
    assert text.splitlines()[1].startswith("SOCK-42,")
    assert len(text.splitlines()) == 2
    assert errors == []


def test_manager_reroutes_a_refused_dispatch_on_the_board(live_server, browser_page, manager):
    """Issue 16 item 15: a failed row has its actions; in progress is apart from in transit."""
    from django.utils import timezone

    from logistics.models import DispatchOutbox, Shipment
    from tests.logistics.factories import ProviderFactory

    refused = ShipmentFactory(
        order=OrderFactory(status=Order.Status.IN_FULFILMENT),
        status="dispatch_failed",
        last_error="HTTP 422: postcode unknown",
    )
    DispatchOutbox.objects.create(
        shipment=refused,
        status=DispatchOutbox.Status.REJECTED,
        attempts=1,
        last_status_code=422,
        next_attempt_at=timezone.now(),
    )
    ProviderFactory(code="other-lsp")
    accepted = ShipmentFactory(status="dispatched")
    moving = ShipmentFactory(status="in_transit")
    page = browser_page
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("dialog", lambda dialog: dialog.accept())
    login(page, live_server.url, "manager", "/warehouse/dispatch/")

    expect(page.locator("#col-in_progress")).to_contain_text(f"SHP-{accepted.pk}")
    expect(page.locator("#col-in_transit")).to_contain_text(f"SHP-{moving.pk}")
    expect(page.locator("#col-in_transit")).not_to_contain_text(f"SHP-{accepted.pk}")
    row = page.locator("#col-failed tr.dispatch-actions-row")
    expect(row.get_by_role("button", name="Retry")).to_be_visible()
    expect(row.get_by_text("Cancel order…")).to_be_visible()
    screenshot(page, "warehouse-dispatch-actions")
    row.locator("select[name=provider]").select_option("other-lsp")
    row.get_by_role("button", name="Re-route").click()

    expect(
        page.get_by_text(f"SHP-{refused.pk} is queued for dispatch with other-lsp.")
    ).to_be_visible()
    refused.refresh_from_db()
    assert (refused.provider.code, refused.status) == ("other-lsp", Shipment.Status.PENDING)
    expect(page.locator("#col-in_progress")).to_contain_text(f"SHP-{refused.pk}")
    assert errors == []
