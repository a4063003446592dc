"""Back-office ASN screens: staff create an ASN for any warehouse, cancel it, see an LSP
site's ASN without a scan form, send a refused one again; closing publishes
`inbound.received` for a channel's ASN."""

from __future__ import annotations

import pytest

from inventory.models import InboundLine, InboundShipment
from inventory.services.receiving import inbound_receive
from logistics.models import AsnOutbox
from logistics.services import asn
from tests.inventory.factories import ProductFactory, WarehouseFactory
from tests.logistics.factories import ProviderFactory
from tests.orders.factories import ChannelFactory

pytestmark = pytest.mark.django_db
NEW = "/warehouse/inbound/new/"


@pytest.fixture
def world():
    ProductFactory(sku="BO-A")
    ProductFactory(sku="BO-B")
    own = WarehouseFactory(code="bo-own")
    lsp = WarehouseFactory(code="bo-lsp", kind="lsp", provider=ProviderFactory(code="bo-x"))
    return {"own": own, "lsp": lsp}


def _form(**changes):
    return {
        "warehouse": "bo-own",
        "reference": "PO-BO-1",
        "supplier": "Acme",
        "expected_at": "",
        "carrier": "",
        "tracking_number": "",
        "lines": "BO-A 12\nBO-B 3\n",
        **changes,
    }


def test_staff_create_an_own_site_asn_without_channel(client, warehouse_user, world):
    client.force_login(warehouse_user)
    response = client.post(NEW, _form())
    inbound = InboundShipment.objects.get()
    assert response.status_code == 303
    assert response["Location"] == f"/warehouse/inbound/{inbound.pk}/"
    assert (inbound.status, inbound.channel_id, inbound.supplier) == ("sent", None, "Acme")
    assert sorted(InboundLine.objects.values_list("product__sku", "expected_quantity")) == [
        ("BO-A", 12),
        ("BO-B", 3),
    ]
    page = client.get(response["Location"]).content.decode()
    assert inbound.number in page
    assert 'id="scan-form"' in page


def test_staff_asn_for_an_lsp_site_goes_to_the_outbox_and_has_no_scan_form(
    client, warehouse_user, world
):
    client.force_login(warehouse_user)
    client.post(NEW, _form(warehouse="bo-lsp"))
    inbound = InboundShipment.objects.get()
    assert inbound.status == "draft"
    assert AsnOutbox.objects.get(inbound=inbound).status == "pending"
    page = client.get(f"/warehouse/inbound/{inbound.pk}/").content.decode()
    assert 'id="scan-form"' not in page
    assert 'id="lsp-note"' in page


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"lines": "NOPE 1"}, "Unknown SKU"),
        ({"lines": "BO-A lots"}, "the SKU, a space, the quantity"),
        ({"lines": "BO-A 0"}, "From 1 to"),
    ],
)
def test_bad_asn_form_is_shown_again_and_writes_nothing(
    client, warehouse_user, world, changes, message
):
    client.force_login(warehouse_user)
    response = client.post(NEW, _form(**changes))
    assert response.status_code == 422
    assert message in response.content.decode()
    assert not InboundShipment.objects.exists()


def test_customer_service_cannot_create_asns(client, make_user, world):
    from core import roles

    client.force_login(make_user("cs", roles.CUSTOMER_SERVICE))
    assert client.post(NEW, _form()).status_code == 403
    assert not InboundShipment.objects.exists()


def test_cancel_from_the_page_until_receiving_started(client, warehouse_user, world):
    client.force_login(warehouse_user)
    client.post(NEW, _form())
    client.post(NEW, _form(reference="PO-BO-2"))
    first, second = InboundShipment.objects.order_by("pk")
    client.post(f"/warehouse/inbound/{first.pk}/cancel/")
    inbound_receive(inbound=second, code="BO-A")
    response = client.post(f"/warehouse/inbound/{second.pk}/cancel/", follow=True)
    assert "cannot become cancelled" in response.content.decode()
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, second.status) == ("cancelled", "receiving")


def test_refused_asn_shows_the_lsp_answer_and_can_be_sent_again(
    client, warehouse_user, manager, world, django_capture_on_commit_callbacks
):
    client.force_login(warehouse_user)
    client.post(NEW, _form(warehouse="bo-lsp"))
    inbound = InboundShipment.objects.get()
    AsnOutbox.objects.filter(inbound=inbound).update(
        status="rejected", last_error="unknown warehouse bo-lsp"
    )
    page = client.get(f"/warehouse/inbound/{inbound.pk}/").content.decode()
    assert "unknown warehouse bo-lsp" in page
    client.force_login(manager)
    queue = client.get("/ops/exceptions/?kind=asn_refused").content.decode()
    assert inbound.number in queue
    assert f'href="/warehouse/inbound/{inbound.pk}/"' in queue
    with django_capture_on_commit_callbacks() as callbacks:
        client.post(f"/warehouse/inbound/{inbound.pk}/send-retry/")
    assert AsnOutbox.objects.get(inbound=inbound).status == "pending"
    assert len(callbacks) == 1


def test_closing_a_channels_asn_publishes_inbound_received(
    client, warehouse_user, world, monkeypatch
):
    published = []
    monkeypatch.setattr(asn, "partner_event_publish", lambda **kw: published.append(kw))
    channel = ChannelFactory(code="bo-shop")
    from inventory.services.receiving import ExpectedLine

    inbound = asn.asn_create(
        warehouse_code="bo-own",
        reference="PO-API",
        lines=[ExpectedLine("BO-A", 2)],
        channel_id=channel.pk,
    )
    client.force_login(warehouse_user)
    client.post(f"/warehouse/inbound/{inbound.pk}/receive/", {"barcode": "BO-A", "quantity": 2})
    client.post(f"/warehouse/inbound/{inbound.pk}/close/")
    inbound.refresh_from_db()
    assert inbound.status == "received"
    (event,) = published
    assert (event["topic"], event["channel_id"]) == ("inbound.received", channel.pk)
    assert event["data"]["lines"] == [
        {"sku": "BO-A", "expected": 2, "received": 2, "discrepancy": 0}
    ]
