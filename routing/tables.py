"""Everything a routing decision reads, loaded once and kept in memory for a few seconds.

Allocation routes every order inside its transaction, under the order's lock; reading
the rule set, sites, rate cards and calendars there on every order would cost more than
the decision. So they are read in a handful of queries into plain data and reused for
`ROUTING_TABLES_TTL_SECONDS` (default 5): a published rule set, an activated rate card
or an edited calendar takes effect in every process within that time, and at once in
the process that made the change (`routing_tables_invalidate`).
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.utils import timezone

from economics import pricing
from economics.models import RateCard
from economics.selectors import card_terms
from inventory.models import Warehouse
from logistics.models import CustomsUnionMember, Provider, ServiceLevel
from routing import engine
from routing.models import Rule, RuleSet, SiteCost


@dataclass(frozen=True)
class SiteRow:
    code: str
    kind: str
    country: str
    operator_id: int | None  # the LSP operating the site; None for a site of our own


@dataclass(frozen=True)
class RoutingTables:
    day: str  # ISO date the rate cards were chosen for
    loaded_at: float
    rule_set: engine.RuleSetTerms
    sites: dict[int, SiteRow]
    providers: dict[int, tuple[str, bool]]  # id -> (code, is_active)
    default_provider_id: int | None
    service_levels: dict[int, tuple[int, str]]  # id -> (provider id, code)
    unions: dict[str, frozenset[int]]  # country -> customs unions it belongs to
    cards: dict[int, pricing.CardTerms]  # provider id -> card in force on `day`
    site_costs: dict[int, tuple[Decimal, Decimal, str]]  # warehouse -> per order, per unit, cur

    def crossed(self, origin: str, destination: str) -> bool:
        """logistics.services.customs.customs_border_crossed, from memory."""
        if origin == destination:
            return False
        empty: frozenset[int] = frozenset()
        return not (self.unions.get(origin, empty) & self.unions.get(destination, empty))


def rule_terms_of(rule: Rule) -> engine.RuleTerms:
    return engine.RuleTerms(
        id=rule.pk,
        position=rule.position,
        name=rule.name,
        channels=frozenset(rule.channels),
        countries=frozenset(c.upper() for c in rule.countries),
        postcode_prefixes=tuple(p.upper().replace(" ", "") for p in rule.postcode_prefixes),
        service_levels=frozenset(rule.service_levels),
        skus=frozenset(rule.skus),
        tags=frozenset(t.lower() for t in rule.tags),
        min_value=rule.min_order_value,
        max_value=rule.max_order_value,
        min_weight=rule.min_weight_grams,
        max_weight=rule.max_weight_grams,
        customs_required=rule.customs_required,
        action=rule.action,
        sites=frozenset(rule.sites),
        providers=frozenset(rule.providers),
        split_policy=rule.split_policy,
        max_shipments=rule.max_shipments,
        objective=rule.objective,
        max_delivery_days=rule.max_delivery_days,
    )


def rule_set_terms(rule_set: RuleSet | None) -> engine.RuleSetTerms:
    """The rule set as plain data (one query for its rules); None: the built-in default."""
    if rule_set is None:
        return engine.BUILT_IN
    return engine.RuleSetTerms(
        version=rule_set.version,
        rules=tuple(rule_terms_of(r) for r in rule_set.rules.order_by("position")),
        default_split_policy=rule_set.default_split_policy,
        default_max_shipments=rule_set.default_max_shipments,
        default_objective=rule_set.default_objective,
        default_max_delivery_days=rule_set.default_max_delivery_days,
    )


def _cards(day: dt.date) -> dict[int, pricing.CardTerms]:
    cards = (
        RateCard.objects.filter(status=RateCard.Status.ACTIVE, valid_from__lte=day)
        .exclude(valid_to__lte=day)
        .order_by("provider_id", "-valid_from")
    )
    found: dict[int, pricing.CardTerms] = {}
    for card in cards:
        if card.provider_id not in found:
            found[card.provider_id] = card_terms(card)
    return found


def tables_load(*, rule_set: RuleSet | None = None, published: bool = True) -> RoutingTables:
    """Read everything a decision needs. `rule_set`: route with this one (a draft being
    simulated) instead of the published one."""
    if rule_set is None and published:
        rule_set = RuleSet.objects.filter(status=RuleSet.Status.PUBLISHED).first()
    day = timezone.localdate()
    unions: dict[str, set[int]] = {}
    for country, union_id in CustomsUnionMember.objects.values_list("country", "union_id"):
        unions.setdefault(country, set()).add(union_id)
    providers = {
        pk: (code, active)
        for pk, code, active in Provider.objects.values_list("pk", "code", "is_active")
    }
    default = next(
        (
            pk
            for pk, (code, active) in providers.items()
            if code == settings.LOGISTICS_DEFAULT_PROVIDER and active
        ),
        None,
    )
    return RoutingTables(
        day=day.isoformat(),
        loaded_at=time.monotonic(),
        rule_set=rule_set_terms(rule_set),
        sites={
            pk: SiteRow(code, kind, country, operator)
            for pk, code, kind, country, operator in Warehouse.objects.values_list(
                "pk", "code", "kind", "country", "provider_id"
            )
        },
        providers=providers,
        default_provider_id=default,
        service_levels={
            pk: (provider_id, code)
            for pk, provider_id, code in ServiceLevel.objects.values_list(
                "pk", "provider_id", "code"
            )
        },
        unions={country: frozenset(ids) for country, ids in unions.items()},
        cards=_cards(day),
        site_costs={
            w: (per_order, per_unit, currency)
            for w, per_order, per_unit, currency in SiteCost.objects.values_list(
                "warehouse_id", "per_order", "per_unit", "currency"
            )
        },
    )


_lock = threading.Lock()
_cached: RoutingTables | None = None


def _fresh(
    tables: RoutingTables | None, site_ids: Sequence[int], service_level_id: int | None
) -> bool:
    return (
        tables is not None
        and time.monotonic() - tables.loaded_at < settings.ROUTING_TABLES_TTL_SECONDS
        and tables.day == timezone.localdate().isoformat()
        and all(w in tables.sites for w in site_ids)
        and (service_level_id is None or service_level_id in tables.service_levels)
    )


def routing_tables(
    *, site_ids: Sequence[int] = (), service_level_id: int | None = None
) -> RoutingTables:
    """The published tables, read again when older than the TTL, on a new day, or when
    they do not know a site or service level asked about (one created since)."""
    global _cached
    tables = _cached
    if tables is not None and _fresh(tables, site_ids, service_level_id):
        return tables
    with _lock:
        # Threads that waited here find the tables the first one read.
        tables = _cached
        if tables is None or not _fresh(tables, site_ids, service_level_id):
            tables = tables_load()
            _cached = tables
        return tables


def routing_tables_invalidate() -> None:
    """Forget the cached tables (this process): the next decision reads them again."""
    global _cached
    _cached = None
