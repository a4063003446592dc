"""The pack station's services: items verified (wrong, extra, missing refused), parcels
in boxes with weights, labels bought per parcel from the sandbox carrier (karrio's DHL
Parcel DE connector over real HTTP), reprint, void, hand-over to the carrier.

A lost purchase answer never buying twice is tested by test_karrio_failures.py."""

from __future__ import annotations

import io
import threading

import pytest
from django.utils import timezone
from pypdf import PdfReader

from core.errors import Conflict, NotFound, ValidationFailed
from logistics import error_codes
from logistics.documents import packing_slip_pdf
from logistics.models import LabelPurchase, Parcel, ParcelItem, Shipment
from logistics.services.packing import (
    pack_buy_labels,
    pack_dispatch,
    pack_item_move,
    pack_label_document,
    pack_parcel_add,
    pack_parcel_weigh,
    pack_scan_item,
    pack_session,
    pack_start,
    pack_void,
)
from orders.models import OrderEvent
from sandbox.server import SandboxConfig, make_server
from tests.logistics.pack_world import boxes, picked_shipment

pytestmark = pytest.mark.django_db


@pytest.fixture
def carrier(karrio_loaded, settings):
    """The demo's carrier account (DHL Parcel DE shipping from the Netherlands) against a
    real sandbox answering as DHL."""
    from demo.carriers import demo_carrier_ensure

    server, box = make_server(SandboxConfig(port=0, webhooks=False, step_seconds=60))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    settings.LSP_SANDBOX_URL = box.base_url
    account = demo_carrier_ensure()
    yield box, account
    server.shutdown()
    box.stop()
    server.server_close()
    thread.join(5)


def _refused(call, code):
    with pytest.raises((ValidationFailed, Conflict, NotFound)) as info:
        call()
    assert info.value.code == code, info.value.detail
    return info.value.detail


def _packed_in_two(shipment):
    small, large = boxes()
    session = pack_start(code=f"SHP-{shipment.pk}")
    first = pack_parcel_add(shipment=shipment, box=large)
    pack_scan_item(session=session, barcode="PK-A")
    pack_scan_item(session=session, barcode="PK-A")
    second = pack_parcel_add(shipment=shipment, box=small, weight_grams=900)
    pack_scan_item(session=session, barcode="PK-B")
    pack_parcel_weigh(parcel=first, weight_grams=2400)
    return first, second


def test_start_finds_the_shipment_by_label_or_order_number_and_refuses_unpicked():
    shipment = picked_shipment()
    assert pack_start(code=f"shp-{shipment.pk}").shipment == shipment
    assert pack_start(code=shipment.order.number).shipment == shipment
    _refused(lambda: pack_start(code="SHP-999999"), error_codes.PACK_UNKNOWN_SHIPMENT)
    Shipment.objects.filter(pk=shipment.pk).update(status=Shipment.Status.PICKING)
    detail = _refused(lambda: pack_start(code=str(shipment.pk)), error_codes.PACK_NOT_PACKABLE)
    assert "being picked" in detail


def test_wrong_extra_and_unknown_items_are_refused_with_a_message():
    shipment = picked_shipment()
    small, _ = boxes()
    session = pack_start(code=f"SHP-{shipment.pk}")
    detail = _refused(
        lambda: pack_scan_item(session=session, barcode="PK-A"), error_codes.PACK_NO_PARCEL
    )
    assert "box" in detail
    pack_parcel_add(shipment=shipment, box=small)
    from tests.inventory.factories import ProductFactory

    ProductFactory(sku="OTHER-1")
    detail = _refused(
        lambda: pack_scan_item(session=session, barcode="OTHER-1"), error_codes.PACK_WRONG_ITEM
    )
    assert "OTHER-1 is not in" in detail
    assert "PK-A, PK-B" in detail
    _refused(
        lambda: pack_scan_item(session=session, barcode="NO-SUCH"),
        error_codes.PACK_UNKNOWN_BARCODE,
    )
    pack_scan_item(session=session, barcode="PK-B")
    detail = _refused(
        lambda: pack_scan_item(session=session, barcode="PK-B"), error_codes.PACK_EXTRA_ITEM
    )
    assert "all 1 of PK-B" in detail
    assert ParcelItem.objects.get().quantity == 1


