"""The routing decision as pure functions: which sites ship an order, and why.

No database access: `routing.router` hands in the order's facts, the candidate sites
with their stock (as the stock engine locked it), and two functions that price and
promise a shipment from a site. The same function serves the live allocation and the
what-if simulation, so a simulated decision is the decision the order would get.

The steps (docs/routing.md):
1. The first rule whose conditions match decides; none matching: the rule set's defaults.
2. Its site action narrows or orders the candidates (only / prefer / exclude).
3. Its split policy says which plans are allowed (one site; fewest sites; at most N).
4. Among the allowed plans with the fewest sites, its objective picks one (channel
   priority, cheapest, fastest, cheapest that meets the promise); ties go to the
   channel's priority order, so the same inputs always give the same decision.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from orders.services.allocation_policy import (
    MAX_EXACT_WAREHOUSES,
    Plan,
    picks_covering,
    picks_partial,
)

COMPLETE, FEWEST, AVAILABLE_NOW, MAX_SHIPMENTS = (
    "complete",
    "fewest",
    "available_now",
    "max_shipments",
)
PRIORITY, CHEAPEST, FASTEST, CHEAPEST_ON_TIME = (
    "priority",
    "cheapest",
    "fastest",
    "cheapest_on_time",
)
ONLY, PREFER, EXCLUDE, NONE = "only", "prefer", "exclude", "none"
ALTERNATIVES = 3


@dataclass(frozen=True)
class OrderFacts:
    """What rules look at: the order as a whole."""

    channel: str
    country: str
    postcode: str  # upper case, no spaces
    service_level: str  # "" when the order names none
    skus: frozenset[str]
    tags: frozenset[str]
    value: Decimal
    weight_grams: int
    placed_at: dt.datetime


@dataclass(frozen=True)
class Site:
    """One candidate: a site, the provider that would ship from it, and its service."""

    id: int
    code: str
    provider_id: int | None
    provider_code: str
    service_level_id: int | None
    customs: bool  # shipping from here to the destination crosses a customs border


@dataclass(frozen=True)
class RuleTerms:
    id: int | None
    position: int
    name: str
    channels: frozenset[str] = frozenset()
    countries: frozenset[str] = frozenset()
    postcode_prefixes: tuple[str, ...] = ()
    service_levels: frozenset[str] = frozenset()
    skus: frozenset[str] = frozenset()
    tags: frozenset[str] = frozenset()
    min_value: Decimal | None = None
    max_value: Decimal | None = None
    min_weight: int | None = None
    max_weight: int | None = None
    customs_required: bool | None = None
    action: str = NONE
    sites: frozenset[str] = frozenset()
    providers: frozenset[str] = frozenset()
    split_policy: str = ""
    max_shipments: int | None = None
    objective: str = ""
    max_delivery_days: int | None = None

    def matches_order(self, f: OrderFacts) -> bool:
        return (
            (not self.channels or f.channel in self.channels)
            and (not self.countries or f.country in self.countries)
            and (not self.postcode_prefixes or f.postcode.startswith(self.postcode_prefixes))
            and (not self.service_levels or f.service_level in self.service_levels)
            and (not self.skus or not self.skus.isdisjoint(f.skus))
            and (not self.tags or not self.tags.isdisjoint(f.tags))
            and (self.min_value is None or f.value >= self.min_value)
            and (self.max_value is None or f.value <= self.max_value)
            and (self.min_weight is None or f.weight_grams >= self.min_weight)
            and (self.max_weight is None or f.weight_grams <= self.max_weight)
        )

    def matches_site(self, site: Site) -> bool:
        return self.customs_required is None or site.customs == self.customs_required

    def targets(self, site: Site) -> bool:
        """Whether the rule's site action is about this site."""
        if self.sites or self.providers:
            return site.code in self.sites or site.provider_code in self.providers
        return self.matches_site(site)


