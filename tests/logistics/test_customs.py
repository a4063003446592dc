"""The customs gate: which shipments need a declaration, and holding incomplete ones."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import transaction

from logistics.adapters.generic_http import GenericHttpAdapter
from logistics.models import CustomsDeclaration, CustomsUnionMember, DispatchOutbox, Shipment
from logistics.services.customs import customs_border_crossed
from orders.models import Hold, Order
from orders.services.holds import order_hold_release
from orders.services.shipment_planning import shipments_plan_for_order
from tests.logistics.customs_data import customs_union_eu
from tests.logistics.helpers import allocated_order, sandbox_provider

pytestmark = pytest.mark.django_db
CENTS = Decimal("0.01")


@pytest.fixture(autouse=True)
def provider():
    customs_union_eu()
    return sandbox_provider()


def _order_to(country: str, quantities=(2, 1)) -> Order:
    order = allocated_order(quantities=quantities)
    order.shipping_country = country
    order.save(update_fields=["shipping_country"])
    return order


def _plan(order: Order) -> Shipment:
    with transaction.atomic():
        shipments_plan_for_order(order=order, actor="test")
    return Shipment.objects.get(order=order)


def test_domestic_shipment_needs_no_declaration():
    shipment = _plan(_order_to("NL"))
    assert not CustomsDeclaration.objects.filter(shipment=shipment).exists()
    assert DispatchOutbox.objects.filter(shipment=shipment).exists()
    assert "customs" not in GenericHttpAdapter(shipment.provider).shipment_payload(shipment)


def test_intra_eu_shipment_needs_no_declaration():
    shipment = _plan(_order_to("DE"))
    assert not CustomsDeclaration.objects.filter(shipment=shipment).exists()
    assert DispatchOutbox.objects.filter(shipment=shipment).exists()


def test_the_eu_is_data_a_member_that_leaves_needs_declarations():
    assert customs_border_crossed(origin="NL", destination="IE") is False
    CustomsUnionMember.objects.filter(union__code="eu", country="IE").delete()
    assert customs_border_crossed(origin="NL", destination="IE") is True
    assert customs_border_crossed(origin="NL", destination="GB") is True
    assert customs_border_crossed(origin="US", destination="US") is False


def test_us_shipment_with_complete_data_is_dispatched_with_a_declaration():
    order = _order_to("US")
    order.channel.incoterm = "DDP"
    order.channel.save(update_fields=["incoterm"])
    shipment = _plan(order)
    declaration = shipment.customs_declaration
    assert declaration.is_complete
    assert DispatchOutbox.objects.filter(shipment=shipment).exists()
    customs = GenericHttpAdapter(shipment.provider).shipment_payload(shipment)["customs"]
    assert customs["incoterm"] == "DDP"
    assert customs["contents_type"] == "merchandise"
    assert (customs["origin_country"], customs["destination_country"]) == ("NL", "US")
    assert customs["exporter"] == {"eori": "NL000000000", "vat": "NL000000000B01"}
    lines = order.lines.select_related("product").order_by("line_number")
    assert [(i["sku"], i["quantity"], i["hs_code"]) for i in customs["items"]] == [
        (line.sku, line.quantity, line.product.hs_code) for line in lines
    ]
    first = lines[0].product
    assert customs["items"][0]["origin_country"] == first.country_of_origin
    assert customs["items"][0]["value"] == str((first.customs_value * 2).quantize(CENTS))
    assert customs["items"][0]["weight_grams"] == first.weight_grams * 2


def test_us_shipment_missing_an_hs_code_is_held_with_that_reason():
    order = _order_to("US")
    product = order.lines.get(line_number=2).product
    product.hs_code = ""
    product.save(update_fields=["hs_code"])
    shipment = _plan(order)
    order.refresh_from_db()
    assert order.status == Order.Status.ON_HOLD
    hold = order.holds.get(released_at__isnull=True)
    assert hold.reason == Hold.Reason.CUSTOMS_DATA_MISSING
    assert f"{product.sku} has no HS code" in hold.note
    assert f"shipment {shipment.pk}" in hold.note
    assert not DispatchOutbox.objects.filter(shipment=shipment).exists()
    assert shipment.status == Shipment.Status.PENDING


def test_us_shipment_missing_a_customs_value_is_held_with_that_reason():
    order = _order_to("US")
    product = order.lines.get(line_number=1).product
    product.customs_value = None
    product.save(update_fields=["customs_value"])
    _plan(order)
    hold = order.holds.get(released_at__isnull=True)
    assert f"{product.sku} has no customs value" in hold.note
    assert "HS code" not in hold.note


def test_fixing_the_product_and_releasing_the_hold_dispatches_a_complete_declaration(
    django_capture_on_commit_callbacks, monkeypatch
):
    enqueued = []
    monkeypatch.setattr(
        "logistics.tasks.dispatch_shipment_task.delay",
        lambda shipment_id: enqueued.append(shipment_id),
    )
    order = _order_to("US")
    product = order.lines.get(line_number=2).product
    product.hs_code = ""
    product.save(update_fields=["hs_code"])
    shipment = _plan(order)
    hold = order.holds.get(released_at__isnull=True)

    product.hs_code = "691200"
    product.save(update_fields=["hs_code"])
    with django_capture_on_commit_callbacks(execute=True):
        order_hold_release(hold=hold, note="HS code added", actor="test")

    order.refresh_from_db()
    assert order.status == Order.Status.IN_FULFILMENT
    assert enqueued == [shipment.pk]
    assert DispatchOutbox.objects.get(shipment=shipment).status == "pending"
    shipment.refresh_from_db()
    assert shipment.customs_declaration.is_complete
    customs = GenericHttpAdapter(shipment.provider).shipment_payload(shipment)["customs"]
    assert [item["hs_code"] for item in customs["items"]][1] == "691200"
    assert Shipment.objects.filter(order=order).count() == 1


def test_releasing_without_fixing_puts_the_hold_back():
    order = _order_to("US")
    product = order.lines.get(line_number=1).product
    product.hs_code = ""
    product.save(update_fields=["hs_code"])
    shipment = _plan(order)
    order_hold_release(hold=order.holds.get(released_at__isnull=True), actor="test")
    order.refresh_from_db()
    assert order.status == Order.Status.ON_HOLD
    assert order.holds.filter(released_at__isnull=True, reason="customs_data_missing").count() == 1
    assert not DispatchOutbox.objects.filter(shipment=shipment).exists()
