"""The router allocation calls (orders.hooks.router): order facts in, a plan out.

Turns the order and its candidate sites into routing.engine's plain inputs, with an
estimate function that prices a shipment under the provider's rate card in force today
(plus a site's own handling cost) and promises it by the site's calendar and the
provider's transit time. The same `decision_for` serves the what-if simulation.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING

from django.utils import timezone

from economics import pricing
from logistics.promise import promise_for
from logistics.promise_tables import PromiseTables, promise_tables
from routing import engine
from routing.tables import RoutingTables, routing_tables

if TYPE_CHECKING:
    from orders.models import Order
    from orders.services.allocation_policy import AllocationLine, Plan


def order_facts(
    *, order: Order, lines: Sequence[AllocationLine], tables: RoutingTables
) -> engine.OrderFacts:
    level = tables.service_levels.get(order.service_level_id) if order.service_level_id else None
    return engine.OrderFacts(
        channel=order.channel.code,
        country=order.shipping_country.upper(),
        postcode=pricing.normalised_postcode(order.shipping_postcode),
        service_level=level[1] if level else "",
        skus=frozenset(line.sku for line in lines),
        tags=frozenset(tag.lower() for line in lines for tag in line.tags),
        value=order.total_amount,
        weight_grams=sum(line.quantity * line.weight_grams for line in lines),
        placed_at=order.placed_at,
    )


def _shipper(
    tables: RoutingTables, warehouse_id: int, service_level_id: int | None
) -> tuple[int | None, int | None]:
    """(provider, service level) shipping from the site: the same answer as
    logistics.services.shipments.shipment_provider_for, from memory."""
    site = tables.sites[warehouse_id]
    level = tables.service_levels.get(service_level_id) if service_level_id else None
    if site.operator_id is not None:
        active = tables.providers.get(site.operator_id, ("", False))[1]
        same = level is not None and level[0] == site.operator_id
        return (site.operator_id if active else None), (service_level_id if same else None)
    if level is not None and tables.providers.get(level[0], ("", False))[1]:
        return level[0], service_level_id
    return tables.default_provider_id, None


def candidate_sites(
    *, order: Order, sites: Sequence[tuple[int, str]], tables: RoutingTables
) -> list[engine.Site]:
    found = []
    for warehouse_id, code in sites:
        site = tables.sites.get(warehouse_id)
        if site is None:
            continue
        provider_id, level_id = _shipper(tables, warehouse_id, order.service_level_id)
        found.append(
            engine.Site(
                id=warehouse_id,
                code=code,
                provider_id=provider_id,
                # .get: a provider made since the tables were read has no code here yet
                # (for at most ROUTING_TABLES_TTL_SECONDS); it must not fail the order.
                provider_code=tables.providers.get(provider_id, ("", False))[0]
                if provider_id
                else "",
                service_level_id=level_id,
                customs=tables.crossed(site.country, order.shipping_country.upper()),
            )
        )
    return found


def _card_cost(
    tables: RoutingTables,
    site: engine.Site,
    country: str,
    postcode: str,
    units: int,
    grams: int,
) -> tuple[Decimal | None, str, str]:
    """(cost, currency, problem) under the provider's card in force; no card: (None, "", "")."""
    card = tables.cards.get(site.provider_id) if site.provider_id else None
    if card is None:
        return None, "", ""
    quote = pricing.shipment_quote(
        card,
        pricing.ShipmentWork(
            units=units,
            parcel_weights_grams=(grams,),
            country=country,
            postcode=postcode,
            customs_declarations=int(site.customs),
        ),
    )
    if quote.problems:
        return None, "", "; ".join(quote.problems)
    return quote.total, quote.currency, ""


