"""python manage.py scorecard_backfill [--from YYYY-MM-DD] [--to YYYY-MM-DD]

Computes the provider scorecard's daily aggregates (economics.ProviderDay) for every day
of the range, replacing what was there (docs/economics.md). Default: the last 90 days.
Prints a JSON summary as its last line: days, rows, seconds.
"""

from __future__ import annotations

import datetime as dt
import json
import time

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from economics.services.scorecard import provider_days_backfill


class Command(BaseCommand):
    help = "Compute the provider scorecard's daily aggregates for a range of days."

    def add_arguments(self, parser):
        parser.add_argument("--from", dest="first", type=dt.date.fromisoformat, default=None)
        parser.add_argument("--to", dest="last", type=dt.date.fromisoformat, default=None)

    def handle(self, *args, first: dt.date | None, last: dt.date | None, **options):
        last = last or timezone.localdate()
        first = first or last - dt.timedelta(days=89)
        if first > last:
            raise CommandError("--from is after --to")
        began = time.perf_counter()
        rows = provider_days_backfill(first=first, last=last)
        summary = {
            "days": (last - first).days + 1,
            "rows": rows,
            "seconds": round(time.perf_counter() - began, 2),
        }
        self.stdout.write(json.dumps(summary))
