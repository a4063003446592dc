"""Rule sets: a draft is edited and simulated, then published; published ones are read-only.

Publishing retires the version in force in the same transaction (the database allows
one published version) and records who and when. Every write checks that the version
is still a draft under its row lock, so two managers cannot edit a version one of them
just published.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, Max
from django.utils import timezone

from core.errors import Conflict, NotFound, ValidationFailed
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


DEFAULT_FIELDS = [
    "default_split_policy",
    "default_max_shipments",
    "default_objective",
    "default_max_delivery_days",
]


def ruleset_create(*, rule_set: RuleSet, actor: str) -> RuleSet:
    """Number and save a new draft (an unsaved RuleSet with its name and defaults set).

    The admin's add form builds the instance; `ruleset_draft_create` copies one."""
    rule_set.status = RuleSet.Status.DRAFT
    rule_set.created_by = actor
    rule_set.published_at = None
    rule_set.published_by = ""
    for _ in range(3):  # two managers numbering a draft at once: the unique version decides
        try:
            with transaction.atomic():
                rule_set.version = (RuleSet.objects.aggregate(v=Max("version"))["v"] or 0) + 1
                rule_set.save(force_insert=True)
                return rule_set
        except IntegrityError:
            rule_set.pk = None
            continue
    raise Conflict("Could not number the new draft; try again.", code="ruleset_busy")


def ruleset_draft_create(*, name: str, actor: str, based_on: RuleSet | None = None) -> RuleSet:
    """A new draft version, a copy of `based_on`'s rules and defaults when given."""
    with transaction.atomic():
        draft = RuleSet(name=name, based_on=based_on)
        if based_on is not None:
            for field in DEFAULT_FIELDS:
                setattr(draft, field, getattr(based_on, field))
        ruleset_create(rule_set=draft, actor=actor)
        if based_on is not None:
            Rule.objects.bulk_create(
                Rule(
                    rule_set=draft,
                    position=rule.position,
                    **{f: getattr(rule, f) for f in RULE_FIELDS},
                )
                for rule in based_on.rules.order_by("position")
            )
        return draft


def ruleset_update(*, rule_set_id: int, name: str, note: str, **defaults: object) -> RuleSet:
    """Change a draft's name, note and defaults (DEFAULT_FIELDS); ValidationFailed names
    the field that is wrong."""
    unknown = set(defaults) - set(DEFAULT_FIELDS)
    if unknown:
        raise ValueError(f"Not a default of a rule set: {', '.join(sorted(unknown))}")
    with transaction.atomic():
        draft = _locked_draft(rule_set_id)
        draft.name = name
        draft.note = note
        for field, value in defaults.items():
            setattr(draft, field, value)
        _full_clean(draft, exclude=["based_on"])
        draft.save()
        return draft


def _full_clean(obj: RuleSet | Rule, *, exclude: list[str]) -> None:
    try:
        obj.full_clean(exclude=exclude, validate_unique=False)
    except DjangoValidationError as exc:
        errors = [
            {"field": field, "message": message}
            for field, messages in exc.message_dict.items()
            for message in messages
        ]
        raise ValidationFailed(
            " ".join(e["message"] for e in errors), code="rule_invalid", errors=errors
        ) from exc


def rule_field_problems(rule: Rule, known: dict[str, set[str]]) -> list[tuple[str, str]]:
    """(field, message) for each thing wrong with one rule (`known`: codes that exist), so a
    form or a CSV row can show each message at its field."""
    problems = []
    for field in ("channels", "sites", "providers", "service_levels"):
        unknown = sorted(set(getattr(rule, field)) - known[field])
        if unknown:
            problems.append((field, f"unknown {field.replace('_', ' ')}: {', '.join(unknown)}"))
    bad_countries = [c for c in rule.countries if len(c) != 2 or not c.isalpha()]
    if bad_countries:
        problems.append(("countries", f"not ISO 3166-1 alpha-2: {', '.join(bad_countries)}"))
    if rule.action != SiteAction.NONE and not (
        rule.sites or rule.providers or rule.customs_required is not None
    ):
        problems.append(("action", f"{rule.action} needs sites, providers or a customs condition"))
    if rule.split_policy == SplitPolicy.MAX_SHIPMENTS and not rule.max_shipments:
        problems.append(("max_shipments", "'at most N shipments' needs N"))
    if rule.objective and rule.objective not in Objective.values:
        problems.append(("objective", f"unknown objective {rule.objective}"))
    for low, high, what in (
        ("min_order_value", "max_order_value", "order value"),
        ("min_weight_grams", "max_weight_grams", "weight"),
    ):
        low_value, high_value = getattr(rule, low), getattr(rule, high)
        if low_value is not None and high_value is not None and low_value > high_value:
            problems.append((high, f"the maximum {what} is below the minimum"))
    return problems


