"""The sandbox's invoice: priced like Consign prices, faults exactly where asked."""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass, field
from decimal import Decimal

import pytest

from economics import pricing
from economics.selectors import card_terms
from economics.services.rate_card_csv import card_terms_from_csv, rate_card_import
from sandbox.invoices import Faults, invoice_csv, work_of
from tests.economics.test_rate_card_csv import GOOD
from tests.logistics.factories import ProviderFactory

NOV = dt.datetime(2026, 11, 10, 12, tzinfo=dt.UTC).timestamp()
DEC = dt.datetime(2026, 12, 1, 0, 0, 1, tzinfo=dt.UTC).timestamp()


@dataclass
class Shipped:
    id: str
    created_at: float
    request: dict = field(default_factory=dict)
    tracking_number: str = ""
    cancelled: bool = False
    kind: str = "outbound"


def request(units=3, weights=(1200,), country="DE", postcode="10115"):
    return {
        "lines": [{"sku": "A", "quantity": units}],
        "parcels": [{"weight_grams": w} for w in weights],
        "ship_to": {"country": country, "postcode": postcode},
    }


def rows(text):
    return list(csv.DictReader(io.StringIO(text)))


@pytest.mark.django_db
def test_the_card_read_without_the_database_prices_like_the_stored_card():
    stored = rate_card_import(provider_id=ProviderFactory().pk, text=GOOD)
    work = work_of(request(units=4, weights=(1200, 6000), country="DE", postcode="ZE1 0AA"))
    assert (
        pricing.shipment_quote(card_terms_from_csv(GOOD), work).total
        == pricing.shipment_quote(card_terms(stored), work).total
    )


def test_one_line_per_charge_type_for_the_month_s_shipments_only():
    card = card_terms_from_csv(GOOD)
    shipments = [
        Shipped("sbx_1", NOV, request(units=3), "SBX1"),
        Shipped("sbx_2", NOV + 1, request(units=1), "SBX2", cancelled=True),
        Shipped("sbx_3", DEC, request(units=1), "SBX3"),
        Shipped("sbx_4", NOV + 2, request(units=1), "SBX4", kind="return"),
    ]

    lines = rows(invoice_csv(month="2026-11", shipments=shipments, card=card, faults=Faults()))

    assert {line["reference"] for line in lines} == {"sbx_1"}
    by_type = {line["charge_type"]: Decimal(line["amount"]) for line in lines}
    quote = pricing.shipment_quote(card, work_of(request(units=3)))
    assert sum(by_type.values()) == quote.total
    assert set(by_type) == {"fulfilment", "additional_unit", "parcel", "surcharge"}
    assert {line["invoice_number"] for line in lines} == {"SBX-2026-11"}
    assert {line["invoice_date"] for line in lines} == {"2026-11-30"}


def test_faults_land_exactly_where_asked():
    card = card_terms_from_csv(GOOD)
    shipments = [Shipped(f"sbx_{i}", NOV + i, request(), f"SBX{i}") for i in range(30)]
    clean = rows(invoice_csv(month="2026-11", shipments=shipments, card=card, faults=Faults()))
    faulty = rows(
        invoice_csv(
            month="2026-11",
            shipments=shipments,
            card=card,
            faults=Faults(overcharge_every=10, duplicate_every=25, unknown_every=40),
        )
    )
    base = len(clean)
    assert base == 120  # four charge types per shipment

    unknown = [line for line in faulty if line["reference"].startswith("sbx_never_")]
    assert len(unknown) == base // 40
    known = [line for line in faulty if not line["reference"].startswith("sbx_never_")]
    assert len(known) == base + base // 25
    deduped = []
    for line in known:
        if deduped and line == deduped[-1]:
            continue
        deduped.append(line)
    assert len(deduped) == base
    over = [
        (Decimal(a["amount"]), Decimal(b["amount"]))
        for a, b in zip(clean, deduped, strict=True)
        if a["amount"] != b["amount"]
    ]
    assert len(over) == base // 10
    assert all(new - old >= Decimal("0.02") and new >= old * Decimal("1.1") for old, new in over)


@pytest.mark.parametrize(
    "query", [{"overcharge_every": ["x"]}, {"duplicate_every": ["-1"]}, {"unknown_every": ["1.5"]}]
)
def test_a_bad_fault_parameter_is_refused_with_its_name(query):
    with pytest.raises(ValueError, match=next(iter(query))):
        Faults.from_query(query)


def test_a_month_must_be_a_month():
    with pytest.raises(ValueError, match="is not a month"):
        invoice_csv(month="2026-13", shipments=[], card=card_terms_from_csv(GOOD), faults=Faults())
