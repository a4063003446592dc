"""Rate cards: their terms for pricing, their validation as a whole, and activation.

A card is edited freely while it is a draft (admin, CSV import); it prices work only
once activated, and activation refuses a card that could price something wrongly:
an unknown currency, amounts finer than the currency's places, a country in two
zones, weight bands with gaps or overlaps, a surcharge of nothing.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone

from core.errors import Conflict, NotFound, ValidationFailed
from economics import pricing
from economics.models import ChargeRule, ChargeType, RateCard
from economics.selectors import card_terms
from economics.services.repricing import repricing_job_create
from orders.iso import currency_places, is_country

OVERLAP_CONSTRAINT = "ratecard_active_versions_do_not_overlap"


def _finer_than(value: Decimal | None, places: int) -> bool:
    return value is not None and value != pricing.money(value, places)


def _money_problems(card: RateCard, rules: list[ChargeRule], places: int) -> list[str]:
    problems = []
    if _finer_than(card.monthly_minimum, places):
        problems.append(f"the monthly minimum has more than {places} decimal places")
    for rule in rules:
        if _finer_than(rule.amount, places):
            problems.append(
                f"“{rule.name}”: {rule.amount} has more than the {places} decimal places "
                f"of {card.currency}"
            )
    return problems


def _zone_problems(card: RateCard) -> list[str]:
    problems = []
    seen: dict[str, str] = {}
    for zone in card.zones.all():
        for country in zone.countries:
            if not is_country(country):
                problems.append(f"zone {zone.code}: {country!r} is not an ISO 3166-1 country")
            elif country in seen:
                problems.append(f"{country} is in zones {seen[country]} and {zone.code}")
            else:
                seen[country] = zone.code
    return problems


def _rule_problems(card: RateCard, terms: pricing.CardTerms, rules: list[ChargeRule]) -> list[str]:
    problems = []
    bands: dict[str, list[pricing.RuleTerms]] = defaultdict(list)
    for rule in terms.of_type(pricing.PARCEL):
        bands[rule.zone or ""].append(rule)
    for zone in card.zones.all():
        if zone.code not in bands:
            problems.append(f"zone {zone.code} has no parcel weight bands")
    for zone_code, zone_bands in sorted(bands.items()):
        problems += [
            f"zone {zone_code}: {problem}" for problem in pricing.band_problems(zone_bands)
        ]
    for row in rules:
        if row.charge_type == ChargeType.SURCHARGE:
            targets = set(row.applies_to)
            if not targets:
                problems.append(f"surcharge “{row.name}” applies to no charge type")
            if ChargeType.SURCHARGE in targets:
                problems.append(f"surcharge “{row.name}” cannot apply to surcharges")
        if row.charge_type == ChargeType.REMOTE_AREA and not row.postcode_prefixes:
            problems.append(f"remote-area rule “{row.name}” names no postcode prefix")
    return problems


def rate_card_problems(card: RateCard) -> list[str]:
    """Everything that stops the card from pricing work correctly (empty: it may be activated)."""
    places = currency_places(card.currency)
    if places is None:
        return [f"{card.currency!r} is not an ISO 4217 currency"]
    rules = list(card.rules.all())
    if not rules:
        return ["the card has no charge rules"]
    terms = card_terms(card)
    return (
        _money_problems(card, rules, places)
        + _zone_problems(card)
        + _rule_problems(card, terms, rules)
    )


@transaction.atomic
def rate_card_activate(*, card_id: int, actor: str) -> RateCard:
    """Make a draft card the one that prices its provider's work in its validity period."""
    card = RateCard.objects.select_for_update().filter(pk=card_id).first()
    if card is None:
        raise NotFound(f"Rate card {card_id} does not exist.")
    if card.status != RateCard.Status.DRAFT:
        raise Conflict(f"Rate card {card} is {card.status}; only a draft can be activated.")
    problems = rate_card_problems(card)
    if problems:
        raise ValidationFailed(
            f"Rate card {card} cannot be activated: {'; '.join(problems)}.",
            errors=[{"field": "card", "message": problem} for problem in problems],
        )
    card.status = RateCard.Status.ACTIVE
    card.activated_at = timezone.now()
    card.activated_by = actor
    try:
        with transaction.atomic():
            card.save(update_fields=["status", "activated_at", "activated_by", "updated_at"])
    except IntegrityError as exc:
        if OVERLAP_CONSTRAINT not in str(exc):
            raise
        raise Conflict(
            f"Rate card {card} overlaps an active card of provider {card.provider_id}; "
            "retire that one first, or change this one's dates.",
            code="rate_card_overlap",
        ) from exc
    # Shipments already priced in its period (under another card, or none) follow it.
    repricing_job_create(card=card, reason=f"{card} activated by {actor}")
    return card


@transaction.atomic
def rate_card_retire(*, card_id: int, actor: str) -> RateCard:
    """Take an active card out of force; the shipments it priced are priced again (they
    then say that no card is in force, until a replacement is activated)."""
    card = RateCard.objects.select_for_update().filter(pk=card_id).first()
    if card is None:
        raise NotFound(f"Rate card {card_id} does not exist.")
    if card.status != RateCard.Status.ACTIVE:
        raise Conflict(f"Rate card {card} is {card.status}; only an active card can be retired.")
    card.status = RateCard.Status.RETIRED
    card.save(update_fields=["status", "updated_at"])
    repricing_job_create(card=card, reason=f"{card} retired by {actor}")
    return card
