"""Rate cards as CSV: a round trip gives the same card; a bad file is refused whole, with
every bad row named."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from core.errors import ValidationFailed
from economics.models import RateCard
from economics.selectors import card_terms
from economics.services.rate_card_csv import rate_card_export, rate_card_import
from economics.services.rate_cards import rate_card_problems
from tests.logistics.factories import ProviderFactory

pytestmark = pytest.mark.django_db

HEADER = (
    "record,code,name,currency,valid_from,valid_to,monthly_minimum,countries,charge_type,zone,"
    "weight_from_grams,weight_to_grams,amount,percent,applies_to,included_units,"
    "postcode_prefixes,storage_basis\n"
)
GOOD = HEADER + (
    "card,,Demo 2026,EUR,2026-01-01,2027-01-01,250.00,,,,,,,,,,,\n"
    "zone,home,Germany,,,,,DE,,,,,,,,,,\n"
    "zone,eu,EU,,,,,fr nl be,,,,,,,,,,\n"
    "rule,,Fulfilment,,,,,,fulfilment,,,,1.80,,,,,\n"
    "rule,,Pick,,,,,,additional_unit,,,,0.25,,,2,,\n"
    "rule,,DE 0-5 kg,,,,,,parcel,home,0,5000,4.20,,,,,\n"
    "rule,,DE 5 kg+,,,,,,parcel,home,5000,,6.90,,,,,\n"
    "rule,,EU all,,,,,,parcel,eu,0,,8.40,,,,,\n"
    "rule,,Islands,,,,,,remote_area,,,,3.00,,,,ze hs,\n"
    "rule,,Fuel,,,,,,surcharge,,,,,9.5,parcel remote_area,,,\n"
    "rule,,Storage,,,,,,storage,,,,0.02,,,,,pallet\n"
)


def test_a_card_survives_the_round_trip():
    provider = ProviderFactory()
    card = rate_card_import(provider_id=provider.pk, text=GOOD)

    again = rate_card_import(provider_id=provider.pk, text=rate_card_export(card=card))

    assert card.status == again.status == "draft"
    assert (again.name, again.currency, again.valid_from, again.valid_to) == (
        "Demo 2026",
        "EUR",
        dt.date(2026, 1, 1),
        dt.date(2027, 1, 1),
    )
    assert again.monthly_minimum == Decimal("250.00")
    first, second = card_terms(card), card_terms(again)
    assert (
        first.zone_of_country
        == second.zone_of_country
        == {"DE": "home", "FR": "eu", "NL": "eu", "BE": "eu"}
    )
    strip = [
        (
            r.charge_type,
            r.name,
            r.amount,
            r.percent,
            r.applies_to,
            r.zone,
            r.weight_from_grams,
            r.weight_to_grams,
            r.included_units,
            r.postcode_prefixes,
        )
        for r in first.rules
    ]
    assert strip == [
        (
            r.charge_type,
            r.name,
            r.amount,
            r.percent,
            r.applies_to,
            r.zone,
            r.weight_from_grams,
            r.weight_to_grams,
            r.included_units,
            r.postcode_prefixes,
        )
        for r in second.rules
    ]
    assert len(strip) == 8
    assert rate_card_problems(again) == []


def test_a_bad_file_names_every_bad_row_and_writes_nothing():
    provider = ProviderFactory()
    bad = HEADER + (
        "card,,X,EUR,01/01/2026,,,,,,,,,,,,,\n"
        "zone,,Nowhere,,,,,,,,,,,,,,,\n"
        "rule,,Fee,,,,,,fulfilment,,,,1,80,,,,\n"
        "rule,,Parcel,,,,,,parcel,mars,0,,4.20,,,,,\n"
        "rule,,Fuel,,,,,,surcharge,,,,,9.5,parcels,,,\n"
        "rule,,Weird,,,,,,teleport,,,,1.00,,,,,\n"
        "line,,?,,,,,,,,,,,,,,,\n"
    )

    with pytest.raises(ValidationFailed) as refused:
        rate_card_import(provider_id=provider.pk, text=bad)

    fields = [error["field"] for error in refused.value.errors]
    assert fields == [
        "row 2: valid_from",
        "row 3: code",
        "row 3: countries",
        "row 6: applies_to",
        "row 7: charge_type",
        "row 8: record",
        "row 5: zone",
    ]
    assert RateCard.objects.count() == 0


def test_an_empty_file_is_refused_with_a_reason():
    with pytest.raises(ValidationFailed) as refused:
        rate_card_import(provider_id=ProviderFactory().pk, text="")
    assert refused.value.errors == [
        {"field": "header", "message": "the first line must name the columns"}
    ]


def test_the_command_imports_and_activates_and_refuses_a_bad_file(tmp_path):
    import io
    import json

    from django.core.management import CommandError, call_command

    provider = ProviderFactory()
    good, bad = tmp_path / "good.csv", tmp_path / "bad.csv"
    good.write_text(GOOD)
    bad.write_text(HEADER + "card,,X,EUR,,,,,,,,,,,,,,\n")
    out = io.StringIO()

    call_command("rate_card_import", provider.code, str(good), "--activate", stdout=out)

    summary = json.loads(out.getvalue().strip().splitlines()[-1])
    assert (summary["status"], summary["zones"], summary["rules"]) == ("active", 2, 8)
    with pytest.raises(CommandError, match="row 2: valid_from"):
        call_command("rate_card_import", provider.code, str(bad), stdout=io.StringIO())
    assert RateCard.objects.count() == 1
