"""The delivery promise: by which day a site ships an order and when it arrives.

Pure functions over a site's calendar, no database (the tables they need are loaded
by logistics.promise_tables). docs/routing.md, "The delivery promise", is the rule:

- ship-by: an order placed strictly before the site's cut-off on one of its working
  days that is not a holiday, in the site's own time zone, ships that day; otherwise
  on the site's next working day that is not a holiday.
- delivery: the carrier then takes `transit_days` delivery days, counted Monday to
  Friday whatever the site's calendar says (carriers deliver on weekdays; a site's
  holiday is not the carrier's). 0 days means delivered the day it ships.
"""

from __future__ import annotations

import datetime
import zoneinfo
from dataclasses import dataclass

# A calendar that names at least one working day reaches one within a week, plus its
# holidays; a bound keeps a calendar of nothing but holidays from looping forever.
_MAX_DAYS_AHEAD = 800
_CARRIER_DAYS = frozenset({1, 2, 3, 4, 5})  # ISO weekdays a carrier delivers on


@dataclass(frozen=True)
class SiteCalendar:
    """A site's shipping calendar: time zone (IANA), cut-off (local), ISO weekdays, holidays."""

    timezone: str
    cutoff: datetime.time
    working_days: frozenset[int]
    holidays: frozenset[datetime.date]

    def ships_on(self, day: datetime.date) -> bool:
        return day.isoweekday() in self.working_days and day not in self.holidays

    def next_shipping_day(self, after: datetime.date) -> datetime.date:
        """The first day after `after` the site ships on."""
        day = after
        for _ in range(_MAX_DAYS_AHEAD):
            day += datetime.timedelta(days=1)
            if self.ships_on(day):
                return day
        raise ValueError(f"no shipping day within {_MAX_DAYS_AHEAD} days after {after}")

    def local(self, at: datetime.datetime) -> datetime.datetime:
        """`at` (aware) as the site's wall-clock time."""
        if at.tzinfo is None or at.utcoffset() is None:
            raise ValueError("the moment must be timezone-aware")
        return at.astimezone(zoneinfo.ZoneInfo(self.timezone))

    def cutoff_at(self, day: datetime.date) -> datetime.datetime:
        """The instant (aware, in the site's zone) of the cut-off on `day`.

        On a day the clocks change the wall-clock time is taken with fold=0: a cut-off in
        the skipped hour is read as the instant that hour would have had.
        """
        return datetime.datetime.combine(day, self.cutoff, tzinfo=zoneinfo.ZoneInfo(self.timezone))


@dataclass(frozen=True)
class Promise:
    ship_by: datetime.date
    promised_delivery_date: datetime.date


def ship_by_date(calendar: SiteCalendar, at: datetime.datetime) -> datetime.date:
    """The site-local day an order placed at `at` (aware) leaves the site by."""
    local = calendar.local(at)
    today = local.date()
    if calendar.ships_on(today) and local.time() < calendar.cutoff:
        return today
    return calendar.next_shipping_day(today)


def delivery_date(ship_by: datetime.date, transit_days: int) -> datetime.date:
    """The day a parcel handed over on `ship_by` arrives after `transit_days` carrier days
    (Monday to Friday); 0 days: the same day."""
    if transit_days < 0:
        raise ValueError("transit days cannot be negative")
    day = ship_by
    left = transit_days
    while left:
        day += datetime.timedelta(days=1)
        if day.isoweekday() in _CARRIER_DAYS:
            left -= 1
    return day


def promise_for(calendar: SiteCalendar, at: datetime.datetime, transit_days: int) -> Promise:
    """The promise for an order placed (or planned) at `at` from the site of `calendar`."""
    ship_by = ship_by_date(calendar, at)
    return Promise(ship_by=ship_by, promised_delivery_date=delivery_date(ship_by, transit_days))


def at_risk_from(
    calendar: SiteCalendar, ship_by: datetime.date, margin_minutes: int
) -> datetime.datetime:
    """The instant from which an order still at the site with this ship-by is at risk:
    `margin_minutes` before the site's cut-off on the ship-by day."""
    return calendar.cutoff_at(ship_by) - datetime.timedelta(minutes=margin_minutes)
