import pytest

from logistics.models import Parcel, Shipment, ShipmentLine, TrackingEvent
from tests.fixtures.admin_book import (
    BOOK_ROWS,
    admin_url,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_password_hashing")]


def test_shipping_book_has_the_rows_the_budget_is_proven_with(admin_book):
    for model in (Shipment, ShipmentLine, Parcel, TrackingEvent):
        assert model.objects.count() >= BOOK_ROWS


def test_shipment_page_shows_the_tracking_timeline(admin_book, staff_client):
    shipment = Shipment.objects.filter(status="delivered").first()
    response = staff_client.get(admin_url(Shipment, "change", shipment.pk))
    body = response.content.decode()
    assert "Tracking timeline" in body
    assert "Out for delivery" in body
    assert 'name="_save"' not in body


def test_tracking_events_cannot_be_deleted(admin_book, staff_client):
    event = TrackingEvent.objects.order_by("pk").first()
    response = staff_client.post(admin_url(TrackingEvent, "delete", event.pk), {"post": "yes"})
    assert response.status_code == 403
    assert TrackingEvent.objects.filter(pk=event.pk).exists()


def test_shipment_search_finds_by_tracking_number(admin_book, staff_client):
    shipment = Shipment.objects.exclude(tracking_number="").order_by("pk").last()
    response = staff_client.get(admin_url(Shipment, "changelist"), {"q": shipment.tracking_number})
    assert [s.pk for s in response.context["cl"].result_list] == [shipment.pk]
