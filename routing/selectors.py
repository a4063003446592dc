"""Reads for the rule set screens (docs/routing.md, "Rules and rule sets") and the
what-if screens ("What-if")."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, cast

from django.db.models import Count, QuerySet

from routing.models import RuleSet, WhatIfOrder, WhatIfRun

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


# --- What-if -----------------------------------------------------------------------------

WHATIF_CSV_HEADER = [
    "order",
    "placed_at",
    "rule",
    "strategy",
    "simulated_sites",
    "simulated_providers",
    "simulated_shipments",
    "simulated_cost",
    "simulated_currency",
    "simulated_ship_by",
    "simulated_promised_delivery_date",
    "simulated_deadline",
    "actual_sites",
    "actual_shipments",
    "actual_cost",
    "actual_currency",
    "actual_delivered_on",
]


@dataclass(frozen=True)
class Figure:
    """One line of the comparison: what it measures, the simulated and the actual value."""

    key: str
    label: str
    simulated: str
    actual: str


def _share(part: int, whole: int) -> str:
    return f"{Decimal(part * 100) / whole:.1f} %" if whole else "–"


def _ratio(part: int, whole: int) -> str:
    return f"{Decimal(part) / whole:.2f}" if whole else "–"


def whatif_figures(*, run: WhatIfRun) -> list[Figure]:
    """The comparison table of a finished run (empty before it is done)."""
    summary: dict[str, Any] = run.summary or {}
    if not summary:
        return []
    orders = summary["orders"]
    sim, act = summary["simulated"], summary["actual"]
    figures = [
        Figure("orders", "Orders in the period", str(orders), str(orders)),
        Figure(
            "shipped",
            "Orders with a shipment",
            str(sim["shipped"]),
            str(act["shipped"]),
        ),
    ]
    currencies = sorted(set(sim["costs"]) | set(act["costs"]))
    for currency in currencies:
        s = sim["costs"].get(currency, {"total": "0", "orders": 0})
        a = act["costs"].get(currency, {"total": "0", "orders": 0})
        figures.append(
            Figure(
                f"cost_{currency}",
                f"Expected cost ({currency})",
                f"{Decimal(s['total']):,.2f}",
                f"{Decimal(a['total']):,.2f}",
            )
        )
        figures.append(
            Figure(
                f"cost_per_order_{currency}",
                f"Expected cost per priced order ({currency})",
                _ratio_money(Decimal(s["total"]), s["orders"]),
                _ratio_money(Decimal(a["total"]), a["orders"]),
            )
        )
    figures += [
        Figure(
            "unpriced", "Orders shipped but not priced", str(sim["unpriced"]), str(act["unpriced"])
        ),
        Figure(
            "promise_met",
            "Promise met",
            _share(sim["met"], sim["judged"]),
            _share(act["met"], act["judged"]),
        ),
        Figure(
            "shipments_per_order",
            "Shipments per order",
            _ratio(sim["shipments"], orders),
            _ratio(act["shipments"], orders),
        ),
        Figure(
            "split_rate", "Split rate", _share(sim["split"], orders), _share(act["split"], orders)
        ),
    ]
    return figures


def _ratio_money(total: Decimal, count: int) -> str:
    return f"{total / count:,.2f}" if count else "–"


def whatif_site_volumes(*, run: WhatIfRun) -> list[tuple[str, int, int]]:
    """(site code, simulated shipments, actual shipments), busiest first."""
    summary: dict[str, Any] = run.summary or {}
    if not summary:
        return []
    sim, act = summary["simulated"]["sites"], summary["actual"]["sites"]
    rows = [(code, sim.get(code, 0), act.get(code, 0)) for code in set(sim) | set(act)]
    return sorted(rows, key=lambda r: (-max(r[1], r[2]), r[0]))


def whatif_runs_recent(*, rule_set: RuleSet, limit: int = 5) -> QuerySet[WhatIfRun]:
    return WhatIfRun.objects.filter(rule_set=rule_set).order_by("-created_at", "-id")[:limit]


def whatif_csv_rows(*, run: WhatIfRun) -> Iterator[list[Any]]:
    """The header, then one row per order of the run in order id order (one query,
    read from a server-side cursor in batches)."""
    yield WHATIF_CSV_HEADER
    rows = (
        WhatIfOrder.objects.filter(run=run)
        .order_by("order_id")
        .values_list(
            "order_number",
            "placed_at",
            "rule_position",
            "strategy",
            "sites",
            "providers",
            "shipments",
            "cost",
            "currency",
            "ship_by",
            "promised_delivery_date",
            "deadline",
            "actual_sites",
            "actual_shipments",
            "actual_cost",
            "actual_currency",
            "actual_delivered_on",
        )
        .iterator(chunk_size=2000)
    )
    for row in rows:
        values: list[Any] = list(row)
        values[1] = row[1].isoformat()
        values[2] = f"#{row[2]}" if row[2] is not None else "default"
        for index in (4, 5, 12):  # sites and providers, space-separated
            values[index] = " ".join(cast("list[str]", row[index]))
        yield values
