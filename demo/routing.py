"""Routing in the demo: site calendars, transit times, a published rule set and a draft.

The demo's three sites (our own Tilburg site in NL, the sandbox 3PL's Venlo site in NL
and FulfilNet's Erfurt site in DE) get calendars, their providers transit times, Tilburg
a handling cost, every channel all three sites, a few products tags, and a published
rule set whose rules route by destination (docs/routing.md, "The demo"); a draft copy
with one rule changed gives the what-if something to compare. Written once: a database
that has the demo rule set keeps whatever staff changed since.

`route_preferences` is how the bulk generator (demo/plans.py) follows the published
rules without a query per order: the real router decides one representative order per
channel and destination, and generated orders ship from its choice.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from decimal import Decimal

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from demo import pools
from demo.world import DemoWorld
from inventory.models import Product, Warehouse, WarehouseHoliday
from logistics.models import TransitTime
from logistics.promise_tables import promise_tables_load
from orders.models import ChannelWarehouse, Order
from orders.services.allocation_policy import AllocationLine
from routing.models import Rule, RuleSet, SiteCost
from routing.router import decision_for
from routing.services.rulesets import rule_save, ruleset_draft_create, ruleset_publish
from routing.tables import tables_load

DEMO_RULE_SET = "Demo routing"
DEMO_DRAFT = "Demo routing: Benelux from Venlo (what-if)"
ACTOR = "seed_demo"

# code -> (time zone, local cut-off, ISO working days)
CALENDARS = {
    "tilburg": ("Europe/Amsterdam", dt.time(16, 0), [1, 2, 3, 4, 5]),
    "sandbox-venlo": ("Europe/Amsterdam", dt.time(18, 0), [1, 2, 3, 4, 5, 6]),
    "fulfilnet-erfurt": ("Europe/Berlin", dt.time(15, 0), [1, 2, 3, 4, 5]),
}
# Public holidays a site does not ship on: (month, day, name), this year and next.
HOLIDAYS = {
    "NL": [(4, 27, "King's Day"), (12, 25, "Christmas"), (12, 26, "Boxing Day"), (1, 1, "New Year")],
    "DE": [(10, 3, "German Unity Day"), (12, 25, "Christmas"), (12, 26, "Second Christmas Day"),
           (1, 1, "New Year")],
}  # fmt: skip
# provider -> [(service level code or None for any, countries (empty: every other), days)]
TRANSIT = {
    "sandbox": [
        (None, ["NL"], 1),
        (None, ["BE", "LU", "DE"], 2),
        (None, ["FR", "AT", "DK", "IT", "ES", "PT", "PL", "CZ", "SE", "IE"], 3),
        (None, [], 4),
        ("express", ["NL", "BE", "LU", "DE"], 1),
        ("express", [], 2),
    ],
    "fulfilnet": [
        (None, ["DE"], 1),
        (None, ["AT", "NL", "BE", "LU", "PL", "CZ", "DK"], 2),
        (None, ["FR", "IT", "ES", "PT", "SE", "IE"], 3),
        (None, [], 5),
        ("economy", ["DE"], 2),
        ("economy", [], 6),
    ],
}
# What handling an order costs at our own site (the LSP sites' cost is on their cards).
OWN_SITE_COST = ("tilburg", Decimal("1.10"), Decimal("0.20"), "EUR")
# SKU family prefix -> tags (demo/pools.py PRODUCT_FAMILIES).
TAGS = {"MUG": ["fragile"], "PLT": ["fragile"], "LMP": ["fragile"], "CND": ["fragile"],
        "YGM": ["bulky"], "BLK": ["bulky"]}  # fmt: skip

RULES = [
    Rule(name="Bulky goods by road from Erfurt", tags=["bulky"], action="prefer",
         sites=["fulfilnet-erfurt"], objective="priority"),
    Rule(name="Fragile goods packed at our own site", tags=["fragile"],
         countries=["NL", "BE", "LU", "DE", "AT"], action="prefer", sites=["tilburg"],
         objective="priority"),
    Rule(name="Outside the EU: one parcel, one customs declaration", customs_required=True,
         split_policy="complete", objective="fastest"),
    Rule(name="Germany and Austria from Erfurt", countries=["DE", "AT"], action="prefer",
         sites=["fulfilnet-erfurt"], objective="cheapest"),
    Rule(name="Benelux from our own Tilburg site", countries=["NL", "BE", "LU"],
         action="prefer", sites=["tilburg"], objective="priority"),
]  # fmt: skip
# The draft changes one rule: the Benelux goes to the Venlo 3PL.
DRAFT_CHANGE = (
    "Benelux from our own Tilburg site",
    {"name": "Benelux from the Venlo 3PL", "sites": ["sandbox-venlo"]},
)


def _calendars_ensure(warehouses: dict[str, Warehouse], today: dt.date) -> None:
    for code, (zone, cutoff, days) in CALENDARS.items():
        warehouse = warehouses.get(code)
        if warehouse is None:
            continue
        Warehouse.objects.filter(pk=warehouse.pk).update(
            timezone=zone, cutoff_time=cutoff, working_days=days
        )
        holidays = [
            WarehouseHoliday(warehouse=warehouse, date=dt.date(year, month, day), name=name)
            for year in (today.year, today.year + 1)
            for month, day, name in HOLIDAYS.get(warehouse.country, [])
        ]
        WarehouseHoliday.objects.bulk_create(holidays, ignore_conflicts=True)


def _transit_ensure(world: DemoWorld) -> None:
    for provider_code, rows in TRANSIT.items():
        provider = world.providers.get(provider_code)
        if provider is None or TransitTime.objects.filter(provider=provider).exists():
            continue
        levels = {level.code: level for level in world.service_levels.get(provider_code, [])}
        TransitTime.objects.bulk_create(
            TransitTime(
                provider=provider,
                service_level=levels[level] if level else None,
                countries=countries,
                days=days,
            )
            for level, countries, days in rows
            if level is None or level in levels
        )


def _eligibility_ensure(world: DemoWorld) -> dict[str, list[str]]:
    """Every channel may ship from every demo site: missing ones go last in its priority."""
    for channel in world.channels.values():
        have = set(channel.fulfilment_rules.values_list("warehouse_id", flat=True))
        last = channel.fulfilment_rules.aggregate(p=Max("priority"))["p"] or 0
        for warehouse in world.warehouses.values():
            if warehouse.pk not in have:
                last += 10
                ChannelWarehouse.objects.create(channel=channel, warehouse=warehouse, priority=last)
    return {
        code: [
            rule.warehouse.code
            for rule in channel.fulfilment_rules.select_related("warehouse").order_by("priority")
        ]
        for code, channel in world.channels.items()
    }


def _tags_ensure(products: list[Product]) -> None:
    tagged = []
    for product in products:
        tags = TAGS.get(product.sku.split("-", 1)[0])
        if tags and not product.tags:
            product.tags = tags
            tagged.append(product)
    Product.objects.bulk_update(tagged, ["tags"])


def _rule_sets_ensure() -> tuple[RuleSet, RuleSet]:
    published = ruleset_draft_create(name=DEMO_RULE_SET, actor=ACTOR)
    published.default_objective = "cheapest_on_time"
    published.default_max_delivery_days = 4
    published.note = "The demo's routing: by destination, bulky and fragile goods, customs."
    published.save()
    for position, rule in enumerate(RULES, start=1):
        rule_save(rule_set_id=published.pk, rule=replace_rule(rule, position=position))
    published = ruleset_publish(rule_set_id=published.pk, actor=ACTOR)
    draft = ruleset_draft_create(name=DEMO_DRAFT, actor=ACTOR, based_on=published)
    name, changes = DRAFT_CHANGE
    changed = draft.rules.get(name=name)
    for field, value in changes.items():
        setattr(changed, field, value)
    rule_save(rule_set_id=draft.pk, rule=changed)
    return published, draft


def replace_rule(rule: Rule, *, position: int) -> Rule:
    """A fresh copy of a template rule (the module's templates are never saved)."""
    copy = Rule(position=position)
    for field in Rule._meta.concrete_fields:
        if field.name not in ("id", "rule_set", "position"):
            setattr(copy, field.attname, getattr(rule, field.attname))
    return copy


def demo_routing_ensure(*, world: DemoWorld) -> DemoWorld:
    """Calendars, transit times, site cost, eligibility, tags and the two demo rule sets,
    once (the demo rule set's existence says it was done). Returns the world with the
    channels' sites as they are now."""
    with transaction.atomic():
        if not RuleSet.objects.filter(name=DEMO_RULE_SET).exists():
            _calendars_ensure(world.warehouses, timezone.localdate())
            _transit_ensure(world)
            code, per_order, per_unit, currency = OWN_SITE_COST
            if code in world.warehouses:
                SiteCost.objects.get_or_create(
                    warehouse=world.warehouses[code],
                    defaults={"per_order": per_order, "per_unit": per_unit, "currency": currency},
                )
            _eligibility_ensure(world)
            _tags_ensure(world.products)
            _rule_sets_ensure()
    channel_warehouses = {
        code: [
            rule.warehouse.code
            for rule in channel.fulfilment_rules.select_related("warehouse").order_by("priority")
        ]
        for code, channel in world.channels.items()
    }
    return replace(world, channel_warehouses=channel_warehouses)


def route_preferences(*, world: DemoWorld, now: dt.datetime) -> dict[tuple[str, str], list[str]]:
    """(channel, destination country) -> site codes, best first, as the published rules
    route a typical one-line order with every site in stock (the router decides it)."""
    tables = tables_load()
    if tables.rule_set.version is None:
        return {}
    promises = promise_tables_load()
    product = next((p for p in world.products if not p.tags), world.products[0])
    line = AllocationLine(
        id=0,
        line_number=1,
        product_id=product.pk,
        sku=product.sku,
        quantity=1,
        taken=0,
        weight_grams=product.weight_grams,
        tags=[],
    )
    found: dict[tuple[str, str], list[str]] = {}
    for channel_code, site_codes in world.channel_warehouses.items():
        sites = [(world.warehouses[code].pk, code) for code in site_codes]
        for country in pools.COUNTRY_WEIGHTS:
            city, region, _ = pools.CITIES[country][0]
            order = Order(
                channel=world.channels[channel_code],
                currency=pools.CURRENCY.get(country, "EUR"),
                total_amount=Decimal("39.95"),
                shipping_city=city,
                shipping_region=region,
                shipping_postcode="",
                shipping_country=country,
                placed_at=now,
            )
            decision = decision_for(
                order=order,
                lines=[line],
                needs={product.pk: 1},
                sites=sites,
                available={(product.pk, pk): 1_000 for pk, _ in sites},
                tables=tables,
                promises=promises,
                at=now,
            )
            ranked = [row["site"] for row in decision.explanation["chosen"]["sites"]]
            ranked += [row["site"] for row in decision.explanation["alternatives"]]
            ranked += [code for code in site_codes if code not in ranked]
            found[(channel_code, country)] = ranked
    return found
