"""Rule sets: a draft is edited and simulated, then published; published ones are read-only.

Publishing retires the version in force in the same transaction (the database allows
one published version) and records who and when. Every write checks that the version
is still a draft under its row lock, so two managers cannot edit a version one of them
just published.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from core.errors import Conflict, ValidationFailed
from inventory.models import Warehouse
from logistics.models import Provider, ServiceLevel
from orders.models import Channel
from routing.models import Objective, Rule, RuleSet, SiteAction, SplitPolicy
from routing.tables import routing_tables_invalidate

RULE_FIELDS = [
    "name",
    "channels",
    "countries",
    "postcode_prefixes",
    "service_levels",
    "skus",
    "tags",
    "min_order_value",
    "max_order_value",
    "min_weight_grams",
    "max_weight_grams",
    "customs_required",
    "action",
    "sites",
    "providers",
    "split_policy",
    "max_shipments",
    "objective",
    "max_delivery_days",
]


def _locked_draft(rule_set_id: int) -> RuleSet:
    rule_set = RuleSet.objects.select_for_update().get(pk=rule_set_id)
    if rule_set.status != RuleSet.Status.DRAFT:
        raise Conflict(
            f"Rule set v{rule_set.version} is {rule_set.status}; only a draft can be changed. "
            "Make a new draft from it instead.",
            code="ruleset_not_draft",
        )
    return rule_set


def ruleset_draft_create(*, name: str, actor: str, based_on: RuleSet | None = None) -> RuleSet:
    """A new draft version, a copy of `based_on`'s rules and defaults when given."""
    for _ in range(3):  # two managers numbering a draft at once: the unique version decides
        try:
            with transaction.atomic():
                version = (RuleSet.objects.aggregate(v=Max("version"))["v"] or 0) + 1
                draft = RuleSet.objects.create(
                    version=version, name=name, created_by=actor, based_on=based_on
                )
                if based_on is not None:
                    for field in (
                        "default_split_policy",
                        "default_max_shipments",
                        "default_objective",
                        "default_max_delivery_days",
                    ):
                        setattr(draft, field, getattr(based_on, field))
                    draft.save()
                    Rule.objects.bulk_create(
                        Rule(
                            rule_set=draft,
                            position=rule.position,
                            **{f: getattr(rule, f) for f in RULE_FIELDS},
                        )
                        for rule in based_on.rules.order_by("position")
                    )
                return draft
        except IntegrityError:
            continue
    raise Conflict("Could not number the new draft; try again.", code="ruleset_busy")


def rule_problems(rule: Rule, known: dict[str, set[str]]) -> list[str]:
    """What is wrong with one rule, for a person to read (`known`: codes that exist)."""
    problems = []
    label = f"Rule #{rule.position} {rule.name!r}"
    for field, kind in (
        ("channels", "channels"),
        ("sites", "sites"),
        ("providers", "providers"),
        ("service_levels", "service_levels"),
    ):
        unknown = sorted(set(getattr(rule, field)) - known[kind])
        if unknown:
            problems.append(f"{label}: unknown {field.replace('_', ' ')}: {', '.join(unknown)}")
    bad_countries = [c for c in rule.countries if len(c) != 2 or not c.isalpha()]
    if bad_countries:
        problems.append(f"{label}: not ISO 3166-1 alpha-2: {', '.join(bad_countries)}")
    if rule.action != SiteAction.NONE and not (
        rule.sites or rule.providers or rule.customs_required is not None
    ):
        problems.append(f"{label}: {rule.action} needs sites, providers or a customs condition")
    if rule.split_policy == SplitPolicy.MAX_SHIPMENTS and not rule.max_shipments:
        problems.append(f"{label}: 'at most N shipments' needs N")
    if rule.objective and rule.objective not in Objective.values:
        problems.append(f"{label}: unknown objective {rule.objective}")
    return problems


def known_codes() -> dict[str, set[str]]:
    return {
        "channels": set(Channel.objects.values_list("code", flat=True)),
        "sites": set(Warehouse.objects.values_list("code", flat=True)),
        "providers": set(Provider.objects.values_list("code", flat=True)),
        "service_levels": set(ServiceLevel.objects.values_list("code", flat=True)),
    }


def ruleset_problems(rule_set: RuleSet) -> list[str]:
    known = known_codes()
    problems = []
    if rule_set.default_split_policy == SplitPolicy.MAX_SHIPMENTS and not (
        rule_set.default_max_shipments
    ):
        problems.append("The default split 'at most N shipments' needs N.")
    for rule in rule_set.rules.order_by("position"):
        problems.extend(rule_problems(rule, known))
    return problems


def ruleset_publish(*, rule_set_id: int, actor: str) -> RuleSet:
    """Publish the draft (validated as a whole); the version in force is retired."""
    with transaction.atomic():
        draft = _locked_draft(rule_set_id)
        problems = ruleset_problems(draft)
        if problems:
            raise ValidationFailed(
                f"Rule set v{draft.version} cannot be published: " + " ".join(problems),
                code="ruleset_invalid",
                problems=problems,
            )
        now = timezone.now()
        RuleSet.objects.select_for_update().filter(status=RuleSet.Status.PUBLISHED).update(
            status=RuleSet.Status.RETIRED, updated_at=now
        )
        draft.status = RuleSet.Status.PUBLISHED
        draft.published_at = now
        draft.published_by = actor
        draft.save(update_fields=["status", "published_at", "published_by", "updated_at"])
        transaction.on_commit(routing_tables_invalidate)
    return draft


def rule_save(*, rule_set_id: int, rule: Rule) -> Rule:
    """Add or change a rule of a draft (a new rule goes last unless it has a position)."""
    with transaction.atomic():
        draft = _locked_draft(rule_set_id)
        rule.rule_set = draft
        if not rule.position:
            last = draft.rules.aggregate(p=Max("position"))["p"] or 0
            rule.position = last + 1
        problems = rule_problems(rule, known_codes())
        if problems:
            raise ValidationFailed(" ".join(problems), code="rule_invalid", problems=problems)
        rule.save()
        return rule


def rule_delete(*, rule_set_id: int, rule_id: int) -> None:
    with transaction.atomic():
        draft = _locked_draft(rule_set_id)
        draft.rules.filter(pk=rule_id).delete()


def rules_reorder(*, rule_set_id: int, rule_ids: list[int]) -> None:
    """Give the draft's rules positions 1..n in the order of `rule_ids` (all of them)."""
    with transaction.atomic():
        draft = _locked_draft(rule_set_id)
        rules = {r.pk: r for r in draft.rules.all()}
        if sorted(rules) != sorted(rule_ids):
            raise ValidationFailed(
                "The new order must list every rule of the draft once.", code="rule_order"
            )
        # Out of the way first: positions are unique per rule set.
        offset = len(rule_ids) + max((r.position for r in rules.values()), default=0)
        for rule in rules.values():
            rule.position += offset
        Rule.objects.bulk_update(rules.values(), ["position"])
        for position, pk in enumerate(rule_ids, start=1):
            rules[pk].position = position
        Rule.objects.bulk_update(rules.values(), ["position"])
