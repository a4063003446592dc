"""The offline demo's carrier: karrio's DHL Parcel DE connector against the LSP sandbox.

Multi-parcel labels (a real PDF per parcel, bundled, naming each tracking number), void
before the carrier has the parcels, and tracking that advances on the sandbox clock.
"""

from __future__ import annotations

import io
import threading
import time

import pytest
from pypdf import PdfReader

from logistics.adapters.base import ProviderRejected
from logistics.adapters.registry import adapter_for
from logistics.models import LabelPurchase, TrackingStatus
from logistics.services.labels import carrier_rates_shop, label_purchase_buy, label_purchase_void
from sandbox.server import SandboxConfig, make_server
from tests.logistics.carriers import carrier_account, carrier_shipment, parcels

pytestmark = pytest.mark.django_db


@pytest.fixture
def sandbox(karrio_loaded):
    server, box = make_server(SandboxConfig(port=0, webhooks=False, step_seconds=60))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield box
    server.shutdown()
    box.stop()
    server.server_close()
    thread.join(5)


def _buy(account, shipment, count=2):
    return label_purchase_buy(
        shipment=shipment,
        carrier_account=account,
        parcels=parcels(count),
        service="dhl_parcel_de_paket",
    )


def test_two_parcels_get_two_tracking_numbers_on_one_pdf(sandbox):
    account = carrier_account("dhl_parcel_de", base_url=sandbox.base_url)
    shipment = carrier_shipment(origin="DE", destination="DE")
    purchase = _buy(account, shipment)
    assert purchase.state == LabelPurchase.State.PURCHASED
    assert len(purchase.tracking_numbers) == 2
    text = " ".join(
        page.extract_text() for page in PdfReader(io.BytesIO(bytes(purchase.label_pdf))).pages
    )
    for number in purchase.tracking_numbers:
        assert number in text
    assert sandbox.carrier.purchases == 2


def test_rates_come_from_the_connector_rate_sheet(sandbox):
    account = carrier_account("dhl_parcel_de", base_url=sandbox.base_url)
    quotes = carrier_rates_shop(
        shipment=carrier_shipment(origin="DE", destination="DE", provider=account.provider),
        parcels=parcels(2),
    )
    assert quotes
    assert quotes[0].carrier_account == account.code


def test_a_label_is_voided_before_pickup_and_refused_after(sandbox):
    account = carrier_account("dhl_parcel_de", base_url=sandbox.base_url)
    purchase = _buy(account, carrier_shipment(origin="DE", destination="DE"))
    assert label_purchase_void(purchase=purchase).state == LabelPurchase.State.VOIDED
    assert all(sandbox.carrier.labels[n].cancelled for n in purchase.tracking_numbers)

    later = _buy(account, carrier_shipment(origin="DE", destination="DE"))
    sandbox.carrier.step_seconds = 0.01  # the carrier has it now
    time.sleep(0.05)
    with pytest.raises(ProviderRejected):
        label_purchase_void(purchase=later)


def test_tracking_advances_to_delivered(sandbox):
    sandbox.carrier.step_seconds = 0.05
    account = carrier_account("dhl_parcel_de", base_url=sandbox.base_url)
    shipment = carrier_shipment(origin="DE", destination="DE")
    _buy(account, shipment, count=1)
    time.sleep(0.3)
    shipment.refresh_from_db()
    updates = adapter_for(account.provider).fetch_tracking(shipment)
    assert [u.status for u in updates][0] == TrackingStatus.DELIVERED
    assert TrackingStatus.IN_TRANSIT in {u.status for u in updates}


def test_the_demo_account_rates_and_ships_from_the_netherlands(sandbox, settings):
    from demo.carriers import demo_carrier_ensure

    settings.LSP_SANDBOX_URL = sandbox.base_url
    account = demo_carrier_ensure()
    assert demo_carrier_ensure() == account  # idempotent
    shipment = carrier_shipment(origin="NL", destination="NL", provider=account.provider)
    quotes = carrier_rates_shop(shipment=shipment, parcels=parcels(2))
    assert [(q.carrier_account, q.service) for q in quotes] == [("dhl-demo", "dhl_parcel_de_paket")]
    assert quotes[0].amount > 0
    assert quotes[0].currency == "EUR"
    purchase = label_purchase_buy(
        shipment=shipment, carrier_account=account, parcels=parcels(2), service=quotes[0].service
    )
    assert len(purchase.tracking_numbers) == 2
