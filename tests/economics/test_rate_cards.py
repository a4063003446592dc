"""Rate cards in the database: what activation refuses, what Postgres itself refuses, and
the card that prices a provider's work on a given day."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from core.errors import Conflict, ValidationFailed
from economics import pricing
from economics.models import ChargeRule, ChargeType, RateCard, Zone
from economics.selectors import card_terms, rate_card_in_force
from economics.services.rate_cards import rate_card_activate, rate_card_problems
from tests.logistics.factories import ProviderFactory

pytestmark = pytest.mark.django_db


def a_card(provider=None, *, valid_from=dt.date(2026, 1, 1), valid_to=None, currency="EUR"):
    card = RateCard.objects.create(
        provider=provider or ProviderFactory(),
        name="2026",
        currency=currency,
        valid_from=valid_from,
        valid_to=valid_to,
    )
    zone = Zone.objects.create(card=card, code="eu", countries=["DE", "FR"])
    ChargeRule.objects.create(card=card, charge_type="fulfilment", name="Fee", amount="1.80")
    ChargeRule.objects.create(
        card=card,
        charge_type="parcel",
        name="0-2 kg",
        amount="5.00",
        zone=zone,
        weight_from_grams=0,
        weight_to_grams=2000,
    )
    ChargeRule.objects.create(
        card=card,
        charge_type="parcel",
        name="2 kg+",
        amount="7.00",
        zone=zone,
        weight_from_grams=2000,
    )
    return card


def test_a_sound_card_activates_and_prices_from_the_day_it_is_valid():
    card = a_card(valid_from=dt.date(2026, 3, 1), valid_to=dt.date(2026, 4, 1))

    rate_card_activate(card_id=card.pk, actor="ops@example.com")

    card.refresh_from_db()
    assert (card.status, card.activated_by) == ("active", "ops@example.com")
    on = rate_card_in_force
    assert on(provider_id=card.provider_id, on=dt.date(2026, 2, 28)) is None
    assert on(provider_id=card.provider_id, on=dt.date(2026, 3, 1)) == card
    assert on(provider_id=card.provider_id, on=dt.date(2026, 3, 31)) == card
    assert on(provider_id=card.provider_id, on=dt.date(2026, 4, 1)) is None


def test_terms_read_from_the_database_price_like_the_rows_say():
    card = a_card()
    quote = pricing.shipment_quote(
        card_terms(card),
        pricing.ShipmentWork(units=1, parcel_weights_grams=(2500,), country="FR"),
    )
    assert [(line.description, line.amount) for line in quote.lines] == [
        ("Fee", Decimal("1.80")),
        ("2 kg+", Decimal("7.00")),
    ]


def test_activation_lists_every_problem_and_changes_nothing():
    card = a_card(currency="EUR")
    zone = card.zones.get()
    Zone.objects.create(card=card, code="more", countries=["FR", "XX"])
    ChargeRule.objects.create(
        card=card,
        charge_type="parcel",
        name="overlap",
        amount="1.00",
        zone=zone,
        weight_from_grams=1500,
        weight_to_grams=2500,
    )
    ChargeRule.objects.create(card=card, charge_type="customs", name="Decl", amount="2.505")
    ChargeRule.objects.create(card=card, charge_type="surcharge", name="Fuel", percent="10")

    with pytest.raises(ValidationFailed) as refused:
        rate_card_activate(card_id=card.pk, actor="ops")

    messages = [error["message"] for error in refused.value.errors]
    assert "“Decl”: 2.5050 has more than the 2 decimal places of EUR" in messages
    assert "zone more: 'XX' is not an ISO 3166-1 country" in messages
    assert "FR is in zones eu and more" in messages
    assert "zone more has no parcel weight bands" in messages
    assert any(message.startswith("zone eu: bands overlap") for message in messages)
    assert "surcharge “Fuel” applies to no charge type" in messages
    card.refresh_from_db()
    assert card.status == "draft"


def test_two_active_cards_of_one_provider_may_not_overlap():
    first = a_card(valid_from=dt.date(2026, 1, 1), valid_to=dt.date(2026, 7, 1))
    rate_card_activate(card_id=first.pk, actor="ops")
    overlapping = a_card(first.provider, valid_from=dt.date(2026, 6, 1))
    following = a_card(first.provider, valid_from=dt.date(2026, 7, 1))
    elsewhere = a_card(valid_from=dt.date(2026, 1, 1))

    with pytest.raises(Conflict) as refused:
        rate_card_activate(card_id=overlapping.pk, actor="ops")
    rate_card_activate(card_id=following.pk, actor="ops")
    rate_card_activate(card_id=elsewhere.pk, actor="ops")

    assert refused.value.code == "rate_card_overlap"
    overlapping.refresh_from_db()
    assert overlapping.status == "draft"


def test_the_database_refuses_an_overlap_written_around_the_service():
    first = a_card()
    rate_card_activate(card_id=first.pk, actor="ops")
    second = a_card(first.provider, valid_from=dt.date(2027, 1, 1))
    overlap = "ratecard_active_versions_do_not_overlap"
    with pytest.raises(IntegrityError, match=overlap), transaction.atomic():
        RateCard.objects.filter(pk=second.pk).update(status="active")


@pytest.mark.parametrize(
    ("fields", "constraint"),
    [
        ({"charge_type": "surcharge", "amount": "1.00"}, "chargerule_amount_or_percent"),
        ({"charge_type": "fulfilment", "amount": None}, "chargerule_amount_or_percent"),
        ({"charge_type": "surcharge", "percent": "150"}, "chargerule_amount_or_percent"),
        ({"charge_type": "parcel", "amount": "1.00"}, "chargerule_parcel_has_zone_and_band"),
        ({"charge_type": "bogus", "amount": "1.00"}, "chargerule_type_known"),
        (
            {
                "charge_type": "fulfilment",
                "amount": "1",
                "weight_from_grams": 5,
                "weight_to_grams": 5,
            },
            "chargerule_band_not_empty",
        ),
    ],
)
def test_rule_rows_that_cannot_mean_anything_are_refused_by_the_database(fields, constraint):
    card = a_card()
    with pytest.raises(IntegrityError, match=constraint), transaction.atomic():
        ChargeRule.objects.create(card=card, name="bad", **fields)


def test_a_card_with_an_unknown_currency_or_no_rules_cannot_price_anything():
    card = RateCard.objects.create(
        provider=ProviderFactory(), name="x", currency="ZZZ", valid_from=dt.date(2026, 1, 1)
    )
    assert rate_card_problems(card) == ["'ZZZ' is not an ISO 4217 currency"]
    card.currency = "JPY"
    assert rate_card_problems(card) == ["the card has no charge rules"]
    assert ChargeType.SURCHARGE.value == pricing.SURCHARGE
