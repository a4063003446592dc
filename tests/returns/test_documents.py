"""Commercial invoice and packing slip PDFs: they render, and their text says the right things."""

from __future__ import annotations

import io

import pytest
from django.db import transaction
from pypdf import PdfReader

from logistics.models import Shipment
from orders.services.shipment_planning import shipments_plan_for_order
from tests.logistics.helpers import allocated_order, sandbox_provider

pytestmark = pytest.mark.django_db


def _text(content: bytes) -> str:
    reader = PdfReader(io.BytesIO(content))
    return "\n".join(page.extract_text() for page in reader.pages)


def _shipment(channel, country: str) -> Shipment:
    sandbox_provider()
    order = allocated_order(channel=channel, quantities=(2, 1))
    order.shipping_country = country
    order.shipping_city = "New York" if country == "US" else order.shipping_city
    order.save(update_fields=["shipping_country", "shipping_city"])
    with transaction.atomic():
        shipments_plan_for_order(order=order, actor="test")
    return Shipment.objects.select_related("order").get(order=order)


def _url(shipment: Shipment, kind: str) -> str:
    return f"/api/v1/orders/{shipment.order.number}/shipments/{shipment.pk}/documents/{kind}.pdf"


def test_commercial_invoice_pdf_carries_the_declaration(api_client, api_channel):
    shipment = _shipment(api_channel, "US")
    response = api_client.get(_url(shipment, "commercial-invoice"))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF")
    text = _text(response.content)
    declaration = shipment.customs_declaration
    assert "COMMERCIAL INVOICE" in text
    assert declaration.invoice_number in text
    assert "Incoterm: DAP" in text
    assert "Exporter EORI: NL000000000" in text
    assert "NL -> US" in text
    for line in declaration.lines.all():
        assert line.sku in text
        assert line.hs_code in text
    assert f"Total value: {declaration.total_value:,.2f} {declaration.currency}" in text


def test_packing_slip_pdf_lists_every_line(api_client, api_channel):
    shipment = _shipment(api_channel, "NL")
    response = api_client.get(_url(shipment, "packing-slip"))
    assert response.status_code == 200
    text = _text(response.content)
    assert "PACKING SLIP" in text
    assert shipment.order.number in text
    for line in shipment.lines.select_related("order_line"):
        assert line.order_line.sku in text
    assert "Items: 3" in text


def test_domestic_shipment_has_no_commercial_invoice(api_client, api_channel):
    shipment = _shipment(api_channel, "NL")
    response = api_client.get(_url(shipment, "commercial-invoice"))
    assert response.status_code == 404
    assert response.json()["code"] == "document_not_found"


def test_another_channels_shipment_document_is_404(other_api_client, api_channel):
    shipment = _shipment(api_channel, "US")
    assert other_api_client.get(_url(shipment, "packing-slip")).status_code == 404


def test_back_office_serves_the_documents(client, agent, api_channel):
    shipment = _shipment(api_channel, "US")
    client.force_login(agent)
    response = client.get(f"/desk/shipments/{shipment.pk}/documents/commercial-invoice.pdf")
    assert response.status_code == 200
    assert "COMMERCIAL INVOICE" in _text(response.content)
    page = client.get(f"/desk/orders/{shipment.order.number}/")
    assert f"/desk/shipments/{shipment.pk}/documents/packing-slip.pdf" in page.content.decode()
