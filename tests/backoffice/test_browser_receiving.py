"""Receiving by scanner and the warehouse screens on a handheld (issue 16 items 8 and 11)."""

import pytest
from playwright.sync_api import expect

from tests.backoffice.browser import login, screenshot
from tests.inventory.factories import ProductFactory, StockLevelFactory, WarehouseFactory
from tests.inventory.helpers import asn
from tests.logistics.factories import ShipmentFactory
from tests.orders.factories import OrderFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHIRT = "5012345678900"
SOCKS = "5012345678917"


@pytest.fixture
def inbound():
    warehouse = WarehouseFactory(code="tilburg")
    shirt = ProductFactory(sku="SHIRT-M", name="Oxford shirt M", barcode=SHIRT)
    ProductFactory(sku="SOCKS-L", name="Wool socks L", barcode=SOCKS)
    StockLevelFactory(product=shirt, warehouse=warehouse, on_hand=3)
    return asn(warehouse=warehouse, reference="ASN-7001", lines=[("SHIRT-M", 2), ("SOCKS-L", 1)])


def _open_receiving(page, live_server, inbound):
    login(page, live_server.url, "warehouse", f"/warehouse/inbound/{inbound.pk}/")
    expect(page.locator("#scan-barcode")).to_be_focused()


def _scanner(page, code: str) -> None:
    """A scanner: the digits as fast as keys go, then Enter, and no waiting for the page."""
    page.keyboard.type(code, delay=0)
    page.keyboard.press("Enter")


def _received(inbound, sku: str) -> int:
    return inbound.lines.get(product__sku=sku).received_quantity


def test_fast_scans_are_each_received_and_the_field_keeps_focus(
    live_server, browser_page, warehouse_user, inbound
):
    page = browser_page
    _open_receiving(page, live_server, inbound)

    for code in [SHIRT, SOCKS, SHIRT]:
        _scanner(page, code)

    expect(page.locator("#line-SHIRT-M .received")).to_have_text("2")
    expect(page.locator("#line-SOCKS-L .received")).to_have_text("1")
    expect(page.locator("#scan-form")).to_have_attribute("data-pending", "0")
    expect(page.locator("#scan-barcode")).to_be_focused()
    expect(page.locator("#scan-barcode")).to_have_value("")
    # The last scan names its product and its row is the highlighted one.
    expect(page.locator("#last-scan")).to_contain_text("Oxford shirt M")
    expect(page.locator("#line-SHIRT-M")).to_have_class("selected")
    expect(page.locator("#line-SOCKS-L")).not_to_have_class("selected")
    expect(page.locator("#line-SHIRT-M .on-hand")).to_have_text("5")
    assert (_received(inbound, "SHIRT-M"), _received(inbound, "SOCKS-L")) == (2, 1)
    screenshot(page, "warehouse-receiving-fast-scans")


def test_a_refused_quantity_keeps_focus_and_the_next_scan_is_received(
    live_server, browser_page, warehouse_user, inbound
):
    page = browser_page
    _open_receiving(page, live_server, inbound)

    page.fill("#scan-qty", "0")
    page.focus("#scan-barcode")
    _scanner(page, SHIRT)
    _scanner(page, SOCKS)

    expect(page.locator("#scan-log .scan-error")).to_contain_text(f"{SHIRT} × 0 not received")
    expect(page.locator("#line-SOCKS-L .received")).to_have_text("1")
    expect(page.locator("#scan-barcode")).to_be_focused()
    expect(page.locator("#scan-qty")).to_have_value("")
    assert (_received(inbound, "SHIRT-M"), _received(inbound, "SOCKS-L")) == (0, 1)


def test_lower_case_sku_matches_and_over_receipt_is_warned(
    live_server, browser_page, warehouse_user, inbound
):
    ProductFactory(sku="CAP-OS", name="Cap one size", barcode="5012345678924")
    page = browser_page
    _open_receiving(page, live_server, inbound)

    _scanner(page, "socks-l")
    expect(page.locator("#line-SOCKS-L .received")).to_have_text("1")
    expect(page.locator("#scan-log .scan-ok")).to_contain_text("Wool socks L × 1")

    _scanner(page, "socks-l")
    warning = page.locator("#scan-log li").first
    expect(warning).to_have_class("scan-warning")
    expect(warning).to_contain_text("Over-receipt: 2 of SOCKS-L received, 1 expected.")
    expect(page.locator("#line-SOCKS-L .difference")).to_have_text("+1")

    _scanner(page, "5012345678924")
    expect(page.locator("#scan-log li").first).to_contain_text("CAP-OS is not on ASN-7001")
    expect(page.locator("#line-CAP-OS .received")).to_have_text("1")
    expect(page.locator("#line-CAP-OS")).to_have_class("selected warned")
    expect(page.locator("#scan-barcode")).to_be_focused()
    assert _received(inbound, "SOCKS-L") == 2


def _page_scroll_width(page) -> int:
    return page.evaluate("() => document.documentElement.scrollWidth")


def test_handheld_receiving_shows_received_and_difference_without_scrolling(
    live_server, handheld_page, warehouse_user, inbound
):
    page = handheld_page
    _open_receiving(page, live_server, inbound)
    _scanner(page, SHIRT)
    expect(page.locator("#line-SHIRT-M .received")).to_have_text("1")

    for header in ["Received", "Difference"]:
        box = page.locator("#inbound-lines th", has_text=header).bounding_box()
        assert box["x"] >= 0
        assert box["x"] + box["width"] <= 390, header
    for cell in [".received", ".difference"]:
        box = page.locator(f"#line-SHIRT-M {cell}").bounding_box()
        assert box["x"] + box["width"] <= 390, cell
    assert _page_scroll_width(page) <= 390
    screenshot(page, "handheld-receiving")


def test_handheld_desk_results_fit_the_screen(live_server, handheld_page, agent):
    for city in ["Amsterdam", "Rotterdam"]:
        OrderFactory(
            customer_name="Wilhelmina van Oranje-Nassau",
            customer_email="wilhelmina.van.oranje-nassau@example.nl",
            shipping_city=city,
        )
    page = handheld_page
    login(page, live_server.url, "agent", "/desk/?q=Wilhelmina")

    results = page.locator("#results")
    expect(results).to_contain_text("Rotterdam")
    assert results.bounding_box()["width"] <= 390
    assert _page_scroll_width(page) <= 390
    screenshot(page, "handheld-desk-search")


def test_handheld_dispatch_board_shows_failed_before_the_other_columns(
    live_server, handheld_page, warehouse_user
):
    ShipmentFactory(status="dispatch_failed", last_error="503 from provider")
    ShipmentFactory(status="in_transit")
    ShipmentFactory(status="pending")
    page = handheld_page
    login(page, live_server.url, "warehouse", "/warehouse/dispatch/")

    failed = page.locator("#col-failed").bounding_box()
    for column in ["#col-in_progress", "#col-in_transit"]:
        assert failed["y"] + failed["height"] <= page.locator(column).bounding_box()["y"]
    assert _page_scroll_width(page) <= 390
    screenshot(page, "handheld-dispatch-board")
