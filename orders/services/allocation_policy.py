"""The allocation policy as pure functions: where to reserve, and when to hold instead.

No database access here, so the rules can be read and tested on their own;
orders.services.allocation applies the decisions under locks.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from orders.iso import NO_POSTCODE_COUNTRIES
from orders.models import Hold, Order

# Exhaustive "fewest warehouses" search up to this many eligible warehouses; greedy beyond.
MAX_EXACT_WAREHOUSES = 8
# The split policy "ship what is available now and backorder the rest" (the value of
# routing.models.SplitPolicy.AVAILABLE_NOW, which orders may not import): an order
# routed with it is marked `Order.ships_partial` and ships its allocated part at once.
AVAILABLE_NOW = "available_now"


@dataclass
class Plan:
    strategy: str  # single | split | partial | none
    reason: str
    # product_id -> [(warehouse_id, quantity)] in priority order
    picks: dict[int, list[tuple[int, int]]] = field(default_factory=dict)
    # The router's explanation (rule, objective, chosen and alternatives), stored with
    # the `allocated` event: "why this warehouse" (routing.engine).
    routing: dict[str, Any] | None = None
    # The split policy the router applied ("" for the channel-priority policy):
    # AVAILABLE_NOW marks the order as shipping partially (orders.services.allocation).
    split_policy: str = ""


class AllocationLine(NamedTuple):
    """One order line as allocation reads it (orders.sql.ALLOCATION_INPUTS_SQL)."""

    id: int
    line_number: int
    product_id: int
    sku: str
    quantity: int
    taken: int  # already reserved or fulfilled
    weight_grams: int
    tags: list[str]

    @property
    def missing(self) -> int:
        return self.quantity - self.taken


def address_problems(order: Order) -> list[str]:
    """What is wrong with the order's shipping address, for a person to read."""
    problems: list[str] = []
    if not order.shipping_name.strip():
        problems.append("recipient name is empty")
    if not order.shipping_line1.strip():
        problems.append("street line is empty")
    if not order.shipping_city.strip():
        problems.append("city is empty")
    if len(order.shipping_country) != 2 or not order.shipping_country.isalpha():
        problems.append(f"country {order.shipping_country!r} is not ISO 3166-1 alpha-2")
    elif (
        not order.shipping_postcode.strip() and order.shipping_country not in NO_POSTCODE_COUNTRIES
    ):
        problems.append(f"postcode is required for {order.shipping_country}")
    return problems


def hold_reasons(order: Order) -> list[tuple[str, str]]:
    """The automatic holds a received order needs: (reason, detail), empty when none."""
    reasons: list[tuple[str, str]] = []
    limit = order.channel.order_value_limit
    if limit is not None and order.total_amount > limit:
        reasons.append(
            (
                Hold.Reason.VALUE_OVER_LIMIT,
                f"Order total {order.total_amount} {order.currency} is over the "
                f"{order.channel.code} limit of {limit}.",
            )
        )
    problems = address_problems(order)
    if problems:
        reasons.append(
            (
                Hold.Reason.ADDRESS_INVALID,
                "Shipping address failed validation: " + "; ".join(problems),
            )
        )
    return reasons


Available = dict[tuple[int, int], int]


def plan_allocation(
    *,
    needs: dict[int, int],
    warehouses: list[int],
    available: Available,
    codes: dict[int, str],
) -> Plan:
    """Decide where each product's need is reserved. Pure: no database access."""
    if not warehouses:
        return Plan("none", "The channel has no active eligible warehouse.")
    return (
        _single_warehouse_plan(needs=needs, warehouses=warehouses, available=available, codes=codes)
        or _split_plan(needs=needs, warehouses=warehouses, available=available, codes=codes)
        or _partial_plan(needs=needs, warehouses=warehouses, available=available, codes=codes)
    )


def _avail(available: Mapping[tuple[int, int], int], p: int, w: int) -> int:
    return max(available.get((p, w), 0), 0)


def _single_warehouse_plan(
    *, needs: dict[int, int], warehouses: list[int], available: Available, codes: dict[int, str]
) -> Plan | None:
    """The highest-priority warehouse that holds every line, if any."""
    for rank, w in enumerate(warehouses):
        if all(_avail(available, p, w) >= q for p, q in needs.items()):
            skipped = ", ".join(codes[x] for x in warehouses[:rank])
            reason = f"{codes[w]} can ship the whole order" + (
                f" (higher-priority {skipped} cannot)" if skipped else " (first priority)"
            )
            return Plan("single", reason, {p: [(w, q)] for p, q in needs.items()})
    return None


def picks_covering(
    *, needs: Mapping[int, int], combo: Sequence[int], available: Mapping[tuple[int, int], int]
) -> dict[int, list[tuple[int, int]]] | None:
    """Picks that ship every line from the warehouses of `combo`, or None if they cannot."""
    picks: dict[int, list[tuple[int, int]]] = {}
    for p, q in needs.items():
        # Prefer keeping a product whole in one warehouse of the combination.
        whole = next((w for w in combo if _avail(available, p, w) >= q), None)
        if whole is not None:
            picks[p] = [(whole, q)]
            continue
        left = q
        chosen: list[tuple[int, int]] = []
        for w in combo:
            take = min(_avail(available, p, w), left)
            if take:
                chosen.append((w, take))
                left -= take
        if left:
            return None
        picks[p] = chosen
    return picks


def _split_plan(
    *, needs: dict[int, int], warehouses: list[int], available: Available, codes: dict[int, str]
) -> Plan | None:
    """The fewest warehouses that ship complete (exhaustive up to MAX_EXACT_WAREHOUSES,
    greedy in priority order beyond), if any combination can."""
    if len(warehouses) > MAX_EXACT_WAREHOUSES:
        picks = picks_covering(needs=needs, combo=warehouses, available=available)
        if picks is None:
            return None
        used = sorted({w for chosen in picks.values() for w, _ in chosen}, key=warehouses.index)
        return Plan(
            "split",
            "No single warehouse holds every line; split across "
            + ", ".join(codes[w] for w in used)
            + " in priority order.",
            picks,
        )
    for size in range(2, len(warehouses) + 1):
        for combo in itertools.combinations(warehouses, size):
            picks = picks_covering(needs=needs, combo=combo, available=available)
            if picks is not None:
                names = ", ".join(codes[w] for w in combo)
                return Plan(
                    "split",
                    f"No single warehouse holds every line; split across {names}, "
                    f"the fewest warehouses ({size}) that can ship it complete.",
                    picks,
                )
    return None


def picks_partial(
    *, needs: Mapping[int, int], order: Sequence[int], available: Mapping[tuple[int, int], int]
) -> dict[int, list[tuple[int, int]]]:
    """What exists of each need, taken from the warehouses in `order`."""
    picks: dict[int, list[tuple[int, int]]] = {}
    for p, q in needs.items():
        left = q
        chosen: list[tuple[int, int]] = []
        for w in order:
            take = min(_avail(available, p, w), left)
            if take:
                chosen.append((w, take))
                left -= take
        if chosen:
            picks[p] = chosen
    return picks


def _partial_plan(
    *, needs: dict[int, int], warehouses: list[int], available: Available, codes: dict[int, str]
) -> Plan:
    """What exists, in priority order; the rest is backordered."""
    picks = picks_partial(needs=needs, order=warehouses, available=available)
    return Plan(
        "partial",
        "Not enough stock in the eligible warehouses ("
        + ", ".join(codes[w] for w in warehouses)
        + "); allocated what exists and backordered the rest.",
        picks,
    )
