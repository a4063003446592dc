"""Returns in a real browser: the desk's return form and the warehouse's receipt screen."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from returns.models import ReturnRequest
from returns.services import return_label_issue
from tests.backoffice.browser import login, screenshot
from tests.returns.helpers import FakeReturnAdapter, delivered_order

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_agent_requests_and_warehouse_receives_a_return(
    live_server, browser_page, agent, warehouse_user
):
    order = delivered_order(quantities=(2, 1))
    page = browser_page
    url = f"/desk/orders/{order.number}/"
    login(page, live_server.url, "agent", url)
    form = page.locator("#return-form")
    form.locator("input[name=qty_1]").fill("1")
    form.locator("select[name=reason_1]").select_option("size_fit")
    form.locator("input[name=qty_2]").fill("1")
    form.locator("select[name=reason_2]").select_option("damaged")
    form.locator("button[type=submit]").click()
    expect(page.locator("#returns")).to_contain_text("RMA-")
    expect(page.locator("#timeline")).to_contain_text("Return requested")
    return_request = ReturnRequest.objects.get(order=order)
    return_label_issue(return_id=return_request.pk, adapter=FakeReturnAdapter())
    page.reload()
    expect(page.locator("#returns")).to_contain_text(f"RT-{return_request.original_shipment_id}")
    screenshot(page, "returns-desk-order")

    page.context.clear_cookies()
    receive = f"/warehouse/returns/{return_request.pk}/"
    login(page, live_server.url, "warehouse", receive)
    line1, line2 = return_request.lines.order_by("order_line__line_number")
    page.select_option(f"select[name=condition_{line1.pk}]", "as_new")
    page.select_option(f"select[name=disposition_{line1.pk}]", "restock")
    page.select_option(f"select[name=condition_{line2.pk}]", "damaged")
    page.select_option(f"select[name=disposition_{line2.pk}]", "quarantine")
    screenshot(page, "returns-receive-form")
    page.click("#receive-form button[type=submit]")
    expect(page.locator("h1 .badge")).to_have_text("Received and inspected")
    expect(page.locator("#receive-form")).to_contain_text("Refund due: 28.45 EUR")
    screenshot(page, "returns-received")
    order.refresh_from_db()
    assert order.status == "partially_returned"  # 2 of 3 units came back
