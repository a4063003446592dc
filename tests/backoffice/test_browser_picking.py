"""Picking a wave on a handheld (390 x 844): build the wave, scan bins and items, one
wrong item refused, one short pick handled (issue 21 part 2)."""

import pytest
from playwright.sync_api import expect

from logistics.models import PickTask, PickWave, Shipment
from orders.models import Order
from tests.backoffice.browser import login, screenshot
from tests.logistics.picking_world import channel_for, own_site, planned_order, stocked

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def three_orders():
    site = own_site("tilburg", bins=(("A-01", "A", 10), ("A-02", "A", 20), ("A-03", "A", 30)))
    shirt = stocked("SHIRT-M", site, {"A-01": 5}, barcode="5012345678900")
    socks = stocked("SOCKS-L", site, {"A-02": 2}, barcode="5012345678917")
    cap = stocked("CAP-1", site, {"A-03": 5}, barcode="5012345678924")
    channel = channel_for(site, code="shop")
    return [
        planned_order(channel, [(shirt, 1)]),
        planned_order(channel, [(socks, 2)]),
        planned_order(channel, [(cap, 1)]),
    ]


def _scan(page, code: str, *, then: str) -> None:
    """A scanner types into the focused field and presses Enter; wait for the answer."""
    expect(page.locator("#scan")).to_be_focused()
    page.keyboard.type(code, delay=0)
    page.keyboard.press("Enter")
    expect(page.locator("#messages")).to_contain_text(then)


def _fits(page) -> None:
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390


def test_picker_picks_a_wave_of_three_orders_with_one_short_pick(
    live_server, handheld_page, warehouse_user, three_orders
):
    page = handheld_page
    login(page, live_server.url, "warehouse", "/warehouse/waves/")
    page.click("#wave-build button[type=submit]")
    expect(page.locator("#messages")).to_contain_text("1 wave(s) built at tilburg")
    page.click("#waves a.button")
    expect(page.locator("#pick-progress")).to_have_text("1 of 3")
    expect(page.locator("#pick-bin")).to_contain_text("A-01")
    _fits(page)
    screenshot(page, "handheld-pick-bin")

    _scan(page, "A-01", then="Bin A-01")
    expect(page.locator("#pick-item")).to_contain_text("SHIRT-M")
    _scan(page, "5012345678900", then="SHIRT-M: all 1 picked")
    expect(page.locator("#pick-progress")).to_have_text("2 of 3")

    _scan(page, "A-02", then="Bin A-02")
    _scan(page, "5012345678924", then="Wrong item: that is CAP-1; pick SOCKS-L")
    _scan(page, "5012345678917", then="SOCKS-L: 1 of 2 picked")
    expect(page.locator("#pick-qty")).to_have_text("1 / 2")
    page.click("#pick-short summary")
    page.fill("#found", "1")
    page.click("#pick-short button[type=submit]")
    expect(page.locator("#messages")).to_contain_text("Short: 1 of SOCKS-L missing at A-02")
    expect(page.locator("#pick-progress")).to_have_text("3 of 3")

    _scan(page, "A-03", then="Bin A-03")
    _scan(page, "5012345678924", then="CAP-1: all 1 picked")
    expect(page.locator("#pick-done")).to_contain_text("Wave done")
    _fits(page)
    screenshot(page, "handheld-pick-done")

    wave = PickWave.objects.get()
    assert wave.status == PickWave.Status.DONE
    assert list(
        Shipment.objects.filter(pick_wave=wave).order_by("pk").values_list("status", flat=True)
    ) == ["picked", "picked", "picked"]
    short = PickTask.objects.get(status=PickTask.Status.SHORT)
    assert (short.product.sku, short.picked_quantity) == ("SOCKS-L", 1)
    socks_order = three_orders[1]
    socks_order.refresh_from_db()
    assert socks_order.status == Order.Status.BACKORDERED
