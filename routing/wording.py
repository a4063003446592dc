"""A rule in words, as the ops screen lists it: "DE, AT · tag fragile → only own-berlin ·
ship complete · cheapest". Pure: takes the rule's fields, reads nothing."""

from __future__ import annotations

from decimal import Decimal

from routing.models import Objective, Rule, SiteAction, SplitPolicy

SPLIT_WORDS: dict[str, str] = {
    SplitPolicy.COMPLETE: "ship complete",
    SplitPolicy.FEWEST: "fewest shipments",
    SplitPolicy.AVAILABLE_NOW: "ship what is available now",
}
OBJECTIVE_WORDS: dict[str, str] = {
    Objective.PRIORITY: "channel priority",
    Objective.CHEAPEST: "cheapest",
    Objective.FASTEST: "fastest",
    Objective.CHEAPEST_ON_TIME: "cheapest on time",
}


def _listed(label: str, values: list[str]) -> str:
    return f"{label} {', '.join(values)}"


def _amount(value: Decimal) -> str:
    return f"{value.normalize():f}"


def _range(label: str, low: object, high: object, unit: str = "") -> str | None:
    if low is None and high is None:
        return None
    shown = [_amount(v) if isinstance(v, Decimal) else str(v) for v in (low, high)]
    if low is not None and high is not None:
        return f"{label} {shown[0]}–{shown[1]}{unit}"
    if low is not None:
        return f"{label} ≥ {shown[0]}{unit}"
    return f"{label} ≤ {shown[1]}{unit}"


def rule_conditions(rule: Rule) -> str:
    """What an order must be for the rule to decide; "every order" when nothing is asked."""
    parts = [
        _listed("channel", rule.channels) if rule.channels else None,
        ", ".join(rule.countries) if rule.countries else None,
        _listed("postcode", [f"{p}…" for p in rule.postcode_prefixes])
        if rule.postcode_prefixes
        else None,
        _listed("service", rule.service_levels) if rule.service_levels else None,
        _listed("SKU", rule.skus) if rule.skus else None,
        _listed("tag", rule.tags) if rule.tags else None,
        _range("value", rule.min_order_value, rule.max_order_value),
        _range("weight", rule.min_weight_grams, rule.max_weight_grams, " g"),
    ]
    if rule.customs_required is not None:
        parts.append("crosses customs" if rule.customs_required else "no customs border")
    return " · ".join(p for p in parts if p) or "every order"


def _site_action(rule: Rule) -> str | None:
    if rule.action == SiteAction.NONE:
        return None
    targets = list(rule.sites) + [f"provider {p}" for p in rule.providers]
    if not targets:
        targets = [
            "sites crossing customs" if rule.customs_required else "sites within the customs area"
        ]
    return f"{rule.action} {', '.join(targets)}"


def rule_actions(rule: Rule) -> str:
    """What the rule does; the parts it leaves to the rule set's defaults are not named."""
    parts = [_site_action(rule)]
    if rule.split_policy == SplitPolicy.MAX_SHIPMENTS:
        parts.append(f"at most {rule.max_shipments} shipments")
    elif rule.split_policy:
        parts.append(SPLIT_WORDS.get(rule.split_policy, rule.split_policy))
    if rule.objective:
        words = OBJECTIVE_WORDS.get(rule.objective, rule.objective)
        if rule.objective == Objective.CHEAPEST_ON_TIME and rule.max_delivery_days:
            words += f" ({rule.max_delivery_days} days)"
        parts.append(words)
    elif rule.max_delivery_days:
        parts.append(f"promise {rule.max_delivery_days} days")
    return " · ".join(p for p in parts if p) or "the defaults"


def rule_words(rule: Rule) -> str:
    return f"{rule_conditions(rule)} → {rule_actions(rule)}"
