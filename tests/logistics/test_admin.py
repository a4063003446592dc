import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from logistics.models import Parcel, Shipment, ShipmentLine, TrackingEvent
from tests.fixtures.admin_book import (
    BOOK_ROWS,
    QUERY_BUDGET,
    admin_models,
    admin_url,
    full_table_counts,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


MODELS = admin_models("logistics")


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_changelist_stays_within_query_budget(
    admin_book, staff_client, django_assert_max_num_queries, model
):
    with django_assert_max_num_queries(QUERY_BUDGET):
        response = staff_client.get(admin_url(model, "changelist"))
    assert response.status_code == 200
    assert response.context["cl"].result_count > 0


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_changelist_never_counts_the_whole_table(admin_book, staff_client, model):
    with CaptureQueriesContext(connection) as captured:
        staff_client.get(admin_url(model, "changelist"))
        staff_client.get(admin_url(model, "changelist"), {"q": "CSX0000000001NL"})
    assert full_table_counts(captured.captured_queries) == []


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_change_page_loads(admin_book, staff_client, model):
    obj = model.objects.order_by("pk").first()
    response = staff_client.get(admin_url(model, "change", obj.pk))
    assert response.status_code == 200


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
