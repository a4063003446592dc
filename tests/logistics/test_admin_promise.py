"""The admin of the delivery promise: site calendars with holidays inline, transit times."""

from __future__ import annotations

import datetime as dt

import pytest

from inventory.models import Warehouse
from logistics.models import TransitTime
from logistics.promise_tables import promise_tables
from tests.fixtures.admin_book import admin_url
from tests.inventory.factories import WarehouseFactory
from tests.logistics.factories import ServiceLevelFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_password_hashing")]


def _warehouse_form(site: Warehouse, **changes) -> dict:
    data = {
        "code": site.code,
        "name": site.name,
        "kind": site.kind,
        "country": site.country,
        "city": site.city,
        "postcode": "",
        "line1": "",
        "is_active": "on",
        "timezone": "America/New_York",
        "cutoff_time": "16:30",
        "working_days": ["1", "2", "3", "4", "5", "6"],
        "holidays-TOTAL_FORMS": "1",
        "holidays-INITIAL_FORMS": "0",
        "holidays-MIN_NUM_FORMS": "0",
        "holidays-MAX_NUM_FORMS": "1000",
        "holidays-0-date": "2026-12-24",
        "holidays-0-name": "Christmas Eve",
    }
    data.update(changes)
    return data


def test_a_site_s_calendar_and_holidays_are_edited_on_the_warehouse(staff_client):
    site = WarehouseFactory()
    page = staff_client.get(admin_url(Warehouse, "change", site.pk)).content.decode()
    assert 'name="working_days"' in page
    assert "holidays-TOTAL_FORMS" in page
    response = staff_client.post(admin_url(Warehouse, "change", site.pk), _warehouse_form(site))
    assert response.status_code == 302, response.content.decode()[:2000]
    site.refresh_from_db()
    assert (site.timezone, site.cutoff_time, site.working_days) == (
        "America/New_York",
        dt.time(16, 30),
        [1, 2, 3, 4, 5, 6],
    )
    assert list(site.holidays.values_list("date", "name")) == [
        (dt.date(2026, 12, 24), "Christmas Eve")
    ]
    # The save reached this process's promise tables at once.
    assert promise_tables().calendar(site.pk).timezone == "America/New_York"


@pytest.mark.parametrize(
    ("changes", "field"),
    [({"timezone": "Mars/Olympus"}, "timezone"), ({"working_days": []}, "working_days")],
)
def test_a_calendar_the_promise_cannot_use_is_refused(staff_client, changes, field):
    site = WarehouseFactory()
    response = staff_client.post(
        admin_url(Warehouse, "change", site.pk), _warehouse_form(site, **changes)
    )
    assert response.status_code == 200
    assert field in response.context["adminform"].form.errors


def test_transit_times_are_added_with_countries_in_any_case(staff_client):
    level = ServiceLevelFactory()
    response = staff_client.post(
        admin_url(TransitTime, "add"),
        {
            "provider": level.provider_id,
            "service_level": level.pk,
            "countries": "de, at",
            "days": "2",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    row = TransitTime.objects.get()
    assert row.countries == ["DE", "AT"]
    assert promise_tables().transit_days(level.provider_id, level.pk, "AT") == 2
    listing = staff_client.get(admin_url(TransitTime, "changelist")).content.decode()
    assert "DE, AT" in listing


def test_a_country_code_that_is_not_one_is_refused(staff_client):
    level = ServiceLevelFactory()
    response = staff_client.post(
        admin_url(TransitTime, "add"),
        {"provider": level.provider_id, "service_level": "", "countries": "GER", "days": "2"},
    )
    assert response.status_code == 200
    assert not TransitTime.objects.exists()
