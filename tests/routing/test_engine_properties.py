"""Properties of the routing decision (routing.engine), over generated orders and stock."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from orders.services.allocation_policy import plan_allocation
from routing import engine

SITES = [
    engine.Site(
        id=w,
        code=f"S{w}",
        provider_id=w % 3 + 1,
        provider_code=f"P{w % 3 + 1}",
        service_level_id=None,
        customs=w % 2 == 0,
    )
    for w in range(1, 7)
]
PRODUCTS = [101, 102, 103]
PLACED = dt.datetime(2026, 12, 7, 9, 0, tzinfo=dt.UTC)


def estimate(site: engine.Site, units: int, grams: int) -> engine.Estimate:
    # Cost and speed that disagree with the priority order, so objectives matter.
    cost = Decimal(7 - site.id) * units + Decimal(grams) / 1000
    ship_by = PLACED.date()
    return engine.Estimate(cost, "EUR", ship_by, ship_by + dt.timedelta(days=site.id % 4 + 1))


FACTS = engine.OrderFacts(
    channel="web",
    country="DE",
    postcode="10115",
    service_level="",
    skus=frozenset({"A"}),
    tags=frozenset(),
    value=Decimal("50"),
    weight_grams=1000,
    placed_at=PLACED,
)

needs_st = st.dictionaries(st.sampled_from(PRODUCTS), st.integers(1, 6), min_size=1)
available_st = st.dictionaries(
    st.tuples(st.sampled_from(PRODUCTS), st.sampled_from([s.id for s in SITES])),
    st.integers(-2, 8),
)
sites_st = st.lists(st.sampled_from(SITES), min_size=0, max_size=6, unique=True)
rule_st = st.builds(
    engine.RuleTerms,
    id=st.just(1),
    position=st.just(1),
    name=st.just("generated"),
    customs_required=st.sampled_from([None, True, False]),
    action=st.sampled_from([engine.NONE, engine.ONLY, engine.PREFER, engine.EXCLUDE]),
    sites=st.frozensets(st.sampled_from([s.code for s in SITES]), max_size=3),
    providers=st.frozensets(st.sampled_from(["P1", "P2", "P3"]), max_size=1),
    split_policy=st.sampled_from(
        [engine.COMPLETE, engine.FEWEST, engine.AVAILABLE_NOW, engine.MAX_SHIPMENTS]
    ),
    max_shipments=st.integers(1, 3),
    objective=st.sampled_from(
        [engine.PRIORITY, engine.CHEAPEST, engine.FASTEST, engine.CHEAPEST_ON_TIME]
    ),
    max_delivery_days=st.integers(1, 6),
)


def decide(rule, needs, sites, available):
    return engine.decide(
        facts=FACTS,
        needs=needs,
        sites=sites,
        available=available,
        weights=dict.fromkeys(PRODUCTS, 250),
        skus={p: f"SKU-{p}" for p in PRODUCTS},
        rule_set=engine.RuleSetTerms(version=1, rules=(rule,) if rule else ()),
        estimate=estimate,
    )


def used_sites(plan) -> set[int]:
    return {w for chosen in plan.picks.values() for w, _ in chosen}


@settings(max_examples=400, deadline=None)
@given(rule=rule_st, needs=needs_st, sites=sites_st, available=available_st)
def test_never_reserves_stock_a_site_does_not_have(rule, needs, sites, available):
    plan = decide(rule, needs, sites, available).plan
    taken: dict[tuple[int, int], int] = {}
    for product, chosen in plan.picks.items():
        assert sum(q for _, q in chosen) <= needs[product]
        for w, q in chosen:
            assert q > 0
            taken[(product, w)] = taken.get((product, w), 0) + q
    for key, q in taken.items():
        assert q <= max(available.get(key, 0), 0)


@settings(max_examples=400, deadline=None)
@given(rule=rule_st, needs=needs_st, sites=sites_st, available=available_st)
def test_site_actions_are_never_violated(rule, needs, sites, available):
    decision = decide(rule, needs, sites, available)
    used = used_sites(decision.plan)
    assert used <= {s.id for s in sites}
    if decision.rule.id is None:
        return  # the rule did not match: no action applies
    targeted = {s.id for s in sites if rule.targets(s)}
    if rule.action == engine.EXCLUDE:
        assert not used & targeted
    if rule.action == engine.ONLY:
        assert used <= targeted


@settings(max_examples=400, deadline=None)
@given(rule=rule_st, needs=needs_st, sites=sites_st, available=available_st)
def test_split_policies_bound_the_number_of_shipments(rule, needs, sites, available):
    decision = decide(rule, needs, sites, available)
    used = used_sites(decision.plan)
    if decision.split_policy == engine.COMPLETE:
        assert len(used) <= 1
        if used:  # ship complete: all of it, never a part
            assert all(sum(q for _, q in decision.plan.picks[p]) == n for p, n in needs.items())
    if decision.split_policy == engine.MAX_SHIPMENTS:
        assert len(used) <= decision.rule.max_shipments


@settings(max_examples=300, deadline=None)
@given(rule=rule_st, needs=needs_st, sites=sites_st, available=available_st)
def test_the_same_inputs_give_the_same_decision(rule, needs, sites, available):
    first = decide(rule, needs, sites, available)
    again = decide(rule, dict(needs), list(sites), dict(available))
    assert first.plan == again.plan
    assert first.explanation == again.explanation


@settings(max_examples=400, deadline=None)
@given(needs=needs_st, sites=sites_st, available=available_st)
def test_the_built_in_default_is_the_old_channel_priority_policy(needs, sites, available):
    """No rule set published: routing reproduces the fixed policy it replaced."""
    new = decide(None, needs, sites, available).plan
    old = plan_allocation(
        needs=needs,
        warehouses=[s.id for s in sites],
        available=available,
        codes={s.id: s.code for s in sites},
    )
    assert new.picks == old.picks
    assert new.strategy == old.strategy
