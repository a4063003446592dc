"""Issue 21's acceptance on a handheld (Chromium at 390×844): a warehouse user picks a wave
of three orders by scanning bins and items (one short pick), packs one order into two
parcels at the pack station (a wrong item refused), buys and prints the labels from a real
sandbox process answering as DHL Parcel DE (the label PDF names both tracking numbers),
and the desk shows both parcels with their weights, dimensions and tracking numbers."""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
import time

import httpx
import pytest
from django.db import transaction
from playwright.sync_api import expect
from pypdf import PdfReader

from logistics.models import Parcel, PickWave, Shipment
from tests.backoffice.browser import login, screenshot
from tests.fixtures.live import ROOT, _free_port
from tests.logistics.pack_world import boxes
from tests.logistics.picking_world import channel_for, own_site, shipment_of, stocked

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DOCS = ROOT / "docs" / "screenshots"
# sku: (barcode, {bin: units put away})
STOCK = {
    "TEE-M": ("8710000000011", {"A-01": 6}),
    "MUG-W": ("8710000000028", {"A-02": 4}),
    "CAP-B": ("8710000000035", {"A-03": 3}),
}
NAMES = {"TEE-M": "Cotton tee M", "MUG-W": "Enamel mug white", "CAP-B": "Wool cap black"}