def rule_problems(rule: Rule, known: dict[str, set[str]]) -> list[str]:
    """What is wrong with one rule, for a person to read (`known`: codes that exist)."""
    label = f"Rule #{rule.position} {rule.name!r}"
    return [f"{label}: {message}" for _, message in rule_field_problems(rule, known)]


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
        rule_validate(rule, known_codes())
        rule.save()
        return rule


def rule_validate(rule: Rule, known: dict[str, set[str]]) -> None:
    """ValidationFailed with each problem at its field: the model's own checks (ranges,
    lengths, choices, constraints), then the codes and combinations rule_problems reads."""
    found = rule_field_problems(rule, known)
    errors = [{"field": field, "message": message} for field, message in found]
    # A field already found wrong is left out of the model's checks, so the database
    # constraint on it does not repeat the message in its own words.
    try:
        _full_clean(rule, exclude=["rule_set", "position", *(field for field, _ in found)])
    except ValidationFailed as exc:
        errors += exc.errors
    if errors:
        label = f"Rule #{rule.position} {rule.name!r}"
        problems = [f"{label}: {e['field']}: {e['message']}" for e in errors]
        raise ValidationFailed(
            " ".join(problems), code="rule_invalid", problems=problems, errors=errors
        )


def rules_write(*, rule_set_id: int, rules: list[Rule], deleted_ids: list[int]) -> None:
    """Save several rules of a draft at once and delete others (the admin's inline form):
    positions may be swapped among them, since each rule moves out of the way first."""
    with transaction.atomic():
        draft = _locked_draft(rule_set_id)
        known = known_codes()
        for rule in rules:
            rule.rule_set = draft
            rule_validate(rule, known)
        draft.rules.filter(pk__in=deleted_ids).delete()
        offset = (draft.rules.aggregate(p=Max("position"))["p"] or 0) + len(rules) + 1
        draft.rules.filter(pk__in=[r.pk for r in rules if r.pk]).update(
            position=F("position") + offset
        )
        try:
            with transaction.atomic():
                for rule in rules:
                    rule.save()
        except IntegrityError as exc:
            raise ValidationFailed(
                "Two rules of the draft would have the same position.",
                code="rule_order",
                errors=[{"field": "position", "message": "Each rule needs its own position."}],
            ) from exc


def rules_replace(*, rule_set_id: int, rules: list[Rule]) -> None:
    """The draft's rules become `rules`, in list order (positions 1..n); all or nothing.
    The caller (the CSV import) has validated each rule."""
    with transaction.atomic():
        draft = _locked_draft(rule_set_id)
        draft.rules.all().delete()
        for position, rule in enumerate(rules, start=1):
            rule.rule_set = draft
            rule.position = position
        Rule.objects.bulk_create(rules)


def rule_delete(*, rule_set_id: int, rule_id: int) -> None:
    with transaction.atomic():
        draft = _locked_draft(rule_set_id)
        draft.rules.filter(pk=rule_id).delete()


def rule_move(*, rule_set_id: int, rule_id: int, up: bool) -> None:
    """Swap a draft's rule with the one before it (`up`) or after it; at an end, nothing."""
    with transaction.atomic():
        draft = _locked_draft(rule_set_id)
        ids = list(draft.rules.order_by("position").values_list("pk", flat=True))
        if rule_id not in ids:
            raise NotFound(f"Rule set v{draft.version} has no rule {rule_id}.", code="rule_missing")
        at = ids.index(rule_id)
        other = at - 1 if up else at + 1
        if not 0 <= other < len(ids):
            return
        ids[at], ids[other] = ids[other], ids[at]
        rules_reorder(rule_set_id=rule_set_id, rule_ids=ids)


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
