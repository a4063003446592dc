"""Reads of LSP economics: which card prices a provider's work on a day."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from economics import pricing
from economics.models import Dispute, Invoice, RateCard, ShipmentCharge, ShipmentCost
from orders.iso import currency_places


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


def invoices_recent(*, limit: int = 50) -> list[Invoice]:
    return list(Invoice.objects.select_related("provider").order_by("-created_at", "-id")[:limit])


DISPUTES_PAGE = 50


def invoice_disputes_page(
    *, invoice: Invoice, kind: str = "", status: str = "", after_id: int = 0
) -> tuple[list[Dispute], int | None]:
    """One page of the invoice's disputes by id (keyset), and the id to continue after."""
    rows = Dispute.objects.filter(invoice=invoice, pk__gt=after_id).select_related("line")
    if kind:
        rows = rows.filter(kind=kind)
    if status:
        rows = rows.filter(status=status)
    found = list(rows.order_by("pk")[: DISPUTES_PAGE + 1])
    more = len(found) > DISPUTES_PAGE
    found = found[:DISPUTES_PAGE]
    return found, (found[-1].pk if more else None)


def card_terms(card: RateCard) -> pricing.CardTerms:
    """The card as plain data for economics.pricing (two queries: zones, rules)."""
    zones = list(card.zones.all())
    zone_code = {zone.pk: zone.code for zone in zones}
    rules = tuple(
        pricing.RuleTerms(
            id=rule.pk,
            charge_type=rule.charge_type,
            name=rule.name,
            amount=rule.amount,
            percent=rule.percent,
            applies_to=frozenset(rule.applies_to),
            zone=zone_code.get(rule.zone_id) if rule.zone_id else None,
            weight_from_grams=rule.weight_from_grams,
            weight_to_grams=rule.weight_to_grams,
            included_units=rule.included_units,
            postcode_prefixes=tuple(
                pricing.normalised_postcode(prefix) for prefix in rule.postcode_prefixes
            ),
        )
        for rule in card.rules.all()
    )
    return pricing.CardTerms(
        id=card.pk,
        currency=card.currency,
        places=currency_places(card.currency) or 0,
        zone_of_country={country: zone.code for zone in zones for country in zone.countries},
        rules=rules,
    )
