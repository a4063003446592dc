"""The pure delivery promise (logistics/promise.py): cut-off, calendars, time zones, transit."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from logistics.promise import (
    Promise,
    SiteCalendar,
    at_risk_from,
    delivery_date,
    promise_for,
    ship_by_date,
)

UTC = dt.UTC
BERLIN = ZoneInfo("Europe/Berlin")
WEEKDAYS = frozenset({1, 2, 3, 4, 5})
EVERY_DAY = frozenset(range(1, 8))


def _site(
    *,
    tz: str = "Europe/Berlin",
    cutoff: dt.time = dt.time(17, 0),
    days: frozenset[int] = WEEKDAYS,
    holidays: frozenset[dt.date] = frozenset(),
) -> SiteCalendar:
    return SiteCalendar(timezone=tz, cutoff=cutoff, working_days=days, holidays=holidays)


def _berlin(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=BERLIN)


# 2026-12-07 is a Monday.
MONDAY = dt.date(2026, 12, 7)


def test_an_order_a_minute_before_the_cutoff_ships_the_same_day():
    assert ship_by_date(_site(), _berlin(2026, 12, 8, 16, 59)) == dt.date(2026, 12, 8)


def test_an_order_a_minute_after_the_cutoff_ships_the_next_working_day():
    assert ship_by_date(_site(), _berlin(2026, 12, 8, 17, 1)) == dt.date(2026, 12, 9)


def test_an_order_at_the_cutoff_itself_misses_it():
    assert ship_by_date(_site(), _berlin(2026, 12, 8, 17, 0)) == dt.date(2026, 12, 9)


def test_friday_after_the_cutoff_ships_on_monday():
    friday = dt.date(2026, 12, 11)
    assert ship_by_date(_site(), _berlin(2026, 12, 11, 17, 30)) == friday + dt.timedelta(days=3)


@pytest.mark.parametrize("day", [12, 13])  # Saturday, Sunday
def test_a_weekend_order_ships_on_monday(day):
    assert ship_by_date(_site(), _berlin(2026, 12, day, 9, 0)) == dt.date(2026, 12, 14)


def test_a_site_that_works_saturdays_ships_a_saturday_morning_order_that_day():
    site = _site(days=frozenset({1, 2, 3, 4, 5, 6}))
    assert ship_by_date(site, _berlin(2026, 12, 12, 9, 0)) == dt.date(2026, 12, 12)


def test_the_next_day_being_a_holiday_is_skipped():
    # Wednesday 23 after the cut-off; 24 and 25 December are holidays: Monday 28.
    site = _site(holidays=frozenset({dt.date(2026, 12, 24), dt.date(2026, 12, 25)}))
    assert ship_by_date(site, _berlin(2026, 12, 23, 18, 0)) == dt.date(2026, 12, 28)


def test_an_order_placed_on_a_holiday_before_the_cutoff_waits():
    site = _site(holidays=frozenset({dt.date(2026, 12, 8)}))
    assert ship_by_date(site, _berlin(2026, 12, 8, 9, 0)) == dt.date(2026, 12, 9)


def test_a_calendar_of_nothing_but_holidays_raises_rather_than_looping():
    site = _site(
        days=frozenset({1}), holidays=frozenset(MONDAY + dt.timedelta(weeks=w) for w in range(200))
    )
    with pytest.raises(ValueError, match="no shipping day"):
        ship_by_date(site, _berlin(2026, 12, 7, 18, 0))


def test_a_naive_moment_is_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        ship_by_date(_site(), dt.datetime(2026, 12, 8, 9, 0))  # noqa: DTZ001


# --- Daylight saving time (Europe/Berlin: last Sunday of March and of October) ----------
# 2026-03-29: 02:00 CET becomes 03:00 CEST (UTC+1 -> UTC+2).
# 2026-10-25: 03:00 CEST becomes 02:00 CET (UTC+2 -> UTC+1).


def test_spring_forward_the_day_before_is_on_winter_time():
    site = _site(days=EVERY_DAY)
    at = dt.datetime(2026, 3, 28, 15, 30, tzinfo=UTC)  # 16:30 CET
    assert at.astimezone(BERLIN).hour == 16
    assert ship_by_date(site, at) == dt.date(2026, 3, 28)
    assert site.cutoff_at(dt.date(2026, 3, 28)).astimezone(UTC).hour == 16


def test_spring_forward_the_day_after_is_on_summer_time():
    site = _site(days=EVERY_DAY)
    at = dt.datetime(2026, 3, 30, 14, 30, tzinfo=UTC)  # 16:30 CEST
    assert at.astimezone(BERLIN).hour == 16
    assert ship_by_date(site, at) == dt.date(2026, 3, 30)
    assert site.cutoff_at(dt.date(2026, 3, 30)).astimezone(UTC).hour == 15


def test_spring_forward_day_reads_the_cutoff_in_summer_time():
    # 15:30 UTC on the change day is 17:30 CEST: past a 17:00 cut-off (it would not be on
    # winter time, 16:30).
    site = _site(days=EVERY_DAY)
    assert ship_by_date(site, dt.datetime(2026, 3, 29, 15, 30, tzinfo=UTC)) == dt.date(2026, 3, 30)
    assert ship_by_date(site, dt.datetime(2026, 3, 29, 14, 30, tzinfo=UTC)) == dt.date(2026, 3, 29)


def test_fall_back_the_day_before_is_on_summer_time():
    site = _site(days=EVERY_DAY)
    at = dt.datetime(2026, 10, 24, 14, 30, tzinfo=UTC)  # 16:30 CEST
    assert at.astimezone(BERLIN).hour == 16
    assert ship_by_date(site, at) == dt.date(2026, 10, 24)
    assert site.cutoff_at(dt.date(2026, 10, 24)).astimezone(UTC).hour == 15


def test_fall_back_the_day_after_is_on_winter_time():
    site = _site(days=EVERY_DAY)
    at = dt.datetime(2026, 10, 26, 15, 30, tzinfo=UTC)  # 16:30 CET
    assert at.astimezone(BERLIN).hour == 16
    assert ship_by_date(site, at) == dt.date(2026, 10, 26)
    assert site.cutoff_at(dt.date(2026, 10, 26)).astimezone(UTC).hour == 16


def test_fall_back_day_reads_the_cutoff_in_winter_time():
    # 15:30 UTC on the change day is 16:30 CET: still before a 17:00 cut-off (it would be
    # 17:30 on summer time).
    site = _site(days=EVERY_DAY)
    assert ship_by_date(site, dt.datetime(2026, 10, 25, 15, 30, tzinfo=UTC)) == dt.date(
        2026, 10, 25
    )
    assert ship_by_date(site, dt.datetime(2026, 10, 25, 16, 30, tzinfo=UTC)) == dt.date(
        2026, 10, 26
    )


# --- A site in another time zone than the customer ----------------------------------


def test_a_new_york_site_counts_its_own_day_and_cutoff():
    # 23:30 UTC on Tuesday 8 December is 18:30 in New York (before its 20:00 cut-off) but
    # already Wednesday 00:30 for a customer in Berlin: it ships on New York's Tuesday.
    site = _site(tz="America/New_York", cutoff=dt.time(20, 0))
    at = dt.datetime(2026, 12, 8, 23, 30, tzinfo=UTC)
    assert at.astimezone(BERLIN).date() == dt.date(2026, 12, 9)
    assert ship_by_date(site, at) == dt.date(2026, 12, 8)
    assert site.cutoff_at(dt.date(2026, 12, 8)).astimezone(UTC) == dt.datetime(
        2026, 12, 9, 1, 0, tzinfo=UTC
    )


def test_a_new_york_site_after_its_cutoff_ships_its_next_day():
    site = _site(tz="America/New_York", cutoff=dt.time(17, 0))
    # 23:30 UTC is 18:30 EST: past 17:00.
    assert ship_by_date(site, dt.datetime(2026, 12, 8, 23, 30, tzinfo=UTC)) == dt.date(2026, 12, 9)


def test_the_moment_s_own_zone_does_not_matter():
    site = _site()
    at = dt.datetime(2026, 12, 8, 15, 59, tzinfo=UTC)  # 16:59 in Berlin
    tokyo = at.astimezone(ZoneInfo("Asia/Tokyo"))
    assert ship_by_date(site, at) == ship_by_date(site, tokyo) == dt.date(2026, 12, 8)


# --- Transit: carrier delivery days, Monday to Friday -------------------------------


def test_zero_transit_days_is_delivered_the_same_day():
    assert delivery_date(MONDAY, 0) == MONDAY


def test_transit_counts_weekdays_only():
    friday = dt.date(2026, 12, 11)
    assert delivery_date(MONDAY, 2) == dt.date(2026, 12, 9)
    assert delivery_date(friday, 1) == dt.date(2026, 12, 14)
    assert delivery_date(friday, 3) == dt.date(2026, 12, 16)


def test_a_saturday_hand_over_is_delivered_from_monday():
    assert delivery_date(dt.date(2026, 12, 12), 1) == dt.date(2026, 12, 14)


def test_site_holidays_do_not_stop_the_carrier():
    site = _site(holidays=frozenset({dt.date(2026, 12, 9)}))
    assert promise_for(site, _berlin(2026, 12, 8, 10, 0), 2) == Promise(
        ship_by=dt.date(2026, 12, 8), promised_delivery_date=dt.date(2026, 12, 10)
    )


def test_negative_transit_is_refused():
    with pytest.raises(ValueError, match="negative"):
        delivery_date(MONDAY, -1)


def test_promise_for_friday_evening():
    promise = promise_for(_site(), _berlin(2026, 12, 11, 17, 1), 2)
    assert promise == Promise(
        ship_by=dt.date(2026, 12, 14), promised_delivery_date=dt.date(2026, 12, 16)
    )
    assert promise.ship_by <= promise.promised_delivery_date


def test_at_risk_from_is_the_margin_before_the_cutoff_in_site_time():
    site = _site(cutoff=dt.time(15, 0))
    assert at_risk_from(site, MONDAY, 60).astimezone(UTC) == dt.datetime(
        2026, 12, 7, 13, 0, tzinfo=UTC
    )