@pytest.fixture
def carrier_sandbox(settings, karrio_loaded):
    """`manage.py run_lsp_sandbox` as its own process: the carrier the labels come from."""
    port = _free_port()
    process = subprocess.Popen(  # noqa: S603 - our own interpreter, fixed arguments
        [
            sys.executable, "manage.py", "run_lsp_sandbox", "--port", str(port),
            "--no-webhooks", "--state", ":memory:", "--step-seconds", "3600",
        ],
        cwd=ROOT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(f"{url}/", timeout=1)
            break
        except httpx.TransportError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail("the sandbox did not start")
            time.sleep(0.2)
    settings.LSP_SANDBOX_URL = url
    yield url
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture
def world(carrier_sandbox, warehouse_user):
    from demo.carriers import demo_carrier_ensure
    from orders.services.fulfilment import order_fulfil
    from tests.inventory.helpers import order_with_lines

    demo_carrier_ensure()
    site = own_site("ams-own", bins=(("A-01", "A", 10), ("A-02", "A", 20), ("A-03", "A", 30)))
    products = {
        sku: stocked(sku, site, placement, barcode=barcode)
        for sku, (barcode, placement) in STOCK.items()
    }
    for sku, product in products.items():
        product.name = NAMES[sku]
        product.save(update_fields=["name"])
    boxes()
    channel = channel_for(site, code="pack-web")
    orders = []
    for lines in (
        [("TEE-M", 2), ("MUG-W", 1)],  # packed into two parcels
        [("CAP-B", 2)],  # the short pick: the picker finds one cap of the three booked in its bin
        [("TEE-M", 1)],
    ):
        order = order_with_lines(channel, [(products[s], n) for s, n in lines])
        with transaction.atomic():
            order_fulfil(order=order, actor="test")
        orders.append(order)
    return {"site": site, "orders": orders, "products": products}


def _submit(page, selector: str, value: str) -> None:
    page.fill(selector, value)
    with page.expect_navigation():
        page.press(selector, "Enter")


def _pick_wave(page, short_sku: str) -> None:
    """Walk the wave: scan each bin, then each item; one cap is missing in its bin."""
    for _ in range(20):
        if page.locator("#pick-done").count():
            return
        bin_code = page.locator("#pick-bin").evaluate("e => e.firstChild.textContent.trim()")
        sku = page.locator("#pick-item strong").inner_text()
        if not page.locator("#pick-bin.done").count():
            _submit(page, "#scan", bin_code)
        picked, wanted = (int(n) for n in page.locator("#pick-qty").inner_text().split("/"))
        barcode = STOCK[sku][0]
        if sku == short_sku:
            _submit(page, "#scan", barcode)  # the one cap found
            page.click("#pick-short summary")
            page.fill("#found", "1")
            with page.expect_navigation():
                page.click("#pick-short button[type=submit]")
            expect(page.locator("#messages")).to_contain_text("Short: 1 of CAP-B missing")
            continue
        for _ in range(wanted - picked):
            _submit(page, "#scan", barcode)
    pytest.fail("the wave did not finish")


def test_pick_a_wave_pack_two_parcels_print_labels_and_see_them_on_the_desk(
    live_server, handheld_page, world
):
    page = handheld_page
    first = world["orders"][0]

    # --- Pick: build the wave, walk it by scanning bins and items ----------------------
    login(page, live_server.url, "warehouse", "/warehouse/waves/")
    with page.expect_navigation():
        page.click("#wave-build button[type=submit]")
    wave = PickWave.objects.get(warehouse=world["site"])
    assert Shipment.objects.filter(pick_wave=wave).count() == 3
    page.goto(f"{live_server.url}/warehouse/pick/{wave.pk}/")
    expect(page.locator("#scan")).to_be_focused()
    screenshot(page, "pick-handheld")
    _pick_wave(page, short_sku="CAP-B")
    shipment = shipment_of(first, world["site"])
    assert shipment.status == Shipment.Status.PICKED

    # --- Pack: the shipment, a large box, two tees; a wrong item refused ---------------
    page.goto(f"{live_server.url}/warehouse/pack/")
    expect(page.locator("#scan")).to_be_focused()
    _submit(page, "#scan", f"SHP-{shipment.pk}")
    page.select_option("#box", "L")
    with page.expect_navigation():
        page.click("#pack-box button[type=submit]")
    expect(page.locator("#scan")).to_be_focused()
    for _ in range(2):
        _submit(page, "#scan", STOCK["TEE-M"][0])
    _submit(page, "#scan", STOCK["CAP-B"][0])
    expect(page.locator("#messages")).to_contain_text("Wrong item: CAP-B is not in")
    shots = {"pack-station-wrong-item": screenshot(page, "pack-station-wrong-item")}
    # The mug in a second, small parcel; each parcel weighed (a scale types + Enter).
    page.select_option("#box", "S")
    with page.expect_navigation():
        page.click("#pack-box button[type=submit]")
    _submit(page, "#scan", STOCK["MUG-W"][0])
    _submit(page, "#weight-1", "2400")
    _submit(page, "#weight-2", "900")
    expect(page.locator("#pack-progress")).to_have_text("3 / 3")
    shots["pack-station"] = screenshot(page, "pack-station")

    # --- Labels: bought from the sandbox carrier, printed ------------------------------
    with page.expect_navigation():
        page.click("#buy-labels")
    expect(page.locator("#messages")).to_contain_text("Labels bought")
    numbers = list(
        Parcel.objects.filter(shipment=shipment)
        .order_by("position")
        .values_list("tracking_number", flat=True)
    )
    assert len(numbers) == 2
    assert all(numbers)
    assert numbers[0] != numbers[1]
    expect(page.locator("#pack-parcels")).to_contain_text(numbers[0])
    href = page.locator("#print-labels").get_attribute("href")
    label = page.request.get(f"{live_server.url}{href}")
    assert label.headers["content-type"] == "application/pdf"
    text = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(label.body())).pages)
    for number in numbers:
        assert number in text
    slip = page.request.get(f"{live_server.url}{page.locator('#print-slip').get_attribute('href')}")
    slip_text = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(slip.body())).pages)
    assert first.number in slip_text
    shots["pack-station-labels"] = screenshot(page, "pack-station-labels")
    shipment.refresh_from_db()
    assert shipment.status == Shipment.Status.PACKED

    # --- The desk: both parcels with weight, dimensions and tracking number ------------
    page.goto(f"{live_server.url}/desk/orders/{first.number}/")
    cell = page.locator("td.parcels").first
    expect(cell).to_contain_text(f"2400 g, 600×400×300 mm, {numbers[0]}")
    expect(cell).to_contain_text(f"900 g, 300×200×100 mm, {numbers[1]}")
    shots["pack-desk-parcels"] = screenshot(page, "pack-desk-parcels")
    for name, path in shots.items():
        shutil.copyfile(path, DOCS / f"{name}.png")
