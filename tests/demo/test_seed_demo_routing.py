"""seed_demo and routing (issue 20 part 6): calendars, transit times, a published rule set
that routes by destination, a draft to compare it with, and past orders that follow it."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command

from demo import routing as demo_routing
from inventory.models import Allocation, Product, StockLevel, Warehouse
from logistics.models import TransitTime
from orders.models import Channel, Order, OrderEvent
from orders.services.intake import order_create
from routing.models import RuleSet, SiteCost
from tests.logistics.customs_data import customs_union_eu

pytestmark = pytest.mark.django_db

SITES = ["tilburg", "sandbox-venlo", "fulfilnet-erfurt"]
ADDRESSES = {
    "NL": {"name": "Sanne de Vries", "line1": "Oudegracht 12", "city": "Utrecht",
           "postcode": "3511 AB", "country": "NL"},
    "DE": {"name": "Jonas Weber", "line1": "Hauptstrasse 5", "city": "Leipzig",
           "postcode": "04109", "country": "DE"},
}  # fmt: skip


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def seeded(tmp_path):
    # A transaction=True test before this one flushed the union its migration made; rule 3
    # ("outside the EU") would then take every order that crosses from DE to NL.
    customs_union_eu()
    call_command("seed_demo", workers=1, invoice_dir=tmp_path, no_pricing=True, stdout=StringIO())


def _stocked_everywhere() -> Product:
    """An untagged product every demo site can ship a few of."""
    for product in Product.objects.filter(tags=[]).order_by("pk"):
        free = [
            level.on_hand - level.reserved
            for level in StockLevel.objects.filter(product=product, warehouse__code__in=SITES)
        ]
        if len(free) == len(SITES) and min(free) >= 5:
            return product
    raise AssertionError("no demo product is in stock at every site")


def _post(country: str, product: Product) -> Order:
    return order_create(
        channel=Channel.objects.get(code="webshop"),
        external_reference=f"ROUTE-{country}",
        currency="EUR",
        customer={"email": f"{country.lower()}@example.com", "name": "Demo Customer"},
        shipping_address=ADDRESSES[country],
        lines=[{"sku": product.sku, "quantity": 1, "unit_price": Decimal("24.95")}],
        actor="test",
    )


def test_seed_demo_publishes_a_rule_set_and_keeps_a_draft_with_one_rule_changed(seeded):
    published = RuleSet.objects.get(status=RuleSet.Status.PUBLISHED)
    draft = RuleSet.objects.get(status=RuleSet.Status.DRAFT)
    assert published.name == demo_routing.DEMO_RULE_SET
    assert published.default_objective == "cheapest_on_time"
    assert draft.based_on_id == published.pk
    before = {r.position: (r.name, r.sites) for r in published.rules.all()}
    after = {r.position: (r.name, r.sites) for r in draft.rules.all()}
    assert len(before) == len(demo_routing.RULES)
    assert [p for p in before if before[p] != after[p]] == [5]
    assert after[5] == ("Benelux from the Venlo 3PL", ["sandbox-venlo"])


def test_seed_demo_gives_every_site_a_calendar_and_every_channel_every_site(seeded):
    for warehouse in Warehouse.objects.filter(code__in=SITES):
        assert warehouse.timezone.startswith("Europe/")
        assert warehouse.holidays.count() >= 4
    assert Warehouse.objects.get(code="fulfilnet-erfurt").timezone == "Europe/Berlin"
    assert set(TransitTime.objects.values_list("provider__code", flat=True)) == {
        "sandbox",
        "fulfilnet",
    }
    assert SiteCost.objects.get().warehouse.code == "tilburg"
    for channel in Channel.objects.filter(code__in=["webshop", "marketplace", "wholesale"]):
        codes = set(channel.fulfilment_rules.values_list("warehouse__code", flat=True))
        assert codes == set(SITES)
    assert Product.objects.filter(tags__contains=["fragile"]).exists()
    assert Product.objects.filter(tags__contains=["bulky"]).exists()


def test_orders_posted_to_germany_and_the_netherlands_ship_from_different_sites(seeded):
    product = _stocked_everywhere()
    sites, why = {}, {}
    for country in ("NL", "DE"):
        order = _post(country, product)
        assert order.status in (Order.Status.ALLOCATED, Order.Status.IN_FULFILMENT)
        sites[country] = set(
            Allocation.objects.filter(order_line__order=order).values_list(
                "warehouse__code", flat=True
            )
        )
        event = OrderEvent.objects.get(order=order, type=OrderEvent.Type.ALLOCATED)
        assert event.parameters["routing"]["rule_set"] == 1
        why[country] = event.parameters["routing"]
    assert sites == {"NL": {"tilburg"}, "DE": {"fulfilnet-erfurt"}}, why
    rule = OrderEvent.objects.get(order__external_reference="ROUTE-DE", type="allocated")
    assert rule.parameters["routing"]["rule"]["name"] == "Germany and Austria from Erfurt"


def test_seeded_past_orders_ship_from_the_sites_the_rules_choose(seeded):
    shipped_from: dict[str, Counter[str]] = {}
    for country, code in Allocation.objects.values_list(
        "order_line__order__shipping_country", "warehouse__code"
    ):
        shipped_from.setdefault(country, Counter())[code] += 1
    assert shipped_from["DE"].most_common(1)[0][0] == "fulfilnet-erfurt"
    assert shipped_from["NL"].most_common(1)[0][0] == "tilburg"


def test_a_second_seed_leaves_the_routing_as_it_was(seeded, tmp_path):
    rule_sets = list(RuleSet.objects.values_list("pk", "status", "version"))
    transit = TransitTime.objects.count()
    call_command("seed_demo", workers=1, invoice_dir=tmp_path, no_pricing=True, stdout=StringIO())
    assert list(RuleSet.objects.values_list("pk", "status", "version")) == rule_sets
    assert TransitTime.objects.count() == transit
