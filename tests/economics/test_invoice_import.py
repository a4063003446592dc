"""Importing an LSP invoice: every line matched to the work and the card, every
discrepancy a dispute, and the same invoice twice refused without a change."""

from __future__ import annotations

import io
import json
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from core.errors import Conflict, NotFound, ValidationFailed
from economics.models import Dispute, Invoice, InvoiceLine, InvoiceProfile, ShipmentCharge
from economics.services import expected_cost
from economics.services.invoice_import import lsp_invoice_import
from logistics.models import Shipment
from tests.economics.test_expected_cost import active_card, planned_shipment

pytestmark = pytest.mark.django_db

HEADER = "invoice_number,invoice_date,reference,tracking_number,charge_type,description,quantity,amount,currency,service_date\n"


def dispatched_shipments(count):
    shipments = [planned_shipment(quantities=(3,)) for _ in range(count)]
    provider = shipments[0].provider
    Shipment.objects.filter(pk__in=[s.pk for s in shipments]).update(provider=provider)
    active_card(provider)
    now = timezone.now()
    for number, shipment in enumerate(shipments, start=1):
        Shipment.objects.filter(pk=shipment.pk).update(
            status=Shipment.Status.DISPATCHED,
            dispatched_at=now,
            provider_reference=f"LSP-{number:05d}",
            tracking_number=f"TRK-{number:05d}",
        )
    expected_cost.expected_costs_sweep()
    return provider, [Shipment.objects.get(pk=s.pk) for s in shipments]


def bill(shipment, *, by="reference", scale=Decimal(1), number="INV-1"):
    """One invoice line per expected charge type of the shipment, as the card prices it."""
    rows = []
    totals = {}
    for charge in ShipmentCharge.objects.filter(shipment=shipment):
        totals[charge.charge_type] = totals.get(charge.charge_type, Decimal(0)) + charge.amount
    day = shipment.dispatched_at.date().isoformat()
    for charge_type, amount in totals.items():
        ref = shipment.provider_reference if by == "reference" else ""
        trk = shipment.tracking_number if by == "tracking" else ""
        rows.append(
            f"{number},{day},{ref},{trk},{charge_type},{charge_type},1,{(amount * scale):.2f},EUR,{day}\n"
        )
    return rows


def test_every_outcome_is_counted_and_disputed_and_a_second_import_changes_nothing():
    provider, shipments = dispatched_shipments(6)
    lines = []
    lines += bill(shipments[0])
    lines += bill(shipments[1], by="tracking")
    lines += bill(shipments[2], scale=Decimal("1.10"))  # overcharged on each charge type
    lines += bill(shipments[3], scale=Decimal("0.80"))  # undercharged
    duplicated = bill(shipments[4])
    lines += duplicated + duplicated[:1]
    lines.append("INV-1,,NEVER-HAD,,parcel,?,1,5.00,EUR,\n")
    # shipments[5] is not billed at all
    text = HEADER + "".join(lines)
    types_per_shipment = len(bill(shipments[0]))

    invoice = lsp_invoice_import(provider_code=provider.code, text=text)

    assert invoice.summary == {
        "invoice": "INV-1",
        "lines": len(lines),
        "matched": 3 * types_per_shipment,
        "overcharged": types_per_shipment,
        "undercharged": types_per_shipment,
        "unknown_reference": 1,
        "duplicate": 1,
        "not_invoiced": 1,
        "expected_total": invoice.summary["expected_total"],
        "invoiced_total": invoice.summary["invoiced_total"],
        "currency": "EUR",
    }
    expected = sum(
        (c.amount for c in ShipmentCharge.objects.filter(shipment__in=shipments)), Decimal(0)
    )
    assert Decimal(invoice.summary["expected_total"]) == expected
    billed = sum(Decimal(row.split(",")[7]) for row in lines)
    assert Decimal(invoice.summary["invoiced_total"]) == billed
    disputes = Dispute.objects.filter(invoice=invoice)
    assert disputes.count() == 2 * types_per_shipment + 3
    assert set(disputes.values_list("status", flat=True)) == {"open"}
    missing = disputes.get(kind="not_invoiced")
    assert missing.shipment_id == shipments[5].pk
    assert missing.difference == -missing.expected

    before = (Invoice.objects.count(), InvoiceLine.objects.count(), Dispute.objects.count())
    with pytest.raises(Conflict) as refused:
        lsp_invoice_import(provider_code=provider.code, text=text)
    assert refused.value.code == "invoice_already_imported"
    assert (Invoice.objects.count(), InvoiceLine.objects.count(), Dispute.objects.count()) == before


