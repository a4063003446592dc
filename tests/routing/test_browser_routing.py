"""Playwright (Chromium) on the demo's routing (issue 20 acceptance): a manager edits a rule
of the demo's draft, runs a what-if over the demo's past orders with a real worker, reads
the comparison and publishes the draft; an agent then sees "why this warehouse" on a new
order routed by it."""

from __future__ import annotations

import re
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from orders.models import Channel
from orders.services.intake import order_create
from routing.models import Rule, RuleSet
from routing.tasks import whatif_run_task
from tests.backoffice.browser import celery_worker_for, login, screenshot
from tests.demo.test_seed_demo_routing import ADDRESSES, _stocked_everywhere
from tests.logistics.customs_data import customs_union_eu

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def demo(tmp_path, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    customs_union_eu()  # an earlier transactional test may have flushed the migration's
    call_command("seed_demo", workers=1, invoice_dir=tmp_path, no_pricing=True, stdout=StringIO())


def test_a_manager_simulates_and_publishes_a_draft_and_an_agent_sees_why(
    live_server, browser_page, monkeypatch, demo, manager, agent
):
    draft = RuleSet.objects.get(status=RuleSet.Status.DRAFT)
    rule = draft.rules.get(position=5)
    page = browser_page
    page.on("dialog", lambda dialog: dialog.accept())
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    # The manager edits the draft's Benelux rule: cheapest instead of the default objective.
    login(page, live_server.url, "manager", "/ops/routing/")
    page.click(f"a[href='/ops/routing/{draft.pk}/']")
    page.click(f"#rule-{rule.pk} a:has-text('Edit')")
    page.select_option("#id_objective", "cheapest")
    page.click("form button[type=submit]:has-text('Save')")
    page.wait_for_url(f"**/ops/routing/{draft.pk}/")
    expect(page.locator(f"#rule-{rule.pk} .rule-actions")).to_contain_text("cheapest")
    assert Rule.objects.get(pk=rule.pk).objective == "cheapest"

    # A what-if of the draft over the demo's past orders, run by a real worker.
    with celery_worker_for(monkeypatch, whatif_run_task):
        page.click("#whatif-start button[type=submit]")
        page.wait_for_url(re.compile(r".*/ops/routing/whatif/\d+/$"))
        expect(page.locator("#job")).to_have_attribute("data-finished", "true", timeout=90_000)
        expect(page.locator("#job")).to_have_attribute("data-outcome", "done")
        page.click("text=Show the comparison")
    expect(page.locator("#whatif-figures")).to_be_visible()
    expect(page.locator("#whatif-assumption")).to_contain_text("stock")
    simulated = page.locator("#whatif-volumes td[data-side=simulated]").all_inner_texts()
    assert sum(int(n.replace(",", "")) for n in simulated) > 0
    screenshot(page, "routing-whatif-demo")

    # Publish the draft: the version in force is retired, who and when recorded.
    page.goto(f"{live_server.url}/ops/routing/{draft.pk}/")
    page.check("#publish input[type=checkbox]")
    page.click("#publish button[type=submit]")
    expect(page.locator("#ruleset-summary")).to_contain_text("In force")
    draft.refresh_from_db()
    assert (draft.status, draft.published_by) == ("published", "manager")
    assert RuleSet.objects.filter(status=RuleSet.Status.RETIRED).count() == 1
    screenshot(page, "routing-published")

    # A new Benelux order is routed by the published rule; the agent reads why.
    order = order_create(
        channel=Channel.objects.get(code="webshop"),
        external_reference="BROWSER-NL",
        currency="EUR",
        customer={"email": "nl@example.com", "name": "Demo Customer"},
        shipping_address=ADDRESSES["NL"],
        lines=[{"sku": _stocked_everywhere().sku, "quantity": 1, "unit_price": Decimal("9.95")}],
        actor="test",
    )
    page.context.clear_cookies()
    login(page, live_server.url, "agent", f"/desk/orders/{order.number}/")
    why = page.locator("#why-warehouse")
    expect(why).to_contain_text(f"rule set v{draft.version}")
    expect(why).to_contain_text("Benelux from the Venlo 3PL")
    expect(page.locator("#why-chosen")).to_contain_text("via")
    expect(why).not_to_contain_text("expected EUR")  # costs are for managers
    screenshot(page, "routing-why-this-warehouse")
    assert errors == []
