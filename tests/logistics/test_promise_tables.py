"""The promise tables: site calendars and transit times from the database, cached per process."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from inventory.models import WarehouseHoliday
from logistics.models import TransitTime
from logistics.promise_tables import (
    DEFAULT_CALENDAR,
    HOLIDAYS_AHEAD_DAYS,
    promise_tables,
    promise_tables_invalidate,
    promise_tables_load,
)
from tests.inventory.factories import WarehouseFactory
from tests.logistics.factories import ProviderFactory, ServiceLevelFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def level():
    return ServiceLevelFactory(max_transit_hours=50)


def _row(level, *, any_level=False, countries=(), days):
    return TransitTime.objects.create(
        provider=level.provider,
        service_level=None if any_level else level,
        countries=list(countries),
        days=days,
    )


# --- Transit lookup order ------------------------------------------------------------


def test_the_service_level_s_row_for_the_country_wins(level):
    _row(level, countries=["DE", "AT"], days=1)
    _row(level, days=2)
    _row(level, any_level=True, countries=["DE"], days=3)
    _row(level, any_level=True, days=4)
    assert promise_tables().transit_days(level.provider_id, level.pk, "DE") == 1


def test_then_the_service_level_s_default_zone(level):
    _row(level, countries=["AT"], days=1)
    _row(level, days=2)
    _row(level, any_level=True, countries=["DE"], days=3)
    assert promise_tables().transit_days(level.provider_id, level.pk, "DE") == 2


def test_then_the_provider_s_row_for_the_country(level):
    _row(level, countries=["AT"], days=1)
    _row(level, any_level=True, countries=["DE"], days=3)
    _row(level, any_level=True, days=4)
    assert promise_tables().transit_days(level.provider_id, level.pk, "DE") == 3


def test_then_the_provider_s_default_zone(level):
    _row(level, countries=["AT"], days=1)
    _row(level, any_level=True, days=4)
    assert promise_tables().transit_days(level.provider_id, level.pk, "DE") == 4


def test_then_the_service_level_s_max_transit_hours_rounded_up(level):
    _row(level, countries=["AT"], days=1)
    assert promise_tables().transit_days(level.provider_id, level.pk, "DE") == 3  # 50 h


def test_without_a_service_level_only_the_provider_s_rows_count(level):
    _row(level, countries=["DE"], days=1)
    _row(level, any_level=True, countries=["DE"], days=3)
    assert promise_tables().transit_days(level.provider_id, None, "DE") == 3


def test_then_the_setting(level, settings):
    settings.PROMISE_DEFAULT_TRANSIT_DAYS = 6
    assert promise_tables().transit_days(ProviderFactory().pk, None, "DE") == 6


def test_another_level_s_rows_do_not_count(level):
    other = ServiceLevelFactory(provider=level.provider, code="express", max_transit_hours=24)
    _row(other, countries=["DE"], days=1)
    assert promise_tables().transit_days(level.provider_id, level.pk, "DE") == 3


def test_a_provider_has_one_default_zone_per_level(level):
    _row(level, days=2)
    with pytest.raises(IntegrityError), transaction.atomic():
        _row(level, days=5)


def test_a_provider_has_one_default_zone_for_any_level(level):
    _row(level, any_level=True, days=2)
    with pytest.raises(IntegrityError), transaction.atomic():
        _row(level, any_level=True, days=5)


def test_a_level_of_another_provider_is_refused_by_validation(level):
    row = TransitTime(provider=ProviderFactory(), service_level=level, countries=["DE"], days=1)
    with pytest.raises(ValidationError, match="service level of this provider"):
        row.full_clean()


# --- Site calendars -----------------------------------------------------------------


def test_a_warehouse_s_calendar_is_loaded_with_its_holidays_in_the_window():
    site = WarehouseFactory(
        timezone="America/New_York", cutoff_time=dt.time(16, 30), working_days=[1, 2, 3, 4, 5, 6]
    )
    today = timezone.now().date()
    soon = today + dt.timedelta(days=10)
    WarehouseHoliday.objects.create(warehouse=site, date=soon, name="Founders' day")
    WarehouseHoliday.objects.create(
        warehouse=site, date=today + dt.timedelta(days=HOLIDAYS_AHEAD_DAYS + 5)
    )
    WarehouseHoliday.objects.create(warehouse=site, date=today - dt.timedelta(days=60))
    calendar = promise_tables().calendar(site.pk)
    assert calendar.timezone == "America/New_York"
    assert calendar.cutoff == dt.time(16, 30)
    assert calendar.working_days == frozenset({1, 2, 3, 4, 5, 6})
    assert calendar.holidays == frozenset({soon})


def test_holidays_of_a_past_period_are_loaded_when_asked_for():
    """routing's what-if replays promises of a past period: `since` reaches back to it."""
    site = WarehouseFactory()
    today = timezone.now().date()
    long_ago = today - dt.timedelta(days=200)
    WarehouseHoliday.objects.create(warehouse=site, date=long_ago, name="Past holiday")
    assert promise_tables_load().calendar(site.pk).holidays == frozenset()
    since = today - dt.timedelta(days=210)
    assert promise_tables_load(since=since).calendar(site.pk).holidays == frozenset({long_ago})


