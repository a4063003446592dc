"""Reads for the rule set screens (docs/routing.md, "Rules and rule sets")."""

from __future__ import annotations

from django.db.models import Count, QuerySet

from routing.models import RuleSet

RULESETS_PAGE = 50


def rulesets_page(*, before_version: int | None = None) -> tuple[list[RuleSet], int | None]:
    """The newest versions (each with `rules_count`), and the version to read the next page
    before (None on the last page)."""
    versions: QuerySet[RuleSet] = RuleSet.objects.annotate(rules_count=Count("rules")).order_by(
        "-version"
    )
    if before_version is not None:
        versions = versions.filter(version__lt=before_version)
    found = list(versions[: RULESETS_PAGE + 1])
    more = len(found) > RULESETS_PAGE
    found = found[:RULESETS_PAGE]
    return found, (found[-1].version if more else None)


def ruleset_in_force() -> RuleSet | None:
    """The published version; None: no rule set is published, the built-in default routes."""
    return RuleSet.objects.filter(status=RuleSet.Status.PUBLISHED).first()
