"""The router inside allocation: published rules decide, with cost and promise, and the
decision is explained on the order's timeline and the desk."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from inventory.models import Allocation
from logistics.models import Provider
from orders.models import Order, OrderEvent
from orders.services.allocation import order_allocate
from routing.models import Rule
from routing.services.rulesets import rule_save, ruleset_draft_create, ruleset_publish
from tests.economics.test_expected_cost import active_card
from tests.inventory.factories import WarehouseFactory
from tests.inventory.helpers import channel_with_warehouses, order_with_lines, product, stock
from tests.logistics.factories import ProviderFactory

pytestmark = pytest.mark.django_db
S = Order.Status


@pytest.fixture
def world():
    """Two LSP sites: `dear` first in the channel's priority, `cheap` with the lower card."""
    dear_lsp = ProviderFactory(code="lsp-dear")
    cheap_lsp = ProviderFactory(code="lsp-cheap")
    active_card(dear_lsp, fee="6.00")
    active_card(cheap_lsp, fee="1.00")
    dear = WarehouseFactory(code="dear", kind="lsp", provider=dear_lsp, country="NL")
    cheap = WarehouseFactory(code="cheap", kind="lsp", provider=cheap_lsp, country="NL")
    channel = channel_with_warehouses("web", [dear, cheap])
    shirt = product("SHIRT")
    stock(shirt, dear, 10)
    stock(shirt, cheap, 10)
    return channel, dear, cheap, shirt


def publish(*rules: dict, **defaults) -> None:
    draft = ruleset_draft_create(name="test", actor="test")
    for field, value in defaults.items():
        setattr(draft, field, value)
    draft.save()
    for fields in rules:
        rule_save(rule_set_id=draft.pk, rule=Rule(**fields))
    ruleset_publish(rule_set_id=draft.pk, actor="manager")


def allocated_at(order) -> set[str]:
    return set(
        Allocation.objects.filter(order_line__order=order, status="active").values_list(
            "warehouse__code", flat=True
        )
    )


def routing_of(order) -> dict:
    event = OrderEvent.objects.filter(order=order, type=OrderEvent.Type.ALLOCATED).latest("id")
    return event.parameters["routing"]


def test_without_a_published_rule_set_the_channel_priority_decides(world):
    channel, dear, cheap, shirt = world
    order = order_allocate(order=order_with_lines(channel, [(shirt, 1)]))
    assert order.status == S.ALLOCATED
    assert allocated_at(order) == {"dear"}
    why = routing_of(order)
    assert why["rule_set"] is None
    assert why["objective"] == "priority"
    assert [a["site"] for a in why["alternatives"]] == ["cheap"]
    assert why["alternatives"][0]["cost_difference"] == "-5.00"


def test_cheapest_objective_picks_the_lower_rate_card(world):
    channel, dear, cheap, shirt = world
    publish(default_objective="cheapest")
    order = order_allocate(order=order_with_lines(channel, [(shirt, 2)]))
    assert allocated_at(order) == {"cheap"}
    why = routing_of(order)
    assert why["chosen"]["sites"] == [{"site": "cheap", "provider": "lsp-cheap"}]
    # Fulfilment 1.00 + one extra pick 0.30 + parcel 5.00.
    assert why["chosen"]["cost"] == "6.30"
    assert why["alternatives"][0] == {
        "site": "dear",
        "provider": "lsp-dear",
        "cost": "11.30",
        "currency": "EUR",
        "cost_difference": "5.00",
        "ship_by": why["chosen"]["ship_by"],
        "promised_delivery_date": why["chosen"]["promised_delivery_date"],
        "why_not": "costs more",
    }
    ship_by = dt.date.fromisoformat(why["chosen"]["ship_by"])
    promised = dt.date.fromisoformat(why["chosen"]["promised_delivery_date"])
    assert timezone.localdate() <= ship_by <= promised


def test_the_first_matching_rule_decides_and_exclusions_hold(world):
    channel, dear, cheap, shirt = world
    publish(
        {"name": "Germany via dear", "countries": ["DE"], "action": "only", "sites": ["dear"]},
        {"name": "Never cheap", "action": "exclude", "providers": ["lsp-cheap"]},
        default_objective="cheapest",
    )
    to_de = order_allocate(order=order_with_lines(channel, [(shirt, 1)], shipping_country="DE"))
    to_nl = order_allocate(order=order_with_lines(channel, [(shirt, 1)], shipping_country="NL"))
    assert allocated_at(to_de) == {"dear"}
    assert routing_of(to_de)["rule"]["name"] == "Germany via dear"
    assert allocated_at(to_nl) == {"dear"}  # cheapest, but cheap's provider is excluded
    assert routing_of(to_nl)["alternatives"][0]["why_not"] == "excluded by the rule"


def test_ship_complete_reserves_nothing_when_no_single_site_holds_the_order(world):
    channel, dear, cheap, shirt = world
    hat = product("HAT")
    stock(hat, cheap, 1)
    publish(default_split_policy="complete")
    order = order_allocate(order=order_with_lines(channel, [(shirt, 12), (hat, 1)]))
    assert order.status == S.BACKORDERED
    assert allocated_at(order) == set()
    event = OrderEvent.objects.filter(order=order, type=OrderEvent.Type.BACKORDERED).latest("id")
    assert "ships complete" in event.parameters["reason"]


def test_an_inactive_provider_site_is_never_promised(world):
    channel, dear, cheap, shirt = world
    Provider.objects.filter(code="lsp-dear").update(is_active=False)
    order = order_allocate(order=order_with_lines(channel, [(shirt, 1)]))
    why = routing_of(order)
    # The channel's priority still decides (today's behaviour), but its promise is empty.
    assert allocated_at(order) == {"dear"}
    assert why["chosen"]["promised_delivery_date"] is None


def test_the_desk_says_why_this_warehouse_and_shows_costs_only_to_managers(
    world, client, agent, manager
):
    channel, dear, cheap, shirt = world
    publish({"name": "Cheap first", "action": "prefer", "sites": ["cheap"]})
    order = order_allocate(order=order_with_lines(channel, [(shirt, 1)]))
    client.force_login(agent)
    page = client.get(f"/desk/orders/{order.number}/").content.decode()
    assert "Why this warehouse" in page
    assert "rule #1 “Cheap first”" in page
    assert "cheap via lsp-cheap" in page
    assert "dear via lsp-dear" in page
    assert "costs more" in page
    assert "EUR 5.00" not in page
    assert "expected EUR" not in page
    client.force_login(manager)
    page = client.get(f"/desk/orders/{order.number}/").content.decode()
    assert "expected EUR 6.00" in page
    assert "EUR 5.00" in page  # dear would have cost 5.00 more
