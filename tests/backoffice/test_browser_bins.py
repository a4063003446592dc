"""Bins on a handheld (390 x 844): receiving into the suggested bin, the stock page with its
bins and the move form, the bins list; each fits the screen."""

import pytest
from playwright.sync_api import expect

from inventory.models import BinStock
from inventory.services.bins import bin_create, bin_putaway
from tests.backoffice.browser import login, screenshot
from tests.inventory.factories import ProductFactory, WarehouseFactory
from tests.inventory.helpers import asn, stock

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHIRT = "5012345678900"


@pytest.fixture
def site():
    warehouse = WarehouseFactory(code="tilburg")
    shirt = ProductFactory(sku="SHIRT-M", name="Oxford shirt M", barcode=SHIRT)
    stock(shirt, warehouse, 5)
    a1 = bin_create(warehouse=warehouse, code="A-01", zone="A", pick_sequence=1)
    bin_create(warehouse=warehouse, code="B-07", zone="B", pick_sequence=27)
    bin_putaway(warehouse=warehouse, product=shirt, bin=a1, quantity=4)
    return warehouse


def _scroll_width(page) -> int:
    return page.evaluate("() => document.documentElement.scrollWidth")


def test_handheld_receiving_puts_away_into_the_suggested_or_scanned_bin(
    live_server, handheld_page, warehouse_user, site
):
    inbound = asn(warehouse=site, reference="ASN-BIN", lines=[("SHIRT-M", 3)])
    page = handheld_page
    login(page, live_server.url, "warehouse", f"/warehouse/inbound/{inbound.pk}/")
    expect(page.locator("#line-SHIRT-M .bin")).to_have_text("A-01")
    assert _scroll_width(page) <= 390

    page.keyboard.type(SHIRT, delay=0)
    page.keyboard.press("Enter")
    expect(page.locator("#last-scan")).to_contain_text("→ bin A-01")
    page.fill("#scan-bin", "B-07")
    page.focus("#scan-barcode")
    page.keyboard.type(SHIRT, delay=0)
    page.keyboard.press("Enter")
    expect(page.locator("#last-scan")).to_contain_text("→ bin B-07")
    expect(page.locator("#scan-form")).to_have_attribute("data-pending", "0")

    held = dict(BinStock.objects.values_list("bin__code", "quantity"))
    assert held == {"A-01": 5, "B-07": 1}
    assert _scroll_width(page) <= 390
    screenshot(page, "handheld-receiving-bins")


def test_handheld_stock_page_shows_bins_and_moves_between_them(
    live_server, handheld_page, warehouse_user, site
):
    level = site.stock_levels.get()
    page = handheld_page
    login(page, live_server.url, "warehouse", f"/warehouse/stock/{level.pk}/")
    expect(page.locator("#level-bins")).to_contain_text("A-01")
    expect(page.locator("#unbinned")).to_have_text("1")
    assert _scroll_width(page) <= 390

    page.fill("#bin-move-form [name=to_bin]", "B-07")
    page.fill("#bin-move-form [name=quantity]", "3")
    page.click("#bin-move-form button[type=submit]")

    expect(page.locator("#level-bins")).to_contain_text("B-07")
    assert dict(BinStock.objects.values_list("bin__code", "quantity")) == {"A-01": 1, "B-07": 3}
    assert _scroll_width(page) <= 390
    screenshot(page, "handheld-stock-bins")


def test_handheld_bins_list_fits_the_screen(live_server, handheld_page, warehouse_user, site):
    page = handheld_page
    login(page, live_server.url, "warehouse", "/warehouse/bins/")
    expect(page.locator("#bins")).to_contain_text("B-07")
    assert _scroll_width(page) <= 390
    screenshot(page, "handheld-bins-list")