def test_a_new_warehouse_gets_the_documented_defaults():
    site = WarehouseFactory()
    calendar = promise_tables().calendar(site.pk)
    assert (calendar.timezone, calendar.cutoff, calendar.working_days) == (
        "Europe/Berlin",
        dt.time(15, 0),
        frozenset({1, 2, 3, 4, 5}),
    )
    assert promise_tables().calendar(-1) == DEFAULT_CALENDAR


def test_an_unknown_time_zone_is_refused():
    site = WarehouseFactory.build(code="tz-bad", timezone="Europe/Atlantis")
    with pytest.raises(ValidationError) as caught:
        site.full_clean()
    assert "timezone" in caught.value.message_dict


@pytest.mark.parametrize("days", [[], [0, 1], [1, 8]])
def test_working_days_outside_iso_weekdays_are_refused_by_the_database(days):
    with pytest.raises(IntegrityError), transaction.atomic():
        WarehouseFactory(working_days=days)


def test_one_holiday_per_warehouse_and_day():
    site = WarehouseFactory()
    WarehouseHoliday.objects.create(warehouse=site, date=dt.date(2026, 12, 24))
    with pytest.raises(IntegrityError), transaction.atomic():
        WarehouseHoliday.objects.create(warehouse=site, date=dt.date(2026, 12, 24))


# --- Loading and caching ------------------------------------------------------------


def test_the_tables_load_in_four_queries_whatever_their_size(level, django_assert_num_queries):
    for n in range(5):
        site = WarehouseFactory()
        WarehouseHoliday.objects.create(warehouse=site, date=timezone.now().date())
        _row(ServiceLevelFactory(code=f"s{n}"), countries=["DE"], days=n)
    with django_assert_num_queries(4):
        promise_tables_load()


def test_the_cached_tables_cost_no_query(level, django_assert_num_queries):
    promise_tables()
    with django_assert_num_queries(0):
        for _ in range(100):
            promise_tables().transit_days(level.provider_id, level.pk, "DE")


def test_saving_a_calendar_or_transit_time_refreshes_this_process_at_once(level):
    site = WarehouseFactory()
    assert promise_tables().calendar(site.pk).cutoff == dt.time(15, 0)
    site.cutoff_time = dt.time(12, 0)
    site.save()
    assert promise_tables().calendar(site.pk).cutoff == dt.time(12, 0)
    holiday = WarehouseHoliday.objects.create(warehouse=site, date=timezone.now().date())
    assert holiday.date in promise_tables().calendar(site.pk).holidays
    holiday.delete()
    assert promise_tables().calendar(site.pk).holidays == frozenset()
    row = _row(level, countries=["DE"], days=1)
    assert promise_tables().transit_days(level.provider_id, level.pk, "DE") == 1
    row.delete()
    assert promise_tables().transit_days(level.provider_id, level.pk, "DE") == 3


def test_invalidate_forgets_the_tables(level, django_assert_num_queries):
    promise_tables()
    promise_tables_invalidate()
    with django_assert_num_queries(4):
        promise_tables()
