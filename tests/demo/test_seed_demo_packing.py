"""The demo's own site end to end (`make run`): a seeded Tilburg order is waved, picked,
packed and labelled by the demo carrier account, with the LSP sandbox answering as DHL."""

from __future__ import annotations

import threading
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from inventory.models import Warehouse
from logistics.models import Box, CarrierAccount, PickTask, Shipment
from logistics.services.packing import (
    pack_buy_labels,
    pack_dispatch,
    pack_parcel_add,
    pack_parcel_weigh,
    pack_scan_item,
    pack_start,
)
from logistics.services.picking import pick_confirm, waves_build
from orders.models import Channel
from sandbox.server import SandboxConfig, make_server
from tests.logistics.picking_world import planned_order, stocked

pytestmark = pytest.mark.django_db


@pytest.fixture
def sandbox(karrio_loaded, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    server, box = make_server(SandboxConfig(port=0, webhooks=False, step_seconds=3600))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    settings.LSP_SANDBOX_URL = box.base_url
    yield box
    server.shutdown()
    box.stop()
    server.server_close()
    thread.join(5)


def test_a_tilburg_order_is_picked_packed_and_labelled_by_the_demo_carrier(sandbox):
    call_command("seed_demo", workers=1, stdout=StringIO())
    assert set(Box.objects.values_list("code", flat=True)) >= {"S", "M", "L"}
    CarrierAccount.objects.filter(code="dhl-demo").update(base_url=sandbox.base_url)

    # Seeded history has left Tilburg; a new order of a product only Tilburg holds
    # (as one placed in the running demo) waits there for picking.
    tilburg = Warehouse.objects.get(code="tilburg")
    channel = Channel.objects.filter(fulfilment_rules__warehouse=tilburg).order_by("pk").first()
    product = stocked("DEMO-PACK-1", tilburg, {"A-01": 5})
    order = planned_order(channel, [(product, 2)], shipping_country="NL")
    shipment = Shipment.objects.get(order=order)
    assert (shipment.warehouse, shipment.status) == (tilburg, Shipment.Status.PENDING)
    assert waves_build(warehouse=tilburg, now=timezone.now())
    for task in PickTask.objects.filter(shipment=shipment).select_related("product"):
        task.bin_scanned = True
        task.save(update_fields=["bin_scanned"])
        pick_confirm(task=task, quantity=task.quantity)

    session = pack_start(code=f"SHP-{shipment.pk}")
    parcel = pack_parcel_add(shipment=shipment, box=Box.objects.get(code="L"))
    for line in session.lines:
        for _ in range(line.required):
            pack_scan_item(session=session, barcode=line.product.sku)
    pack_parcel_weigh(parcel=parcel, weight_grams=parcel.box.tare_grams + 1500)
    purchase = pack_buy_labels(shipment=shipment)
    pack_dispatch(shipments=[shipment])

    shipment.refresh_from_db()
    assert purchase.carrier_account.code == "dhl-demo"
    assert shipment.provider.code == "dhl-sandbox"
    assert shipment.status == Shipment.Status.DISPATCHED
    assert shipment.tracking_number == purchase.tracking_numbers[0]
