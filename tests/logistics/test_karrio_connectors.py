"""The karrio adapter against recorded carrier answers, served over real HTTP.

Three connectors (UPS, DHL Express, DHL Parcel DE): rates, label purchase, void and the
mapping of tracking events onto the canonical statuses. The recordings are karrio's own
connector test fixtures (tests/fixtures/carrier_http.py).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from logistics.adapters.base import NotSupported, ProviderRejected
from logistics.adapters.registry import adapter_for
from logistics.models import TrackingStatus
from tests.fixtures.carrier_http import recording
from tests.logistics.carriers import carrier_account, carrier_shipment, parcels

pytestmark = pytest.mark.django_db

DHL_XML = r"/XMLShippingServlet$"


def _ups(fake):
    fake.route("POST", r"/security/v1/oauth/token$", recording("ups", "LoginResponse.json"))
    fake.route("POST", r"/api/rating/v\d+/Shop$", recording("ups", "RateResponseJSON.json"))
    fake.route("POST", r"/api/shipments/v\d+/ship$", recording("ups", "ShipmentResponseJSON.json"))
    fake.route(
        "DELETE",
        r"/api/shipments/v\d+/void/cancel/",
        recording("ups", "ShipmentCancelResponseJSON.json"),
    )
    fake.route("GET", r"/api/track/v1/details/", recording("ups", "TrackingResponseJSON.json"))
    account = carrier_account("ups", base_url=fake.url)
    return account, adapter_for(account.provider)


def _dhl_express(fake):
    def xml(name):
        return recording("dhl_express", name)

    fake.route("POST", DHL_XML, xml("RateResponseXML.xml"), when=lambda s: b"DCTRequest" in s.body)
    fake.route(
        "POST", DHL_XML, xml("ShipmentResponseXml.xml"), when=lambda s: b"ShipmentRequest" in s.body
    )
    fake.route(
        "POST",
        DHL_XML,
        xml("TrackingResponseXML.xml"),
        when=lambda s: b"KnownTrackingRequest" in s.body,
    )
    fake.route(
        "POST", DHL_XML, xml("PickupResponseXML.xml"), when=lambda s: b"BookPURequest" in s.body
    )
    account = carrier_account("dhl_express", base_url=fake.url)
    return account, adapter_for(account.provider)


def _dhl_parcel_de(fake):
    def rec(name):
        return recording("dhl_parcel_de", name)

    fake.route("POST", r"/auth/ropc/v1/token$", rec("LoginResponse.json"))
    fake.route("POST", r"/parcel/de/shipping/v2/orders$", rec("ShipmentResponse.json"))
    fake.route("DELETE", r"/parcel/de/shipping/v2/orders$", rec("ShipmentCancelResponse.json"))
    fake.route("GET", r"/parcel/de/tracking/v0/shipments$", rec("TrackingResponseXML.xml"))
    account = carrier_account("dhl_parcel_de", base_url=fake.url)
    return account, adapter_for(account.provider)


CONNECTORS = {"ups": _ups, "dhl_express": _dhl_express, "dhl_parcel_de": _dhl_parcel_de}


# --- UPS ------------------------------------------------------------------------------


def test_ups_rates_come_back_cheapest_first_in_decimal(fake_carrier):
    account, adapter = _ups(fake_carrier)
    quotes = adapter.rate_quotes(carrier_shipment(), parcels())
    assert [q.service for q in quotes][:2] == ["ups_standard_eu", "ups_2nd_day_air"]
    assert quotes[0].amount == Decimal("132.8400")
    assert quotes[0].currency == "CAD"
    assert quotes[0].carrier_account == account.code
    assert all(isinstance(q.amount, Decimal) for q in quotes)
    assert [q.amount for q in quotes] == sorted(q.amount for q in quotes)


def test_ups_label_purchase_returns_tracking_numbers_and_a_pdf(fake_carrier):
    account, adapter = _ups(fake_carrier)
    label = adapter.buy_labels(
        carrier_shipment(), parcels(), service="ups_standard", carrier_account=account
    )
    assert label.tracking_numbers == ["1ZXXXXXXXXXXXXXXXX"]
    assert label.carrier_reference == "1ZXXXXXXXXXXXXXXXX"
    assert label.label_pdf.startswith(b"%PDF")
    assert fake_carrier.count("POST", r"/ship$") == 1


def test_ups_void_cancels_the_carrier_shipment(fake_carrier):
    account, adapter = _ups(fake_carrier)
    adapter.void_labels(
        carrier_shipment(), carrier_account=account, carrier_reference="1ZWA82900191640782"
    )
    assert fake_carrier.count("DELETE", r"/void/cancel/1ZWA82900191640782$") == 1


def test_ups_tracking_events_map_onto_canonical_statuses(fake_carrier):
    account, adapter = _ups(fake_carrier)
    shipment = carrier_shipment()
    shipment.tracking_number = "1ZWA82900191640782"
    updates = adapter.fetch_tracking(shipment, carrier_account=account)
    assert updates
    # UPS status type "X" (an exception), normalised by karrio to on_hold.
    assert [(u.provider_status, u.status) for u in updates] == [("SR", TrackingStatus.EXCEPTION)]
    assert all(u.occurred_at.tzinfo is not None for u in updates)


# --- DHL Express ----------------------------------------------------------------------


def test_dhl_express_rates(fake_carrier):
    account, adapter = _dhl_express(fake_carrier)
    quotes = adapter.rate_quotes(carrier_shipment(destination="US"), parcels())
    assert quotes
    assert all(q.carrier == "dhl_express" and q.amount > 0 for q in quotes)
    assert fake_carrier.count("POST", DHL_XML) == 1


def test_dhl_express_label_purchase(fake_carrier):
    account, adapter = _dhl_express(fake_carrier)
    label = adapter.buy_labels(
        carrier_shipment(destination="US"),
        parcels(),
        service="dhl_express_worldwide",
        carrier_account=account,
    )
    assert label.tracking_numbers == [label.carrier_reference]
    assert label.carrier_reference
    assert label.label_pdf.startswith(b"%PDF")


def test_dhl_express_void_is_refused_as_not_supported(fake_carrier):
    account, adapter = _dhl_express(fake_carrier)
    with pytest.raises(NotSupported):
        adapter.void_labels(carrier_shipment(), carrier_account=account, carrier_reference="1")
    assert fake_carrier.seen == []


def test_dhl_express_tracking_maps_delivered(fake_carrier):
    account, adapter = _dhl_express(fake_carrier)
    shipment = carrier_shipment()
    shipment.tracking_number = "8346088391"
    updates = adapter.fetch_tracking(shipment, carrier_account=account)
    assert updates
    assert TrackingStatus.DELIVERED in {u.status for u in updates}


def test_dhl_express_pickup_returns_the_confirmation(fake_carrier):
    account, adapter = _dhl_express(fake_carrier)
    shipment = carrier_shipment()
    confirmation = adapter.schedule_pickup(
        warehouse=shipment.warehouse,
        date=timezone.localdate() + dt.timedelta(days=1),
        shipments=[shipment],
        carrier_account=account,
    )
    assert confirmation


# --- DHL Parcel DE --------------------------------------------------------------------


def test_dhl_parcel_de_rates_come_from_the_rate_sheet_without_a_request(fake_carrier):
    account, adapter = _dhl_parcel_de(fake_carrier)
    quotes = adapter.rate_quotes(carrier_shipment(origin="DE", destination="DE"), parcels())
    assert quotes
    assert {q.service for q in quotes} >= {"dhl_parcel_de_paket"}
    assert fake_carrier.seen == []


def test_dhl_parcel_de_label_purchase(fake_carrier):
    account, adapter = _dhl_parcel_de(fake_carrier)
    label = adapter.buy_labels(
        carrier_shipment(origin="DE", destination="DE"),
        parcels(),
        service="dhl_parcel_de_paket",
        carrier_account=account,
    )
    assert label.tracking_numbers == ["340434310428091700"]
    assert label.carrier_reference == "340434310428091700"
    assert fake_carrier.count("POST", r"/v2/orders$") == 1


def test_dhl_parcel_de_void(fake_carrier):
    account, adapter = _dhl_parcel_de(fake_carrier)
    adapter.void_labels(
        carrier_shipment(origin="DE", destination="DE"),
        carrier_account=account,
        carrier_reference="340434310428091700",
    )
    assert fake_carrier.count("DELETE", r"/v2/orders$") == 1


def test_dhl_parcel_de_tracking_maps_delivered(fake_carrier):
    account, adapter = _dhl_parcel_de(fake_carrier)
    shipment = carrier_shipment(origin="DE", destination="DE")
    shipment.tracking_number = "00340434161094015902"
    updates = adapter.fetch_tracking(shipment, carrier_account=account)
    assert updates[0].status == TrackingStatus.DELIVERED


def test_a_refusal_is_rejected_with_the_carriers_message(fake_carrier):
    account, adapter = _dhl_parcel_de(fake_carrier)
    fake_carrier.route(
        "POST",
        r"/parcel/de/shipping/v2/orders$",
        recording("dhl_parcel_de", "ValidationMessagesErrorResponse.json"),
        status=400,
    )
    with pytest.raises(ProviderRejected) as refused:
        adapter.buy_labels(
            carrier_shipment(origin="DE", destination="DE"),
            parcels(),
            service="dhl_parcel_de_paket",
            carrier_account=account,
        )
    assert "refused" in refused.value.message


def test_rate_shopping_keeps_the_quotes_that_meet_the_service_level(fake_carrier):
    from logistics.services.labels import carrier_rates_shop
    from tests.logistics.factories import ServiceLevelFactory

    account, _ = _ups(fake_carrier)
    shipment = carrier_shipment(provider=account.provider)
    next_day = ServiceLevelFactory(code="next-day", max_transit_hours=24)
    quotes = carrier_rates_shop(shipment=shipment, parcels=parcels(), service_level=next_day)
    assert {q.transit_days for q in quotes} == {1}
    assert quotes[0].service == "ups_next_day_air_saver"  # the cheapest next-day one
    fastest = carrier_rates_shop(shipment=shipment, parcels=parcels(), prefer="fastest")
    assert fastest[0].transit_days == 1
    assert fastest[-1].transit_days == 6
    same_day = ServiceLevelFactory(code="same-day", max_transit_hours=12)
    fallback = carrier_rates_shop(shipment=shipment, parcels=parcels(), service_level=same_day)
    assert len(fallback) == len(fastest)
    assert fallback[0].transit_days == 1


def test_pickup_through_the_service(fake_carrier):
    from logistics.services.labels import carrier_pickup_schedule

    account, _ = _dhl_express(fake_carrier)
    shipment = carrier_shipment()
    confirmation = carrier_pickup_schedule(
        carrier_account=account,
        warehouse=shipment.warehouse,
        date=timezone.localdate(),
        shipments=[shipment],
    )
    assert confirmation
