"""Cancelling the unshipped rest of a partially shipped order from the desk's order page,
in headless Chromium (issue 16 item 12)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from inventory.models import Allocation, StockLevel
from logistics.models import DispatchOutbox, Shipment
from orders.models import Order
from tests.backoffice.browser import login
from tests.inventory.factories import ProductFactory, StockLevelFactory, WarehouseFactory
from tests.logistics.factories import ProviderFactory, ShipmentFactory
from tests.orders.factories import ChannelFactory, OrderFactory, OrderLineFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _partially_shipped_order() -> Order:
    """Line 1 (1 × MUG-BLUE) in transit; line 2 (2 × CAP-RED) reserved, its shipment queued."""
    provider = ProviderFactory(code="sandbox", name="Sandbox Parcel")
    order = OrderFactory(
        channel=ChannelFactory(code="webshop", name="Web Shop"),
        status=Order.Status.PARTIALLY_SHIPPED,
    )
    shipped = OrderLineFactory(order=order, line_number=1, sku="MUG-BLUE", quantity=1)
    shipped.quantity_shipped = 1
    shipped.save(update_fields=["quantity_shipped"])
    left = timezone.now() - dt.timedelta(hours=5)
    first = ShipmentFactory(
        order=order,
        provider=provider,
        status="in_transit",
        provider_reference="SBX-1",
        dispatched_at=left,
        shipped_at=left,
    )
    first.lines.create(order_line=shipped, quantity=1)
    warehouse = WarehouseFactory(code="AMS-2")
    product = ProductFactory(sku="CAP-RED")
    waiting = OrderLineFactory(
        order=order, line_number=2, sku="CAP-RED", product=product, quantity=2
    )
    StockLevelFactory(product=product, warehouse=warehouse, on_hand=10, reserved=2)
    Allocation.objects.create(order_line=waiting, warehouse=warehouse, quantity=2)
    rest = ShipmentFactory(order=order, provider=provider, warehouse=warehouse, status="pending")
    rest.lines.create(order_line=waiting, quantity=2)
    DispatchOutbox.objects.create(shipment=rest, next_attempt_at=timezone.now())
    return order


def test_agent_cancels_the_rest_of_a_partially_shipped_order(live_server, browser_page, agent):
    order = _partially_shipped_order()
    page = browser_page
    confirmations: list[str] = []

    def accept(dialog) -> None:
        confirmations.append(dialog.message)
        dialog.accept()

    page.on("dialog", accept)
    login(page, live_server.url, "agent", f"/desk/orders/{order.number}/")

    expect(page.locator("#cancel-form")).to_have_count(0)
    form = page.locator("#cancel-rest-form")
    expect(form).to_contain_text("2 units have not shipped")
    form.locator("input[name=reason]").fill("Customer does not want to wait")
    form.locator("input[name=confirm]").check()
    form.get_by_role("button", name="Cancel the rest").click()

    expect(page.locator("#messages")).to_contain_text(
        f"The unshipped rest of order {order.number} is cancelled."
    )
    assert len(confirmations) == 1, confirmations
    assert "2 units" in confirmations[0]
    expect(page.locator("#cancel-rest-form")).to_have_count(0)
    expect(page.locator("#customer-line")).to_contain_text(
        "2 items of your order were cancelled and will not be sent."
    )
    expect(page.locator("#timeline")).to_contain_text("Unshipped rest cancelled")
    expect(page.locator("#timeline")).to_contain_text("2 × CAP-RED will not be sent")
    # Line 2: ordered 2, allocated 0, shipped 0, delivered 0, returned 0, cancelled 2.
    cells = page.locator("#lines tbody tr").nth(1).locator("td")
    expect(cells.nth(7)).to_have_text("2")

    order.refresh_from_db()
    assert order.status == Order.Status.SHIPPED
    assert order.lines.get(line_number=2).quantity_cancelled == 2
    assert Shipment.objects.filter(order=order, status="cancelled").count() == 1
    level = StockLevel.objects.get(product__sku="CAP-RED")
    assert (level.on_hand, level.reserved) == (10, 0)