def test_missing_items_empty_and_unweighed_parcels_block_the_labels(carrier):
    shipment = picked_shipment()
    small, large = boxes()
    session = pack_start(code=f"SHP-{shipment.pk}")
    pack_parcel_add(shipment=shipment, box=small)
    pack_scan_item(session=session, barcode="PK-A")
    pack_parcel_add(shipment=shipment, box=large)
    detail = _refused(lambda: pack_buy_labels(shipment=shipment), error_codes.PACK_INCOMPLETE)
    assert "1 of PK-A missing" in detail
    assert "1 of PK-B missing" in detail
    assert "parcel 1 is not weighed" in detail
    assert "parcel 2 is empty" in detail
    assert not LabelPurchase.objects.exists()


def test_weight_must_exceed_the_box():
    shipment = picked_shipment()
    small, _ = boxes()
    parcel = pack_parcel_add(shipment=shipment, box=small)
    _refused(
        lambda: pack_parcel_weigh(parcel=parcel, weight_grams=150), error_codes.PACK_BAD_WEIGHT
    )
    assert pack_parcel_weigh(parcel=parcel, weight_grams=151).weight_grams == 151
    assert (parcel.length_mm, parcel.width_mm, parcel.height_mm) == (300, 200, 100)


def test_items_move_between_parcels():
    shipment = picked_shipment()
    small, large = boxes()
    first, second = _packed_in_two(shipment)
    line = ParcelItem.objects.get(parcel=first).shipment_line
    pack_item_move(source=first, target=second, shipment_line=line, quantity=1)
    session = pack_session(shipment)
    assert [
        sorted((i.shipment_line.order_line.sku, i.quantity) for i in p.items.all())
        for p in session.parcels
    ] == [[("PK-A", 1)], [("PK-A", 1), ("PK-B", 1)]]
    _refused(
        lambda: pack_item_move(source=first, target=second, shipment_line=line, quantity=2),
        error_codes.PACK_BAD_MOVE,
    )


def test_two_parcels_get_a_tracking_number_each_then_reprint_void_and_buy_again(carrier):
    sandbox, account = carrier
    shipment = picked_shipment()
    first, second = _packed_in_two(shipment)

    purchase = pack_buy_labels(shipment=shipment)

    assert purchase.carrier_account == account
    assert len(purchase.tracking_numbers) == 2
    parcels = list(Parcel.objects.filter(shipment=shipment).order_by("position"))
    assert [p.tracking_number for p in parcels] == purchase.tracking_numbers
    assert [(p.weight_grams, p.length_mm) for p in parcels] == [(2400, 600), (900, 300)]
    shipment.refresh_from_db()
    assert shipment.status == Shipment.Status.PACKED
    assert shipment.tracking_number == purchase.tracking_numbers[0]
    content, content_type, name = pack_label_document(shipment=shipment)
    assert content_type == "application/pdf"
    assert name == f"labels-SHP-{shipment.pk}.pdf"
    text = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(content)).pages)
    assert all(number in text for number in purchase.tracking_numbers)
    slip = " ".join(
        p.extract_text() for p in PdfReader(io.BytesIO(packing_slip_pdf(shipment=shipment))).pages
    )
    assert shipment.order.number in slip
    assert "PK-A" in slip
    assert "PK-B" in slip
    # Packed: the parcels are closed until the labels are voided.
    _refused(
        lambda: pack_scan_item(session=pack_session(shipment), barcode="PK-A"),
        error_codes.PACK_NOT_PACKABLE,
    )
    _refused(lambda: pack_buy_labels(shipment=shipment), error_codes.PACK_NOT_PACKABLE)

    pack_void(shipment=shipment)

    shipment.refresh_from_db()
    assert shipment.status == Shipment.Status.PICKED
    assert all(sandbox.carrier.labels[n].cancelled for n in purchase.tracking_numbers)
    assert not Parcel.objects.filter(shipment=shipment).exclude(tracking_number="").exists()
    _refused(lambda: pack_label_document(shipment=shipment), error_codes.PACK_NO_LABEL)

    again = pack_buy_labels(shipment=shipment, service="dhl_parcel_de_paket")
    assert set(again.tracking_numbers).isdisjoint(purchase.tracking_numbers)
    assert sandbox.carrier.purchases == 4  # labels: two purchases of two parcels