@dataclass(frozen=True)
class RuleSetTerms:
    version: int | None  # None: the built-in default (no rule set published)
    rules: tuple[RuleTerms, ...]
    default_split_policy: str = FEWEST
    default_max_shipments: int | None = None
    default_objective: str = PRIORITY
    default_max_delivery_days: int = 5


BUILT_IN = RuleSetTerms(version=None, rules=())


@dataclass(frozen=True)
class Estimate:
    """One site's cost and promise for a quantity of the order."""

    cost: Decimal | None  # None: no card prices it (see `problem`)
    currency: str
    ship_by: dt.date | None
    promised: dt.date | None
    problem: str = ""


# site, units, weight in grams -> estimate (routing.router caches it per decision)
EstimateFn = Callable[[Site, int, int], Estimate]


@dataclass
class _Option:
    sites: tuple[int, ...]  # in the order the picks use them
    picks: dict[int, list[tuple[int, int]]]
    cost: Decimal | None
    currency: str
    ship_by: dt.date | None
    promised: dt.date | None
    ranks: tuple[int, ...]


@dataclass
class Decision:
    plan: Plan
    rule: RuleTerms
    split_policy: str
    objective: str
    deadline: dt.date | None
    chosen: _Option | None
    explanation: dict[str, Any] = field(default_factory=dict)


def _first_match(
    rules: Sequence[RuleTerms], facts: OrderFacts, sites: Sequence[Site]
) -> RuleTerms | None:
    for rule in rules:
        if rule.matches_order(facts) and (
            rule.customs_required is None or any(rule.matches_site(s) for s in sites)
        ):
            return rule
    return None


# What decides an order no rule matches: the rule set's defaults, no site action.
DEFAULT_RULE = RuleTerms(id=None, position=0, name="Default (no rule matched)")


def eligible_sites(rule: RuleTerms, sites: Sequence[Site]) -> tuple[list[Site], list[Site]]:
    """(eligible in preference order, excluded) after the rule's site action."""
    if rule.action == ONLY:
        kept = [s for s in sites if rule.targets(s)]
        return kept, [s for s in sites if not rule.targets(s)]
    if rule.action == EXCLUDE:
        return [s for s in sites if not rule.targets(s)], [s for s in sites if rule.targets(s)]
    if rule.action == PREFER:
        preferred = [s for s in sites if rule.targets(s)]
        return preferred + [s for s in sites if not rule.targets(s)], []
    return list(sites), []


def _avail(available: Mapping[tuple[int, int], int], p: int, w: int) -> int:
    return max(available.get((p, w), 0), 0)


class _Evaluator:
    """Prices and promises plans, remembering each site's estimate for a quantity."""

    def __init__(
        self,
        *,
        sites: Mapping[int, Site],
        ranks: Mapping[int, int],
        weights: Mapping[int, int],
        estimate: EstimateFn,
    ) -> None:
        self.sites, self.ranks, self.weights, self._estimate = sites, ranks, weights, estimate
        self._memo: dict[tuple[int, int, int], Estimate] = {}

    def estimate(self, site_id: int, units: int, grams: int) -> Estimate:
        key = (site_id, units, grams)
        if key not in self._memo:
            self._memo[key] = self._estimate(self.sites[site_id], units, grams)
        return self._memo[key]

    def option(self, picks: dict[int, list[tuple[int, int]]]) -> _Option:
        per_site: dict[int, list[int]] = {}
        for product, chosen in picks.items():
            for w, q in chosen:
                units_grams = per_site.setdefault(w, [0, 0])
                units_grams[0] += q
                units_grams[1] += q * self.weights.get(product, 0)
        estimates = [self.estimate(w, u, g) for w, (u, g) in per_site.items()]
        cost, currency = _total(estimates)
        ship_bys = [e.ship_by for e in estimates if e.ship_by is not None]
        promised = [e.promised for e in estimates if e.promised is not None]
        return _Option(
            sites=tuple(per_site),
            picks=picks,
            cost=cost,
            currency=currency,
            ship_by=min(ship_bys) if ship_bys else None,
            # A site with no promise leaves the whole plan without one.
            promised=max(promised) if promised and len(promised) == len(estimates) else None,
            ranks=tuple(sorted(self.ranks[w] for w in per_site)),
        )


