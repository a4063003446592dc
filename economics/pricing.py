"""The price of a piece of LSP work under a rate card: pure functions over plain data.

Nothing here reads the database: `economics.services.rate_cards.card_terms` turns a
card into `CardTerms` once, and the same terms price any number of shipments,
returns, receipts and storage days. Every amount is a Decimal in the card's currency
places (ROUND_HALF_UP per charge line); a quote's total is built from the same
rounded figures its lines carry, so the lines always sum to the total.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

FULFILMENT = "fulfilment"
ADDITIONAL_UNIT = "additional_unit"
PARCEL = "parcel"
REMOTE_AREA = "remote_area"
RETURN = "return"
INBOUND_UNIT = "inbound_unit"
STORAGE = "storage"
CUSTOMS = "customs"
SURCHARGE = "surcharge"
HUNDRED = Decimal(100)


@dataclass(frozen=True)
class RuleTerms:
    id: int
    charge_type: str
    name: str
    amount: Decimal | None = None
    percent: Decimal | None = None
    applies_to: frozenset[str] = frozenset()
    zone: str | None = None
    weight_from_grams: int | None = None
    weight_to_grams: int | None = None
    included_units: int = 1
    postcode_prefixes: tuple[str, ...] = ()


@dataclass(frozen=True)
class CardTerms:
    id: int
    currency: str
    places: int
    zone_of_country: Mapping[str, str]
    rules: tuple[RuleTerms, ...]

    def of_type(self, charge_type: str) -> list[RuleTerms]:
        return [rule for rule in self.rules if rule.charge_type == charge_type]


@dataclass(frozen=True)
class ShipmentWork:
    """What the LSP does for one outbound shipment."""

    units: int
    parcel_weights_grams: tuple[int, ...]
    country: str
    postcode: str = ""
    customs_declarations: int = 0


@dataclass(frozen=True)
class ChargeLine:
    charge_type: str
    rule_id: int
    description: str
    quantity: int
    unit_amount: Decimal
    amount: Decimal


@dataclass(frozen=True)
class Quote:
    currency: str
    lines: tuple[ChargeLine, ...]
    total: Decimal
    # Work the card cannot price (a country in no zone, a parcel above every band):
    # the quote is then incomplete, and says so instead of pricing it at zero.
    problems: tuple[str, ...] = field(default=())


def money(value: Decimal, places: int) -> Decimal:
    return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def normalised_postcode(postcode: str) -> str:
    return "".join(postcode.split()).upper()


def rule_terms(
    *,
    id: int,  # noqa: A002 - the rule's id, as RuleTerms names it
    charge_type: str,
    name: str,
    amount: Decimal | None,
    percent: Decimal | None,
    applies_to: Iterable[str],
    zone: str | None,
    weight_from_grams: int | None,
    weight_to_grams: int | None,
    included_units: int,
    postcode_prefixes: Iterable[str],
) -> RuleTerms:
    """A rule's terms from its stored or imported fields: the one place that normalises
    the surcharge targets and the postcode prefixes the pricing compares with."""
    return RuleTerms(
        id=id,
        charge_type=charge_type,
        name=name,
        amount=amount,
        percent=percent,
        applies_to=frozenset(applies_to),
        zone=zone,
        weight_from_grams=weight_from_grams,
        weight_to_grams=weight_to_grams,
        included_units=included_units,
        postcode_prefixes=tuple(normalised_postcode(prefix) for prefix in postcode_prefixes),
    )


def band_for(bands: Iterable[RuleTerms], weight_grams: int) -> list[RuleTerms]:
    """The band rules whose [from, to) range holds the weight (exactly one on a valid card)."""
    return [
        rule
        for rule in bands
        if rule.weight_from_grams is not None
        and rule.weight_from_grams <= weight_grams
        and (rule.weight_to_grams is None or weight_grams < rule.weight_to_grams)
    ]


def band_problems(bands: Sequence[RuleTerms]) -> list[str]:
    """Gaps and overlaps among one zone's weight bands; they must tile [0, top)."""
    problems = []
    ordered = sorted(bands, key=lambda rule: rule.weight_from_grams or 0)
    expected_from = 0
    for index, rule in enumerate(ordered):
        start = rule.weight_from_grams or 0
        if start > expected_from:
            problems.append(f"no band covers {expected_from} g to {start} g")
        elif start < expected_from:
            problems.append(f"bands overlap from {start} g to {expected_from} g")
        if rule.weight_to_grams is None:
            if index != len(ordered) - 1:
                problems.append(f"the open-ended band from {start} g is not the last one")
            break
        expected_from = max(expected_from, rule.weight_to_grams)
    return problems