def test_handed_to_the_carrier_is_dispatched_and_polled(carrier):
    shipment = picked_shipment()
    _packed_in_two(shipment)
    pack_buy_labels(shipment=shipment)

    pack_dispatch(shipments=[shipment])

    shipment.refresh_from_db()
    assert shipment.status == Shipment.Status.DISPATCHED
    assert shipment.dispatched_at is not None
    assert shipment.next_poll_at is not None
    assert OrderEvent.objects.filter(
        order=shipment.order, type=OrderEvent.Type.SHIPMENT_DISPATCHED
    ).exists()
    _refused(lambda: pack_void(shipment=shipment), error_codes.LABEL_NOT_VOIDABLE)
    _refused(lambda: pack_dispatch(shipments=[shipment]), error_codes.PACK_NOT_PACKABLE)


def test_a_booked_pickup_dispatches_with_the_carrier_confirmation(carrier):
    import datetime as dt

    shipment = picked_shipment()
    _packed_in_two(shipment)
    pack_buy_labels(shipment=shipment)

    confirmation = pack_dispatch(
        shipments=[shipment], pickup_date=timezone.localdate() + dt.timedelta(days=1)
    )

    assert confirmation
    shipment.refresh_from_db()
    assert shipment.status == Shipment.Status.DISPATCHED


# --- The screen --------------------------------------------------------------------------


def test_the_pack_station_buys_and_prints_and_never_shows_the_carrier_credentials(
    carrier, client, warehouse_user, agent
):
    import json

    from tests.logistics.carriers import ACCOUNT_NUMBERS, CREDENTIALS, secret_values

    _, account = carrier
    account.credentials = json.dumps(CREDENTIALS["dhl_parcel_de"])
    account.account_number = ACCOUNT_NUMBERS["dhl_parcel_de"]
    account.save()
    shipment = picked_shipment()
    boxes()
    client.force_login(agent)
    assert client.get(f"/warehouse/pack/{shipment.pk}/").status_code == 403
    client.force_login(warehouse_user)
    here = f"/warehouse/pack/{shipment.pk}/"
    started = client.post("/warehouse/pack/", {"code": f"SHP-{shipment.pk}"})
    assert started.status_code == 303
    assert started["Location"] == here
    posts = [
        {"action": "scan", "code": "PK-A"},  # no parcel yet: refused
        {"action": "parcel", "box": "L"},
        {"action": "scan", "code": "PK-A"},
        {"action": "scan", "code": "PK-A"},
        {"action": "parcel", "box": "S", "weight_grams": "700"},
        {"action": "scan", "code": "PK-B"},
        {"action": "scan", "code": "PK-B"},  # extra: refused
    ]
    for data in posts:
        assert client.post(here, data).status_code == 303
    first = Parcel.objects.get(shipment=shipment, position=1)
    client.post(here, {"action": "weigh", "parcel": first.pk, "weight_grams": "100"})  # < tare
    page = client.get(here).content.decode()
    assert "Choose a box and add a parcel first." in page
    assert "Extra item: all 1 of PK-B are packed already." in page
    assert "Weight must be more than the empty box (600 g)" in page
    client.post(here, {"action": "weigh", "parcel": first.pk, "weight_grams": "2100"})
    client.post(here, {"action": "buy", "label_format": "PDF"})

    shipment.refresh_from_db()
    assert shipment.status == Shipment.Status.PACKED
    numbers = list(
        Parcel.objects.filter(shipment=shipment).values_list("tracking_number", flat=True)
    )
    pages = [
        client.get(here),
        client.get(f"/warehouse/pack/{shipment.pk}/labels/"),
        client.get(f"/warehouse/pack/{shipment.pk}/packing-slip.pdf"),
        client.get(f"/desk/orders/{shipment.order.number}/"),
    ]
    assert [p.status_code for p in pages] == [200, 200, 200, 200]
    assert pages[1]["Content-Type"] == "application/pdf"
    text = pages[0].content.decode() + pages[3].content.decode()
    assert all(number in text for number in numbers)
    for response in pages:
        for secret in secret_values("dhl_parcel_de"):
            assert secret.encode() not in response.content
    client.post(here, {"action": "handover"})
    shipment.refresh_from_db()
    assert shipment.status == Shipment.Status.DISPATCHED