def _total(estimates: Sequence[Estimate]) -> tuple[Decimal | None, str]:
    """The plan's cost: known only when every site's is, in one currency."""
    currencies = {e.currency for e in estimates if e.cost is not None}
    if not estimates or len(currencies) != 1 or any(e.cost is None for e in estimates):
        return None, ""
    return sum((e.cost for e in estimates if e.cost is not None), Decimal(0)), currencies.pop()


def _key(objective: str, deadline: dt.date | None) -> Callable[[_Option], tuple[Any, ...]]:
    far = dt.date.max

    def cost_key(o: _Option) -> tuple[bool, Decimal]:
        return (o.cost is None, o.cost if o.cost is not None else Decimal(0))

    def key(o: _Option) -> tuple[Any, ...]:
        if objective == CHEAPEST:
            return (*cost_key(o), o.ranks)
        if objective == FASTEST:
            return (o.promised or far, *cost_key(o), o.ranks)
        if objective == CHEAPEST_ON_TIME:
            on_time = o.promised is not None and deadline is not None and o.promised <= deadline
            if on_time:
                return (0, *cost_key(o), o.ranks)
            return (1, o.promised or far, *cost_key(o), o.ranks)
        return (o.ranks,)

    return key


def _complete_options(
    needs: Mapping[int, int],
    order: Sequence[int],
    available: Mapping[tuple[int, int], int],
    ev: _Evaluator,
    *,
    size: int,
) -> list[_Option]:
    if size == 1:
        return [
            ev.option({p: [(w, q)] for p, q in needs.items()})
            for w in order
            if all(_avail(available, p, w) >= q for p, q in needs.items())
        ]
    options = []
    for combo in itertools.combinations(order, size):
        picks = picks_covering(needs=needs, combo=combo, available=available)
        if picks is not None and len({w for c in picks.values() for w, _ in c}) == size:
            options.append(ev.option(picks))
    return options


def _plans(
    *,
    needs: Mapping[int, int],
    order: list[int],
    available: Mapping[tuple[int, int], int],
    ev: _Evaluator,
    split: str,
    limit: int | None,
    key: Callable[[_Option], tuple[Any, ...]],
) -> tuple[_Option | None, str, list[_Option]]:
    """The chosen option, the strategy (single | split | partial | none) and every
    complete single-site option (for the alternatives)."""
    singles = _complete_options(needs, order, available, ev, size=1)
    if singles:
        return min(singles, key=key), "single", singles
    if split == COMPLETE:
        return None, "none", singles
    most = len(order) if split != MAX_SHIPMENTS else min(limit or 1, len(order))
    if len(order) <= MAX_EXACT_WAREHOUSES:
        for size in range(2, most + 1):
            options = _complete_options(needs, order, available, ev, size=size)
            if options:
                return min(options, key=key), "split", singles
    # The objective's order of whole-order estimates: the greedy cover beyond the exact
    # search, and where what exists is taken from.
    ranked = sorted(order, key=lambda w: key(ev.option({p: [(w, q)] for p, q in needs.items()})))
    if len(order) > MAX_EXACT_WAREHOUSES:
        picks = picks_covering(needs=needs, combo=ranked, available=available)
        if picks is not None:
            option = ev.option(picks)
            if len(option.sites) <= most:
                return option, "split", singles
    partial = picks_partial(needs=needs, order=ranked[:most], available=available)
    return ev.option(partial), "partial", singles