def _line(rule: RuleTerms, quantity: int, unit_amount: Decimal, places: int) -> ChargeLine:
    return ChargeLine(
        charge_type=rule.charge_type,
        rule_id=rule.id,
        description=rule.name,
        quantity=quantity,
        unit_amount=unit_amount,
        amount=money(unit_amount * quantity, places),
    )


def _with_surcharges(card: CardTerms, lines: list[ChargeLine], problems: list[str]) -> Quote:
    """Adds each percentage surcharge of the card, taken of the lines of the types it names."""
    surcharges = []
    for rule in card.of_type(SURCHARGE):
        base = sum(
            (line.amount for line in lines if line.charge_type in rule.applies_to), Decimal(0)
        )
        if base:
            percent = rule.percent or Decimal(0)
            surcharges.append(
                ChargeLine(
                    charge_type=SURCHARGE,
                    rule_id=rule.id,
                    description=f"{rule.name} ({percent.normalize():f} %)",
                    quantity=1,
                    unit_amount=money(base * percent / HUNDRED, card.places),
                    amount=money(base * percent / HUNDRED, card.places),
                )
            )
    every = (*lines, *surcharges)
    total = sum((line.amount for line in every), money(Decimal(0), card.places))
    return Quote(currency=card.currency, lines=every, total=total, problems=tuple(problems))


def _parcel_lines(
    card: CardTerms, work: ShipmentWork, zone: str | None, problems: list[str]
) -> list[ChargeLine]:
    """One line per parcel band used, for the destination's zone."""
    if work.parcel_weights_grams and zone is None:
        problems.append(f"no zone of the card holds the destination country {work.country}")
    if zone is None:
        return []
    parcel_rules = [rule for rule in card.of_type(PARCEL) if rule.zone == zone]
    by_rule: dict[RuleTerms, int] = {}
    for number, weight in enumerate(work.parcel_weights_grams, start=1):
        found = band_for(parcel_rules, weight)
        if len(found) != 1:
            problems.append(f"parcel {number} ({weight} g) fits no single band of zone {zone}")
            continue
        by_rule[found[0]] = by_rule.get(found[0], 0) + 1
    return [
        _line(rule, count, rule.amount or Decimal(0), card.places)
        for rule, count in by_rule.items()
    ]


def shipment_quote(card: CardTerms, work: ShipmentWork) -> Quote:
    """Expected charges for one outbound shipment: fulfilment, picks, parcels, customs."""
    lines: list[ChargeLine] = []
    problems: list[str] = []
    for rule in card.of_type(FULFILMENT):
        lines.append(_line(rule, 1, rule.amount or Decimal(0), card.places))
    for rule in card.of_type(ADDITIONAL_UNIT):
        extra = max(0, work.units - rule.included_units)
        if extra:
            lines.append(_line(rule, extra, rule.amount or Decimal(0), card.places))
    zone = card.zone_of_country.get(work.country)
    lines.extend(_parcel_lines(card, work, zone, problems))
    postcode = normalised_postcode(work.postcode)
    for rule in card.of_type(REMOTE_AREA):
        in_zone = rule.zone is None or rule.zone == zone
        if in_zone and any(postcode.startswith(prefix) for prefix in rule.postcode_prefixes):
            count = len(work.parcel_weights_grams)
            lines.append(_line(rule, count, rule.amount or Decimal(0), card.places))
    if work.customs_declarations:
        for rule in card.of_type(CUSTOMS):
            lines.append(
                _line(rule, work.customs_declarations, rule.amount or Decimal(0), card.places)
            )
    return _with_surcharges(card, [line for line in lines if line.quantity], problems)


def _per_quantity_quote(card: CardTerms, charge_type: str, quantity: int) -> Quote:
    lines = [
        _line(rule, quantity, rule.amount or Decimal(0), card.places)
        for rule in card.of_type(charge_type)
        if quantity
    ]
    return _with_surcharges(card, lines, [])


def return_quote(card: CardTerms, *, returns: int = 1) -> Quote:
    return _per_quantity_quote(card, RETURN, returns)


def inbound_quote(card: CardTerms, *, units: int) -> Quote:
    return _per_quantity_quote(card, INBOUND_UNIT, units)


def storage_quote(card: CardTerms, *, unit_days: int) -> Quote:
    return _per_quantity_quote(card, STORAGE, unit_days)


def monthly_minimum_topup(*, minimum: Decimal | None, billed: Decimal, places: int) -> Decimal:
    """What a month's bill is raised by to reach the card's minimum (zero when it does)."""
    if minimum is None or billed >= minimum:
        return money(Decimal(0), places)
    return money(minimum - billed, places)