def test_work_billed_in_an_earlier_invoice_is_a_duplicate_in_the_next():
    provider, shipments = dispatched_shipments(1)
    first = bill(shipments[0], number="INV-A")
    lsp_invoice_import(provider_code=provider.code, text=HEADER + "".join(first))
    again = [row.replace("INV-A", "INV-B") for row in first]

    invoice = lsp_invoice_import(provider_code=provider.code, text=HEADER + "".join(again))

    assert invoice.summary["duplicate"] == len(again)
    assert invoice.summary["matched"] == 0
    assert invoice.summary["not_invoiced"] == 0


def test_a_difference_within_the_tolerance_is_matched(settings):
    settings.ECONOMICS_TOLERANCE_ABSOLUTE = Decimal("0.05")
    settings.ECONOMICS_TOLERANCE_PERCENT = Decimal("0")
    provider, shipments = dispatched_shipments(1)
    rows = bill(shipments[0])
    fee = next(row for row in rows if ",fulfilment," in row)
    nudged = fee.replace(",2.00,", ",2.04,")
    assert nudged != fee

    invoice = lsp_invoice_import(
        provider_code=provider.code,
        text=HEADER + "".join([nudged if r == fee else r for r in rows]),
    )

    assert invoice.summary["matched"] == len(rows)


def test_a_profile_reads_the_provider_s_own_layout():
    provider, shipments = dispatched_shipments(1)
    InvoiceProfile.objects.create(
        provider=provider,
        name="de",
        columns={
            "invoice_number": "Rechnung", "reference": "Sendung", "charge_type": "Leistung",
            "amount": "Betrag", "currency": "Waehrung", "service_date": "Datum",
        },
        charge_types={"VERSAND": "parcel", "GEBUEHR": "fulfilment", "PICK": "additional_unit"},
        delimiter=";",
        date_format="%d.%m.%Y",
        decimal_separator=",",
        thousands_separator=".",
    )  # fmt: skip
    codes = {"parcel": "VERSAND", "fulfilment": "GEBUEHR", "additional_unit": "PICK"}
    day = shipments[0].dispatched_at.strftime("%d.%m.%Y")
    rows = ["Rechnung;Sendung;Leistung;Betrag;Waehrung;Datum\n"]
    for row in bill(shipments[0]):
        cells = row.split(",")
        amount = cells[7].replace(".", ",")
        rows.append(f"R-9;{cells[2]};{codes[cells[4]]};{amount};EUR;{day}\n")

    invoice = lsp_invoice_import(provider_code=provider.code, text="".join(rows), profile_name="de")

    assert invoice.summary["matched"] == len(rows) - 1
    assert invoice.number == "R-9"
    with pytest.raises(NotFound):
        lsp_invoice_import(provider_code=provider.code, text="".join(rows), profile_name="fr")


def test_an_unreadable_file_names_every_bad_line_and_imports_nothing():
    provider, _ = dispatched_shipments(1)
    text = HEADER + (
        "INV-X,2026-01-01,LSP-00001,,parcel,,1,abc,EUR,\n"
        "INV-X,2026-01-01,LSP-00001,,teleport,,1,1.00,EUR,\n"
        "INV-Y,2026-13-01,LSP-00001,,parcel,,x,1.00,EUR,\n"
    )
    with pytest.raises(ValidationFailed) as refused:
        lsp_invoice_import(provider_code=provider.code, text=text)
    assert [error["field"] for error in refused.value.errors] == [
        "line 2: amount",
        "line 3: charge_type",
        "line 4: invoice_number",
        "line 4: invoice_date",
        "line 4: quantity",
    ]
    assert Invoice.objects.count() == 0


def test_the_command_prints_the_summary_as_its_last_line(tmp_path):
    provider, shipments = dispatched_shipments(2)
    path = tmp_path / "invoice.csv"
    path.write_text(HEADER + "".join(bill(shipments[0])))
    out = io.StringIO()

    call_command("lsp_invoice_import", provider.code, str(path), stdout=out, stderr=io.StringIO())

    summary = json.loads(out.getvalue().strip().splitlines()[-1])
    assert set(summary) == {
        "invoice", "lines", "matched", "overcharged", "undercharged", "unknown_reference",
        "duplicate", "not_invoiced", "expected_total", "invoiced_total", "currency",
    }  # fmt: skip
    assert summary["not_invoiced"] == 1
    with pytest.raises(CommandError, match="already imported"):
        call_command("lsp_invoice_import", provider.code, str(path), stdout=io.StringIO())