def decide(
    *,
    facts: OrderFacts,
    needs: Mapping[int, int],
    sites: Sequence[Site],
    available: Mapping[tuple[int, int], int],
    weights: Mapping[int, int],
    skus: Mapping[int, str],
    rule_set: RuleSetTerms,
    estimate: EstimateFn,
) -> Decision:
    """Route what the order still needs (`needs`: product -> units) among `sites`
    (the channel's eligible sites in its priority order). Pure and deterministic."""
    rule = _first_match(rule_set.rules, facts, sites) or DEFAULT_RULE
    split = rule.split_policy or rule_set.default_split_policy
    limit = rule.max_shipments if rule.split_policy else rule_set.default_max_shipments
    objective = rule.objective or rule_set.default_objective
    days = rule.max_delivery_days or rule_set.default_max_delivery_days
    deadline = facts.placed_at.date() + dt.timedelta(days=days)
    eligible, excluded = eligible_sites(rule, sites)
    by_id = {s.id: s for s in sites}
    ranks = {s.id: rank for rank, s in enumerate(eligible)}
    ranks.update({s.id: len(eligible) + rank for rank, s in enumerate(excluded)})
    ev = _Evaluator(sites=by_id, ranks=ranks, weights=weights, estimate=estimate)
    key = _key(objective, deadline)
    order = [s.id for s in eligible]
    if not order:
        plan = Plan("none", f"{_rule_label(rule)} leaves no eligible site.", split_policy=split)
        return Decision(
            plan,
            rule,
            split,
            objective,
            deadline,
            None,
            _explain(
                rule=rule,
                split=split,
                objective=objective,
                deadline=deadline,
                chosen=None,
                alternatives=_alternatives(needs, sites, available, ev, key, None, excluded, skus),
                rule_set=rule_set,
            ),
        )
    chosen, strategy, _ = _plans(
        needs=needs, order=order, available=available, ev=ev, split=split, limit=limit, key=key
    )
    reason = _reason(
        strategy=strategy,
        chosen=chosen,
        rule=rule,
        split=split,
        objective=objective,
        by_id=by_id,
        eligible=eligible,
    )
    plan = Plan(strategy, reason, chosen.picks if chosen else {}, split_policy=split)
    explanation = _explain(
        rule=rule,
        split=split,
        objective=objective,
        deadline=deadline,
        chosen=chosen,
        alternatives=_alternatives(needs, sites, available, ev, key, chosen, excluded, skus),
        rule_set=rule_set,
        by_id=by_id,
    )
    plan.routing = explanation
    return Decision(plan, rule, split, objective, deadline, chosen, explanation)


def _rule_label(rule: RuleTerms) -> str:
    return f"rule #{rule.position} {rule.name!r}" if rule.id is not None else "the default rule"


_OBJECTIVE_WORDS = {
    PRIORITY: "first in the channel's priority",
    CHEAPEST: "cheapest",
    FASTEST: "fastest",
    CHEAPEST_ON_TIME: "cheapest that meets the promise",
}


def _reason(
    *,
    strategy: str,
    chosen: _Option | None,
    rule: RuleTerms,
    split: str,
    objective: str,
    by_id: Mapping[int, Site],
    eligible: Sequence[Site],
) -> str:
    label = _rule_label(rule)
    if chosen is None:
        return f"No single site holds the whole order and {label} ships complete; backordered."
    if not chosen.sites:
        names = ", ".join(s.code for s in eligible)
        return f"No stock in the eligible sites ({names}); backordered ({label})."
    names = ", ".join(by_id[w].code for w in chosen.sites)
    why = _OBJECTIVE_WORDS.get(objective, objective)
    if strategy == "single":
        if objective == PRIORITY:
            ranked = [s.code for s in eligible]
            skipped = ", ".join(ranked[: ranked.index(names)]) if names in ranked else ""
            return f"{names} can ship the whole order" + (
                f" (higher-priority {skipped} cannot; {label})."
                if skipped
                else f" (first priority; {label})."
            )
        return f"{names} can ship the whole order and is the {why} ({label})."
    if strategy == "split":
        return (
            f"No single site holds every line; split across {names}, the fewest sites "
            f"({len(chosen.sites)}), {why} ({label})."
        )
    return (
        f"Not enough stock in the eligible sites; allocated what exists at {names} and "
        f"backordered the rest ({label})."
    )


