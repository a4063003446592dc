"""Receiving an inbound shipment (ASN) at an LSP-operated site is priced with the card's
inbound_unit rules, and the LSP's invoice lines for it are matched like any other work."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils import timezone

from economics.models import ChargeRule, InboundCost
from economics.services import expected_cost
from economics.services.invoice_import import lsp_invoice_import
from inventory.models import InboundLine, InboundShipment
from tests.economics.test_expected_cost import active_card
from tests.economics.test_invoice_import import HEADER
from tests.inventory.factories import ProductFactory, WarehouseFactory
from tests.logistics.factories import ProviderFactory

pytestmark = pytest.mark.django_db


def received_asn(provider, *, units=(30, 10), status="received"):
    site = WarehouseFactory(kind="lsp", provider=provider)
    asn = InboundShipment.objects.create(
        reference="PO-1", warehouse=site, status=status, closed_at=timezone.now()
    )
    for quantity in units:
        InboundLine.objects.create(
            inbound=asn,
            product=ProductFactory(),
            expected_quantity=quantity,
            received_quantity=quantity,
        )
    return asn


def test_a_received_asn_is_priced_per_unit_received_and_only_once():
    provider = ProviderFactory()
    card = active_card(provider)
    ChargeRule.objects.create(
        card=card, charge_type="inbound_unit", name="Receiving", amount="0.15"
    )
    asn = received_asn(provider)
    waiting = received_asn(provider, status="sent")

    expected_cost.expected_costs_sweep()
    expected_cost.expected_costs_sweep()

    cost = InboundCost.objects.get()
    assert (cost.inbound_id, cost.units, cost.total, cost.card_id) == (
        asn.pk,
        40,
        Decimal("6.0000"),
        card.pk,
    )
    assert not InboundCost.objects.filter(inbound=waiting).exists()


def test_invoice_lines_for_receiving_match_the_asn_and_a_second_one_is_a_duplicate():
    provider = ProviderFactory()
    card = active_card(provider)
    ChargeRule.objects.create(
        card=card, charge_type="inbound_unit", name="Receiving", amount="0.15"
    )
    asn = received_asn(provider)
    day = timezone.now().date().isoformat()
    rows = [
        f"INV-R,{day},{asn.number},,inbound_unit,Receiving,40,6.00,EUR,{day}\n",
        f"INV-R,{day},{asn.number},,inbound_unit,Receiving,40,6.00,EUR,{day}\n",
        f"INV-R,{day},ASN-999999,,inbound_unit,Receiving,10,1.50,EUR,{day}\n",
    ]

    invoice = lsp_invoice_import(provider_code=provider.code, text=HEADER + "".join(rows))

    summary = invoice.summary
    assert (summary["matched"], summary["duplicate"], summary["unknown_reference"]) == (1, 1, 1)
    assert summary["expected_total"] == "6.00"
    line = invoice.lines.order_by("line_number").first()
    assert (line.inbound_id, line.expected_amount) == (asn.pk, Decimal("6.0000"))
