"""Reads of LSP economics: which card prices a provider's work on a day."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from economics.models import RateCard, ShipmentCharge, ShipmentCost


def rate_card_in_force(*, provider_id: int, on: dt.date) -> RateCard | None:
    """The active card of the provider on that day, if any (at most one: the database says so)."""
    return (
        RateCard.objects.filter(provider_id=provider_id, status=RateCard.Status.ACTIVE)
        .filter(valid_from__lte=on)
        .exclude(valid_to__lte=on)
        .first()
    )


@dataclass(frozen=True)
class ExpectedCost:
    """A shipment's expected cost and its charge lines, for the desk and the ops screens."""

    cost: ShipmentCost
    lines: tuple[ShipmentCharge, ...]


def expected_costs_for(*, shipment_ids: Sequence[int]) -> dict[int, ExpectedCost]:
    """Shipment id → its expected cost (two queries; shipments not priced yet are absent)."""
    if not shipment_ids:
        return {}
    costs = ShipmentCost.objects.filter(shipment_id__in=shipment_ids)
    lines: dict[int, list[ShipmentCharge]] = defaultdict(list)
    for line in ShipmentCharge.objects.filter(shipment_id__in=shipment_ids).order_by("id"):
        lines[line.shipment_id].append(line)
    return {
        cost.shipment_id: ExpectedCost(cost=cost, lines=tuple(lines[cost.shipment_id]))
        for cost in costs
    }