def estimator(
    *,
    order: Order,
    tables: RoutingTables,
    promises: PromiseTables,
    at: dt.datetime,
) -> engine.EstimateFn:
    """Cost and promise of shipping `units` weighing `grams` from a site to the order."""
    country = order.shipping_country.upper()
    # Sites of one provider share its card, and a site's promise does not depend on how
    # much it ships: price per (provider, customs, units, weight) and promise per site,
    # so fifty sites of five providers cost a handful of quotes, not fifty.
    costs: dict[tuple[int | None, bool, int, int], tuple[Decimal | None, str, str]] = {}
    dates: dict[int, tuple[dt.date | None, dt.date | None]] = {}

    def cost_of(site: engine.Site, units: int, grams: int) -> tuple[Decimal | None, str, str]:
        key = (site.provider_id, site.customs, units, grams)
        if key not in costs:
            costs[key] = _card_cost(tables, site, country, order.shipping_postcode, units, grams)
        return costs[key]

    def dates_of(site: engine.Site) -> tuple[dt.date | None, dt.date | None]:
        if site.id not in dates:
            if site.provider_id is None:
                dates[site.id] = (None, None)
            else:
                calendar = promises.calendar(site.id)
                _zone_keep(calendar.timezone)
                promise = promise_for(
                    calendar,
                    at,
                    promises.transit_days(site.provider_id, site.service_level_id, country),
                )
                dates[site.id] = (promise.ship_by, promise.promised_delivery_date)
        return dates[site.id]

    def estimate(site: engine.Site, units: int, grams: int) -> engine.Estimate:
        cost, currency, problem = cost_of(site, units, grams)
        handling = tables.site_costs.get(site.id)
        if handling is not None and not problem:
            per_order, per_unit, handling_currency = handling
            extra = per_order + per_unit * units
            if cost is None:
                cost, currency = extra, handling_currency
            elif currency == handling_currency:
                cost += extra
            else:
                cost, problem = None, f"site cost in {handling_currency}, card in {currency}"
        if cost is None and not problem:
            problem = "no rate card prices this provider"
        if site.provider_id is None:
            problem = problem or "no provider"
        ship_by, promised = dates_of(site)
        return engine.Estimate(cost, currency, ship_by, promised, problem)

    return estimate


# The time zones of the sites decided for, kept alive: zoneinfo holds only the 8 zones
# used last strongly (the rest weakly), so with sites in more zones than that every
# promise would read its zone's file from disk again (bench/routing.py: a third of the
# decision's time with 50 sites in 15 zones).
_zones: dict[str, zoneinfo.ZoneInfo] = {}


def _zone_keep(name: str) -> None:
    if name not in _zones:
        try:
            _zones[name] = zoneinfo.ZoneInfo(name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            return  # promise_for reports it


def decision_for(
    *,
    order: Order,
    lines: Sequence[AllocationLine],
    needs: Mapping[int, int],
    sites: Sequence[tuple[int, str]],
    available: Mapping[tuple[int, int], int],
    tables: RoutingTables,
    promises: PromiseTables,
    at: dt.datetime,
) -> engine.Decision:
    return engine.decide(
        facts=order_facts(order=order, lines=lines, tables=tables),
        needs=needs,
        sites=candidate_sites(order=order, sites=sites, tables=tables),
        available=available,
        weights={line.product_id: line.weight_grams for line in lines},
        skus={line.product_id: line.sku for line in lines},
        rule_set=tables.rule_set,
        estimate=estimator(order=order, tables=tables, promises=promises, at=at),
    )


class Router:
    """orders.hooks.Router: route with the published rule set, promised from now."""

    def route(
        self,
        *,
        order: Order,
        lines: Sequence[AllocationLine],
        needs: Mapping[int, int],
        sites: Sequence[tuple[int, str]],
        available: Mapping[tuple[int, int], int],
    ) -> Plan:
        return decision_for(
            order=order,
            lines=lines,
            needs=needs,
            sites=sites,
            available=available,
            tables=routing_tables(
                site_ids=[w for w, _ in sites], service_level_id=order.service_level_id
            ),
            promises=promise_tables(),
            at=timezone.now(),
        ).plan


router = Router()
