"""Properties of the pricing engine (issue 19): for any valid card and any work it prices,
the charge lines sum to the total, every weight falls in exactly one band, and no float
appears anywhere in money."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from economics import pricing
from economics.pricing import CardTerms, RuleTerms, ShipmentWork

COUNTRIES = ["DE", "FR", "NL", "BE", "AT", "GB", "US", "JP", "SE", "IT"]
PRICED_TYPES = [
    pricing.FULFILMENT,
    pricing.ADDITIONAL_UNIT,
    pricing.PARCEL,
    pricing.REMOTE_AREA,
    pricing.CUSTOMS,
]


def amounts(places: int):
    return st.decimals(
        min_value=0, max_value=5000, places=places, allow_nan=False, allow_infinity=False
    )


@st.composite
def band_edges(draw):
    """Strictly increasing band boundaries from 0 and whether the last band is open-ended."""
    inner = draw(st.lists(st.integers(1, 70_000), min_size=0, max_size=6, unique=True))
    return [0, *sorted(inner)], draw(st.booleans())


@st.composite
def cards(draw):
    places = draw(st.sampled_from([0, 2, 3]))
    countries = draw(st.permutations(COUNTRIES))
    zone_count = draw(st.integers(1, 3))
    cuts = sorted(
        draw(
            st.lists(
                st.integers(1, len(COUNTRIES) - 1),
                min_size=zone_count - 1,
                max_size=zone_count - 1,
                unique=True,
            )
        )
    )
    groups = [countries[a:b] for a, b in zip([0, *cuts], [*cuts, len(COUNTRIES)], strict=True)]
    ids = iter(range(1, 10_000))
    rules: list[RuleTerms] = []
    zone_of_country = {}
    for number, group in enumerate(groups):
        zone = f"z{number}"
        zone_of_country.update(dict.fromkeys(group, zone))
        edges, open_ended = draw(band_edges())
        tops = [*edges[1:], None if open_ended else edges[-1] + draw(st.integers(1, 30_000))]
        for start, end in zip(edges, tops, strict=True):
            rules.append(
                RuleTerms(
                    id=next(ids),
                    charge_type=pricing.PARCEL,
                    name=f"{zone} band",
                    amount=draw(amounts(places)),
                    zone=zone,
                    weight_from_grams=start,
                    weight_to_grams=end,
                )
            )
    rules.append(
        RuleTerms(
            id=next(ids),
            charge_type=pricing.FULFILMENT,
            name="Fulfilment",
            amount=draw(amounts(places)),
        )
    )
    rules.append(
        RuleTerms(
            id=next(ids),
            charge_type=pricing.ADDITIONAL_UNIT,
            name="Pick",
            amount=draw(amounts(places)),
            included_units=draw(st.integers(0, 3)),
        )
    )
    rules.append(
        RuleTerms(
            id=next(ids),
            charge_type=pricing.CUSTOMS,
            name="Declaration",
            amount=draw(amounts(places)),
        )
    )
    rules.append(
        RuleTerms(
            id=next(ids),
            charge_type=pricing.REMOTE_AREA,
            name="Remote",
            amount=draw(amounts(places)),
            postcode_prefixes=("ZE", "HS", "20"),
        )
    )
    for _ in range(draw(st.integers(0, 2))):
        rules.append(
            RuleTerms(
                id=next(ids),
                charge_type=pricing.SURCHARGE,
                name="Fuel",
                percent=draw(st.decimals(min_value=0, max_value=40, places=4)),
                applies_to=frozenset(
                    draw(st.lists(st.sampled_from(PRICED_TYPES), min_size=1, unique=True))
                ),
            )
        )
    return CardTerms(
        id=1, currency="EUR", places=places, zone_of_country=zone_of_country, rules=tuple(rules)
    )


def _top(card: CardTerms, zone: str) -> int | None:
    ends = [rule.weight_to_grams for rule in card.of_type(pricing.PARCEL) if rule.zone == zone]
    return None if None in ends else max(end for end in ends if end is not None)


@st.composite
def card_and_work(draw):
    card = draw(cards())
    country = draw(st.sampled_from(COUNTRIES))
    top = _top(card, card.zone_of_country[country])
    weights = draw(st.lists(st.integers(0, (top or 200_000) - 1), min_size=1, max_size=6))
    work = ShipmentWork(
        units=draw(st.integers(1, 40)),
        parcel_weights_grams=tuple(weights),
        country=country,
        postcode=draw(st.sampled_from(["10115", "ZE1 0AA", "20095", "hs1 2aa", ""])),
        customs_declarations=draw(st.integers(0, 1)),
    )
    return card, work


def _floats_in(value) -> list:
    if isinstance(value, float):
        return [value]
    if dataclasses.is_dataclass(value):
        return [f for item in dataclasses.astuple(value) for f in _floats_in(item)]
    if isinstance(value, (tuple, list, frozenset, set)):
        return [f for item in value for f in _floats_in(item)]
    return []


@given(card_and_work())
def test_the_lines_sum_to_the_total_in_the_currency_places(case):
    card, work = case
    quote = pricing.shipment_quote(card, work)
    assert quote.problems == ()
    assert sum((line.amount for line in quote.lines), Decimal(0)) == quote.total
    for amount in [quote.total, *(line.amount for line in quote.lines)]:
        assert isinstance(amount, Decimal)
        assert amount.as_tuple().exponent == -card.places
    assert _floats_in(quote) == []


@given(card_and_work())
def test_every_parcel_is_priced_once_and_surcharges_follow_their_base(case):
    card, work = case
    quote = pricing.shipment_quote(card, work)
    parcels = sum(line.quantity for line in quote.lines if line.charge_type == pricing.PARCEL)
    assert parcels == len(work.parcel_weights_grams)
    half_unit = Decimal(1).scaleb(-card.places) / 2
    for rule in card.of_type(pricing.SURCHARGE):
        base = sum(
            (line.amount for line in quote.lines if line.charge_type in rule.applies_to),
            Decimal(0),
        )
        charged = sum((line.amount for line in quote.lines if line.rule_id == rule.id), Decimal(0))
        assert abs(charged - base * rule.percent / 100) <= half_unit


@given(cards(), st.integers(0, 300_000))
def test_every_weight_below_the_top_maps_to_exactly_one_band(card, weight):
    for zone in set(card.zone_of_country.values()):
        bands = [rule for rule in card.of_type(pricing.PARCEL) if rule.zone == zone]
        assert pricing.band_problems(bands) == []
        top = _top(card, zone)
        expected = 1 if top is None or weight < top else 0
        assert len(pricing.band_for(bands, weight)) == expected


@given(cards(), st.data())
def test_a_gap_or_an_overlap_between_bands_is_found(card, data):
    zone = sorted(set(card.zone_of_country.values()))[0]
    bands = sorted(
        (rule for rule in card.of_type(pricing.PARCEL) if rule.zone == zone),
        key=lambda rule: rule.weight_from_grams,
    )
    victim = data.draw(st.integers(0, len(bands) - 1))
    shift = data.draw(st.sampled_from([-1, 1]))
    moved = bands[victim]
    start = (moved.weight_from_grams or 0) + shift
    if start < 0 or (moved.weight_to_grams is not None and start >= moved.weight_to_grams):
        start = (moved.weight_from_grams or 0) + 1 if shift < 0 else 1
        if moved.weight_to_grams is not None and start >= moved.weight_to_grams:
            return  # a 1-gram band cannot move inside itself; nothing to break
    broken = [
        *bands[:victim],
        dataclasses.replace(moved, weight_from_grams=start),
        *bands[victim + 1 :],
    ]
    assert pricing.band_problems(broken) != []


@given(card_and_work())
def test_the_same_work_gets_the_same_quote(case):
    card, work = case
    assert pricing.shipment_quote(card, work) == pricing.shipment_quote(card, work)


def test_a_parcel_above_every_band_is_a_problem_not_a_free_parcel():
    card = CardTerms(
        id=1,
        currency="EUR",
        places=2,
        zone_of_country={"DE": "home"},
        rules=(
            RuleTerms(
                id=1,
                charge_type=pricing.PARCEL,
                name="0-5 kg",
                amount=Decimal("4.50"),
                zone="home",
                weight_from_grams=0,
                weight_to_grams=5000,
            ),
        ),
    )
    quote = pricing.shipment_quote(
        card, ShipmentWork(units=1, parcel_weights_grams=(6000,), country="DE")
    )
    assert quote.lines == ()
    assert quote.problems == ("parcel 1 (6000 g) fits no single band of zone home",)
    abroad = pricing.shipment_quote(
        card, ShipmentWork(units=1, parcel_weights_grams=(100,), country="FR")
    )
    assert abroad.problems == ("no zone of the card holds the destination country FR",)


def test_a_worked_example():
    card = CardTerms(
        id=1,
        currency="EUR",
        places=2,
        zone_of_country={"DE": "home", "FR": "eu"},
        rules=(
            RuleTerms(
                id=1, charge_type=pricing.FULFILMENT, name="Fulfilment", amount=Decimal("1.80")
            ),
            RuleTerms(
                id=2,
                charge_type=pricing.ADDITIONAL_UNIT,
                name="Pick",
                amount=Decimal("0.25"),
                included_units=1,
            ),
            RuleTerms(
                id=3,
                charge_type=pricing.PARCEL,
                name="EU 0-2 kg",
                amount=Decimal("6.10"),
                zone="eu",
                weight_from_grams=0,
                weight_to_grams=2000,
            ),
            RuleTerms(
                id=4,
                charge_type=pricing.PARCEL,
                name="EU 2 kg+",
                amount=Decimal("9.90"),
                zone="eu",
                weight_from_grams=2000,
            ),
            RuleTerms(
                id=5,
                charge_type=pricing.SURCHARGE,
                name="Fuel",
                percent=Decimal("12.5"),
                applies_to=frozenset({pricing.PARCEL}),
            ),
        ),
    )
    quote = pricing.shipment_quote(
        card, ShipmentWork(units=4, parcel_weights_grams=(1999, 2000, 500), country="FR")
    )
    assert [(line.description, line.quantity, line.amount) for line in quote.lines] == [
        ("Fulfilment", 1, Decimal("1.80")),
        ("Pick", 3, Decimal("0.75")),
        ("EU 0-2 kg", 2, Decimal("12.20")),
        ("EU 2 kg+", 1, Decimal("9.90")),
        ("Fuel (12.5 %)", 1, Decimal("2.76")),  # 12.5 % of 22.10 = 2.7625
    ]
    assert quote.total == Decimal("27.41")
