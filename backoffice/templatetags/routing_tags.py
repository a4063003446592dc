"""The what-if start form on a rule set's page: its default period and the recent runs."""

from __future__ import annotations

from typing import Any

from django import template

from backoffice.views.routing_whatif import default_period
from routing.models import RuleSet
from routing.selectors import whatif_runs_recent

register = template.Library()


@register.simple_tag
def whatif_defaults(rule_set: RuleSet) -> dict[str, Any]:
    """The form's default period (the last 30 days) and the rule set's latest runs (one query)."""
    start, end = default_period()
    return {
        "period_start": start.isoformat(),
        "period_end": end.isoformat(),
        "runs": list(whatif_runs_recent(rule_set=rule_set)),
    }
