"""The tables the delivery promise reads (site calendars, transit times), cached per process.

Order intake computes a promise for every order; reading the calendars and transit times
from the database each time would add round trips to its hot path. `promise_tables()`
loads everything in four queries and keeps it for PROMISE_TABLES_SECONDS; after that a
promise is dict lookups. A change saved in this process (admin, services) clears the
cache at once (logistics.signals.promise_tables_changed); other processes see it within
PROMISE_TABLES_SECONDS.
"""

from __future__ import annotations

import datetime
import math
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field

from django.conf import settings
from django.utils import timezone

from inventory.models import (
    WAREHOUSE_DEFAULT_CUTOFF,
    WAREHOUSE_DEFAULT_TIMEZONE,
    WAREHOUSE_DEFAULT_WORKING_DAYS,
    Warehouse,
    WarehouseHoliday,
)
from logistics.models import ServiceLevel, TransitTime
from logistics.promise import Promise, SiteCalendar, promise_for

PROMISE_TABLES_SECONDS = 5.0
# Holidays loaded around today: a week back (a late order's ship-by may lie there) and
# far enough ahead for any calendar search from today.
HOLIDAYS_BACK_DAYS = 7
HOLIDAYS_AHEAD_DAYS = 400

DEFAULT_CALENDAR = SiteCalendar(
    timezone=WAREHOUSE_DEFAULT_TIMEZONE,
    cutoff=WAREHOUSE_DEFAULT_CUTOFF,
    working_days=frozenset(WAREHOUSE_DEFAULT_WORKING_DAYS),
    holidays=frozenset(),
)

# (days for named countries, days for every other destination or None)
_Zones = tuple[dict[str, int], int | None]


@dataclass(frozen=True)
class PromiseTables:
    """Calendars per warehouse id, transit days per provider / service level and zone."""

    calendars: dict[int, SiteCalendar] = field(default_factory=dict)
    # service level id -> zones of the rows naming that level
    level_zones: dict[int, _Zones] = field(default_factory=dict)
    # provider id -> zones of the rows for any level of that provider
    provider_zones: dict[int, _Zones] = field(default_factory=dict)
    # service level id -> its max_transit_hours as whole days (rounded up)
    level_days: dict[int, int] = field(default_factory=dict)
    default_days: int = 3

    def calendar(self, warehouse_id: int) -> SiteCalendar:
        """The site's calendar; the defaults for a site this process does not know yet."""
        return self.calendars.get(warehouse_id, DEFAULT_CALENDAR)

    def transit_days(self, provider_id: int, service_level_id: int | None, country: str) -> int:
        """Carrier days to `country`, the most specific row first: the service level's row
        naming the country, the level's default zone, the provider's (any level) row naming
        the country, the provider's default zone; then the level's max_transit_hours in
        days (rounded up); then PROMISE_DEFAULT_TRANSIT_DAYS."""
        if service_level_id is not None:
            days = _zone_days(self.level_zones.get(service_level_id), country)
            if days is not None:
                return days
        days = _zone_days(self.provider_zones.get(provider_id), country)
        if days is not None:
            return days
        if service_level_id is not None and service_level_id in self.level_days:
            return self.level_days[service_level_id]
        return self.default_days


def _zone_days(zones: _Zones | None, country: str) -> int | None:
    if zones is None:
        return None
    named, other = zones
    return named.get(country, other)


_lock = threading.Lock()
_cached: tuple[float, PromiseTables] | None = None


def promise_tables() -> PromiseTables:
    """The promise tables of this process, loaded (four queries) when older than
    PROMISE_TABLES_SECONDS or invalidated."""
    global _cached
    hit = _cached
    now = time.monotonic()
    if hit is not None and hit[0] > now:
        return hit[1]
    with _lock:
        hit = _cached
        if hit is not None and hit[0] > now:
            return hit[1]
        tables = promise_tables_load()
        _cached = (now + PROMISE_TABLES_SECONDS, tables)
        return tables


def promise_tables_invalidate() -> None:
    """Forget the cached tables: the next promise reads the database again."""
    global _cached
    _cached = None


def promise_tables_load(
    *, today: datetime.date | None = None, since: datetime.date | None = None
) -> PromiseTables:
    """Read the calendars and transit times (four queries, whatever their size).

    `since`: load the holidays from that day on instead of a week before today, for
    promises made in the past (routing's what-if replays a past period)."""
    today = today or timezone.now().date()
    back = today - datetime.timedelta(days=HOLIDAYS_BACK_DAYS)
    holidays: dict[int, set[datetime.date]] = defaultdict(set)
    for warehouse_id, day in WarehouseHoliday.objects.filter(
        date__gte=min(back, since) if since is not None else back,
        date__lte=today + datetime.timedelta(days=HOLIDAYS_AHEAD_DAYS),
    ).values_list("warehouse_id", "date"):
        holidays[warehouse_id].add(day)
    calendars = {
        pk: SiteCalendar(
            timezone=tz,
            cutoff=cutoff,
            working_days=frozenset(days),
            holidays=frozenset(holidays.get(pk, ())),
        )
        for pk, tz, cutoff, days in Warehouse.objects.values_list(
            "pk", "timezone", "cutoff_time", "working_days"
        )
    }
    level_zones: dict[int, _Zones] = {}
    provider_zones: dict[int, _Zones] = {}
    for provider_id, level_id, countries, days in TransitTime.objects.order_by("pk").values_list(
        "provider_id", "service_level_id", "countries", "days"
    ):
        table = level_zones if level_id is not None else provider_zones
        key = level_id if level_id is not None else provider_id
        named, other = table.get(key, ({}, None))
        if countries:
            for country in countries:
                named.setdefault(country, days)  # the older row wins a country named twice
        elif other is None:
            other = days
        table[key] = (named, other)
    level_days = {
        pk: math.ceil(hours / 24)
        for pk, hours in ServiceLevel.objects.values_list("pk", "max_transit_hours")
    }
    return PromiseTables(
        calendars=calendars,
        level_zones=level_zones,
        provider_zones=provider_zones,
        level_days=level_days,
        default_days=settings.PROMISE_DEFAULT_TRANSIT_DAYS,
    )


def shipment_promise(
    *,
    warehouse_id: int,
    provider_id: int,
    service_level_id: int | None,
    country: str,
    at: datetime.datetime,
) -> Promise:
    """The promise of a shipment planned at `at` from the warehouse with this provider and
    service to `country` (dict lookups once the tables are loaded)."""
    tables = promise_tables()
    return promise_for(
        tables.calendar(warehouse_id),
        at,
        tables.transit_days(provider_id, service_level_id, country),
    )
