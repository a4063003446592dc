"""Rate cards as CSV: one file per card, one row per record (card, zone, rule).

Columns: COLUMNS below. The first data row is the card; zone rows name their countries
space-separated; rule rows name their zone by code. An import creates a DRAFT card
(activation validates it as a whole) and is all or nothing: every bad row is reported
with its number, and nothing is written unless every row reads.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction

from core.csv_safe import csv_writer
from core.errors import ValidationFailed
from economics import pricing
from economics.models import ChargeRule, ChargeType, RateCard, Zone
from orders.iso import currency_places

COLUMNS = [
    "record", "code", "name", "currency", "valid_from", "valid_to", "monthly_minimum",
    "countries", "charge_type", "zone", "weight_from_grams", "weight_to_grams", "amount",
    "percent", "applies_to", "included_units", "postcode_prefixes", "storage_basis",
]  # fmt: skip
TYPES = {choice.value for choice in ChargeType}
BASES = {choice.value for choice in ChargeRule.StorageBasis}


@dataclass
class _Parsed:
    card: dict[str, Any] = field(default_factory=dict)
    zones: list[dict[str, Any]] = field(default_factory=list)
    rules: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, str]] = field(default_factory=list)


class _Row:
    def __init__(self, number: int, values: dict[str, str], errors: list[dict[str, str]]):
        self.number = number
        self.values = values
        self.errors = errors

    def error(self, column: str, message: str) -> None:
        self.errors.append({"field": f"row {self.number}: {column}", "message": message})

    def text(self, column: str) -> str:
        return (self.values.get(column) or "").strip()

    def decimal(self, column: str) -> Decimal | None:
        raw = self.text(column)
        if not raw:
            return None
        try:
            value = Decimal(raw)
        except InvalidOperation:
            self.error(column, f"{raw!r} is not a number (use a dot for decimals)")
            return None
        if not value.is_finite() or value < 0:
            self.error(column, f"{raw!r} must be a finite number of at least 0")
            return None
        return value

    def integer(self, column: str) -> int | None:
        raw = self.text(column)
        if not raw:
            return None
        if not raw.isdigit():
            self.error(column, f"{raw!r} is not a whole number of at least 0")
            return None
        return int(raw)

    def date(self, column: str) -> dt.date | None:
        raw = self.text(column)
        if not raw:
            return None
        try:
            return dt.date.fromisoformat(raw)
        except ValueError:
            self.error(column, f"{raw!r} is not a date (YYYY-MM-DD)")
            return None

    def words(self, column: str, *, upper: bool = True) -> list[str]:
        text = self.text(column)
        return (text.upper() if upper else text).split()


def _card(row: _Row, parsed: _Parsed) -> None:
    if parsed.card:
        row.error("record", "a file holds one card; this is a second card row")
        return
    valid_from = row.date("valid_from")
    if valid_from is None and not any(e["field"].endswith("valid_from") for e in row.errors):
        row.error("valid_from", "required")
    parsed.card = {
        "name": row.text("name") or "Imported card",
        "currency": row.text("currency").upper(),
        "valid_from": valid_from,
        "valid_to": row.date("valid_to"),
        "monthly_minimum": row.decimal("monthly_minimum"),
    }


def _zone(row: _Row, parsed: _Parsed) -> None:
    code = row.text("code")
    countries = row.words("countries")
    if not code:
        row.error("code", "a zone needs a code")
    if not countries:
        row.error("countries", "a zone needs at least one country")
    if any(zone["code"] == code for zone in parsed.zones):
        row.error("code", f"zone {code} appears twice")
    parsed.zones.append({"code": code, "name": row.text("name"), "countries": countries})


def _rule(row: _Row, parsed: _Parsed) -> None:
    charge_type = row.text("charge_type")
    if charge_type not in TYPES:
        row.error("charge_type", f"{charge_type!r} is not one of {', '.join(sorted(TYPES))}")
    applies_to = row.words("applies_to", upper=False)
    for target in applies_to:
        if target not in TYPES:
            row.error("applies_to", f"{target!r} is not a charge type")
    basis = row.text("storage_basis") or ChargeRule.StorageBasis.UNIT
    if basis not in BASES:
        row.error("storage_basis", f"{basis!r} is not one of {', '.join(sorted(BASES))}")
    included = row.integer("included_units")
    parsed.rules.append(
        {
            "row": row.number,
            "charge_type": charge_type,
            "name": row.text("name") or charge_type,
            "zone": row.text("zone"),
            "amount": row.decimal("amount"),
            "percent": row.decimal("percent"),
            "applies_to": applies_to,
            "weight_from_grams": row.integer("weight_from_grams"),
            "weight_to_grams": row.integer("weight_to_grams"),
            "included_units": 1 if included is None else included,
            "postcode_prefixes": row.words("postcode_prefixes"),
            "storage_basis": basis,
        }
    )


def _parse(text: str) -> _Parsed:
    parsed = _Parsed()
    reader = csv.DictReader(io.StringIO(text))
    missing = [column for column in ("record",) if column not in (reader.fieldnames or [])]
    if missing:
        parsed.errors.append({"field": "header", "message": "the first line must name the columns"})
        return parsed
    for number, values in enumerate(reader, start=2):
        row = _Row(number, values, parsed.errors)
        record = row.text("record")
        handler = {"card": _card, "zone": _zone, "rule": _rule}.get(record)
        if handler is None:
            row.error("record", f"{record!r} is not card, zone or rule")
            continue
        handler(row, parsed)
    if not parsed.card:
        parsed.errors.append({"field": "card", "message": "the file has no card row"})
    codes = {zone["code"] for zone in parsed.zones}
    for rule in parsed.rules:
        if rule["zone"] and rule["zone"] not in codes:
            parsed.errors.append(
                {"field": f"row {rule['row']}: zone", "message": f"no zone {rule['zone']!r}"}
            )
    return parsed


@transaction.atomic
def rate_card_import(*, provider_id: int, text: str) -> RateCard:
    """A new DRAFT card of the provider from the CSV text; ValidationFailed lists every bad row."""
    parsed = _parse(text)
    if parsed.errors:
        raise ValidationFailed(
            f"The rate card file has {len(parsed.errors)} error(s); nothing was imported.",
            errors=parsed.errors,
        )
    card = RateCard.objects.create(provider_id=provider_id, **parsed.card)
    zones = {zone["code"]: Zone.objects.create(card=card, **zone) for zone in parsed.zones}
    rules = []
    for rule in parsed.rules:
        row = rule.pop("row")
        zone = zones.get(rule.pop("zone"))
        rules.append(ChargeRule(card=card, zone=zone, **rule))
        candidate = rules[-1]
        try:
            candidate.full_clean(exclude=["card", "zone"])
        except DjangoValidationError as exc:
            for column, messages in exc.message_dict.items():
                parsed.errors += [
                    {"field": f"row {row}: {column}", "message": message} for message in messages
                ]
    if parsed.errors:
        transaction.set_rollback(True)
        raise ValidationFailed(
            f"The rate card file has {len(parsed.errors)} error(s); nothing was imported.",
            errors=parsed.errors,
        )
    ChargeRule.objects.bulk_create(rules)
    return card


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return " ".join(str(item) for item in value)
    return str(value)


def rate_card_export(*, card: RateCard) -> str:
    """The card as the CSV rate_card_import reads (a round trip gives the same card)."""
    out = io.StringIO()
    writer = csv_writer(out)
    writer.writerow(COLUMNS)
    blank = dict.fromkeys(COLUMNS, "")
    writer.writerow(
        {
            **blank,
            "record": "card",
            "name": card.name,
            "currency": card.currency,
            "valid_from": card.valid_from.isoformat(),
            "valid_to": card.valid_to.isoformat() if card.valid_to else "",
            "monthly_minimum": _cell(card.monthly_minimum),
        }.values()
    )
    zone_codes = {}
    for zone in card.zones.all():
        zone_codes[zone.pk] = zone.code
        writer.writerow(
            {**blank, "record": "zone", "code": zone.code, "name": zone.name,
             "countries": _cell(zone.countries)}.values()
        )  # fmt: skip
    for rule in card.rules.all():
        writer.writerow(
            {
                **blank,
                "record": "rule",
                "name": rule.name,
                "charge_type": rule.charge_type,
                "zone": zone_codes.get(rule.zone_id, "") if rule.zone_id else "",
                "weight_from_grams": _cell(rule.weight_from_grams),
                "weight_to_grams": _cell(rule.weight_to_grams),
                "amount": _cell(rule.amount),
                "percent": _cell(rule.percent),
                "applies_to": _cell(rule.applies_to),
                "included_units": _cell(rule.included_units),
                "postcode_prefixes": _cell(rule.postcode_prefixes),
                "storage_basis": rule.storage_basis,
            }.values()
        )
    return out.getvalue()


def card_terms_from_csv(text: str) -> pricing.CardTerms:
    """The card in `text` as pricing terms, without the database (the LSP sandbox bills
    with these). Rule ids are the rules' line numbers in the file."""
    parsed = _parse(text)
    if parsed.errors:
        raise ValidationFailed(
            f"The rate card file has {len(parsed.errors)} error(s).", errors=parsed.errors
        )
    currency = parsed.card["currency"]
    places = currency_places(currency)
    if places is None:
        raise ValidationFailed(f"{currency!r} is not an ISO 4217 currency.")
    rules = tuple(
        pricing.rule_terms(
            id=rule["row"],
            charge_type=rule["charge_type"],
            name=rule["name"],
            amount=rule["amount"],
            percent=rule["percent"],
            applies_to=rule["applies_to"],
            zone=rule["zone"] or None,
            weight_from_grams=rule["weight_from_grams"],
            weight_to_grams=rule["weight_to_grams"],
            included_units=rule["included_units"],
            postcode_prefixes=rule["postcode_prefixes"],
        )
        for rule in parsed.rules
    )
    return pricing.CardTerms(
        id=0,
        currency=currency,
        places=places,
        zone_of_country={
            country: zone["code"] for zone in parsed.zones for country in zone["countries"]
        },
        rules=rules,
    )
