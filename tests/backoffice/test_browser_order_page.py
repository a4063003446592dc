"""The desk's order page in headless Chromium (issue 16 item 12): the customer line, the
timeline filter, and the address form's error with the input kept."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from orders import events, shipment_events
from orders.models import Order
from tests.backoffice.browser import login, screenshot
from tests.logistics.factories import (
    ProviderFactory,
    ServiceLevelFactory,
    ShipmentFactory,
    TrackingEventFactory,
)
from tests.orders.factories import ChannelFactory, OrderFactory, OrderLineFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _order_on_its_way(agent) -> Order:
    """A shipped order, its parcel in transit, with the history an order like it has."""
    channel = ChannelFactory(code="webshop", name="Web Shop")
    provider = ProviderFactory(code="sandbox", name="Sandbox Parcel")
    level = ServiceLevelFactory(provider=provider, name="Standard", max_transit_hours=48)
    order = OrderFactory(
        channel=channel,
        status=Order.Status.SHIPPED,
        service_level=level,
        customer_name="Margot Lemaire",
        shipping_city="Lyon",
        shipping_postcode="69002",
        shipping_country="FR",
    )
    line = OrderLineFactory(order=order, line_number=1, sku="MUG-BLUE", quantity=2)
    line.quantity_shipped = 2
    line.save(update_fields=["quantity_shipped"])
    left = timezone.now() - dt.timedelta(hours=5)
    shipment = ShipmentFactory(
        order=order,
        provider=provider,
        service_level=level,
        status="in_transit",
        tracking_number="SBX00012345678",
        provider_reference="SBX-1",
        dispatched_at=left,
        shipped_at=left,
    )
    shipment.lines.create(order_line=line, quantity=2)
    events.order_received_event(order=order, actor="api:csk_live_9f3a")
    events.stock_allocated_event(
        order=order,
        strategy="single",
        reason="All lines from one warehouse.",
        allocations=[{"line": 1, "sku": "MUG-BLUE", "warehouse": "AMS-1", "quantity": 2}],
        actor="system",
    )
    shipment_events.shipment_created_event(shipment=shipment, actor="system:dispatch")
    shipment_events.shipment_dispatched_event(shipment=shipment, attempts=1)
    TrackingEventFactory(
        shipment=shipment,
        status="in_transit",
        occurred_at=left,
        description="Parcel sorted",
        location="Lyon hub",
    )
    events.note_added_event(order=order, text="Customer asked when it arrives", user=agent)
    return order


def test_agent_reads_the_customer_line_and_filters_the_timeline(live_server, browser_page, agent):
    order = _order_on_its_way(agent)
    page = browser_page
    login(page, live_server.url, "agent", f"/desk/orders/{order.number}/")

    line = page.locator("#customer-line")
    expect(line).to_contain_text("Your parcel is on its way with Sandbox Parcel")
    expect(line).to_contain_text("SBX00012345678")
    expect(page.locator("#expected-delivery")).not_to_contain_text("not yet known")
    timeline = page.locator("#timeline")
    expect(timeline).to_contain_text("Partner API (Web Shop)")
    expect(timeline).to_contain_text("2 × MUG-BLUE from AMS-1")
    expect(timeline).not_to_contain_text("csk_live")
    expect(timeline).not_to_contain_text("'sku'")
    # Newest first: the agent's note is on top.
    expect(timeline.locator("li").first).to_contain_text("Customer asked when it arrives")
    screenshot(page, "desk-order-page")

    timeline.get_by_role("link", name="Shipments").click()
    expect(page.locator("#timeline [aria-current]")).to_have_text("Shipments")
    items = timeline.locator("ol li")
    expect(items.first).to_contain_text("Sent to the carrier")
    expect(items.last).to_contain_text("Tracking: In transit")
    texts = items.evaluate_all("(els) => els.map((el) => el.dataset.kind + ' ' + el.innerText)")
    assert all(text.startswith("shipments") for text in texts), texts
    expect(timeline).not_to_contain_text("Customer asked when it arrives")
    screenshot(page, "desk-order-timeline-shipments")

    timeline.get_by_role("link", name="Notes").click()
    expect(timeline.locator("ol li")).to_have_count(1)
    expect(timeline).to_contain_text("Customer asked when it arrives")


def test_address_form_error_keeps_what_the_agent_typed(live_server, browser_page, agent):
    order = OrderFactory(status=Order.Status.ALLOCATED, shipping_country="NL")
    OrderLineFactory(order=order, line_number=1)
    page = browser_page
    page.on("dialog", lambda dialog: dialog.accept())
    login(page, live_server.url, "agent", f"/desk/orders/{order.number}/")

    page.get_by_role("link", name="Change address").click()
    page.fill("input[name=shipping_name]", "Jeanne Martin")
    page.fill("input[name=shipping_line1]", "1 rue de Rivoli")
    page.fill("input[name=shipping_city]", "Paris")
    page.fill("input[name=shipping_postcode]", "ABCDEFG")
    page.select_option("select[name=shipping_country]", label="France (FR)")
    page.click("form.bo-form button[type=submit]")

    error = page.locator(".errorlist")
    expect(error).to_contain_text("Not a postcode of France")
    expect(page.locator("input[name=shipping_line1]")).to_have_value("1 rue de Rivoli")
    expect(page.locator("input[name=shipping_postcode]")).to_have_value("ABCDEFG")
    expect(page.locator("select[name=shipping_country]")).to_have_value("FR")
    # The error sits with the postcode field, not somewhere else on the page.
    field = page.locator("div", has=page.locator("input[name=shipping_postcode]")).last
    expect(field.locator(".errorlist")).to_contain_text("Not a postcode of France")
    screenshot(page, "desk-address-error")

    page.fill("input[name=shipping_postcode]", "75001")
    page.click("form.bo-form button[type=submit]")
    expect(page.locator("#messages .success")).to_contain_text("Shipping address changed")
    order.refresh_from_db()
    assert (order.shipping_postcode, order.shipping_country) == ("75001", "FR")
    timeline = page.locator("#timeline")
    expect(timeline).to_contain_text("Shipping address changed")
    expect(timeline).to_contain_text("to “Jeanne Martin, 1 rue de Rivoli, 75001 Paris, France”")