def _money(value: Decimal | None) -> str | None:
    return None if value is None else f"{value:.2f}"


def _date(value: dt.date | None) -> str | None:
    return None if value is None else value.isoformat()


def _alternatives(
    needs: Mapping[int, int],
    sites: Sequence[Site],
    available: Mapping[tuple[int, int], int],
    ev: _Evaluator,
    key: Callable[[_Option], tuple[Any, ...]],
    chosen: _Option | None,
    excluded: Sequence[Site],
    skus: Mapping[int, str],
) -> list[dict[str, Any]]:
    """The best other sites for the whole order, each with why it was not chosen."""
    chosen_sites = set(chosen.sites) if chosen else set()
    excluded_ids = {s.id for s in excluded}
    rows = []
    for s in sites:
        if s.id in chosen_sites:
            continue
        option = ev.option({p: [(s.id, q)] for p, q in needs.items()})
        short = [
            f"{skus.get(p, p)} ×{q - _avail(available, p, s.id)}"
            for p, q in needs.items()
            if _avail(available, p, s.id) < q
        ]
        if s.id in excluded_ids:
            why = "excluded by the rule"
        elif short:
            why = "lacks stock: " + ", ".join(short)
        else:
            why = _compared(option, chosen)
        rows.append((s.id in excluded_ids, bool(short), key(option), s, option, why))
    rows.sort(key=lambda r: (r[0], r[1], r[2]))
    return [
        {
            "site": s.code,
            "provider": s.provider_code,
            "cost": _money(o.cost),
            "currency": o.currency,
            "cost_difference": _difference(o, chosen),
            "ship_by": _date(o.ship_by),
            "promised_delivery_date": _date(o.promised),
            "why_not": why,
        }
        for _, _, _, s, o, why in rows[:ALTERNATIVES]
    ]


def _compared(option: _Option, chosen: _Option | None) -> str:
    """Why not this one, in words, leaving money out (the desk shows costs only to those
    allowed to see them: `cost_difference`)."""
    if chosen is None:
        return "not chosen"
    if option.promised and chosen.promised and option.promised != chosen.promised:
        days = (option.promised - chosen.promised).days
        plural = "s" if abs(days) != 1 else ""
        return f"arrives {abs(days)} day{plural} {'later' if days > 0 else 'earlier'}"
    if option.cost is not None and chosen.cost is not None and option.cost != chosen.cost:
        return "costs more" if option.cost > chosen.cost else "costs less"
    return "lower in the channel's priority"


def _difference(option: _Option, chosen: _Option | None) -> str | None:
    if chosen is None or option.cost is None or chosen.cost is None:
        return None
    if option.currency != chosen.currency:
        return None
    return _money(option.cost - chosen.cost)


def _explain(
    *,
    rule: RuleTerms,
    split: str,
    objective: str,
    deadline: dt.date | None,
    chosen: _Option | None,
    alternatives: list[dict[str, Any]],
    rule_set: RuleSetTerms,
    by_id: Mapping[int, Site] | None = None,
) -> dict[str, Any]:
    """What the `allocated` event stores and the desk shows: "why this warehouse"."""
    chosen_rows = []
    if chosen is not None and by_id is not None:
        chosen_rows = [
            {"site": by_id[w].code, "provider": by_id[w].provider_code} for w in chosen.sites
        ]
    return {
        "rule_set": rule_set.version,
        "rule": {"id": rule.id, "position": rule.position, "name": rule.name},
        "split_policy": split,
        "objective": objective,
        "deadline": _date(deadline) if objective == CHEAPEST_ON_TIME else None,
        "chosen": {
            "sites": chosen_rows,
            "cost": _money(chosen.cost) if chosen else None,
            "currency": chosen.currency if chosen else "",
            "ship_by": _date(chosen.ship_by) if chosen else None,
            "promised_delivery_date": _date(chosen.promised) if chosen else None,
        },
        "alternatives": alternatives,
    }
