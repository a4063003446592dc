"""Storage at LSP-operated sites, accrued day by day (beat, shortly after midnight UTC).

Each run records, for each active LSP-operated warehouse, the units on hand there as
the day's storage and prices them with the storage rules of the operating provider's
card in force that day. A run is idempotent per (warehouse, day): running it again
replaces the day's row, so a missed night is made up by running it for that day.

The units are read when the run happens; run just after midnight, that is the stock
at the end of the day it accrues (the ledger could give the exact figure; the
difference is the few movements of the first minutes).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from economics import pricing
from economics.models import ChargeRule, StorageCharge
from economics.selectors import card_terms, rate_card_in_force
from inventory.models import StockLevel, Warehouse


def _priced(units: int, card_terms_: pricing.CardTerms) -> tuple[Decimal, list[str]]:
    rules = card_terms_.of_type(pricing.STORAGE)
    problems = []
    if not rules:
        problems.append("the card has no storage rule")
    quote = pricing.storage_quote(card_terms_, unit_days=units)
    return quote.total, problems


@transaction.atomic
def storage_accrue(*, day: dt.date) -> int:
    """Record (or record again) the day's storage at every LSP-operated site; returns how many."""
    sites = list(
        Warehouse.objects.filter(kind=Warehouse.Kind.LSP, is_active=True, provider__isnull=False)
    )
    units_at = dict(
        StockLevel.objects.filter(warehouse__in=sites, on_hand__gt=0)
        .values("warehouse_id")
        .annotate(units=Sum("on_hand"))
        .values_list("warehouse_id", "units")
    )
    now = timezone.now()
    rows = []
    for site in sites:
        assert site.provider_id is not None  # noqa: S101 - filtered above
        units = int(units_at.get(site.pk) or 0)
        card = rate_card_in_force(provider_id=site.provider_id, on=day)
        row = StorageCharge(
            warehouse=site, day=day, provider_id=site.provider_id, units=units, accrued_at=now
        )
        if card is None:
            row.problems = [f"no active rate card of the provider on {day.isoformat()}"]
            rows.append(row)
            continue
        row.card = card
        row.currency = card.currency
        bases = {r.storage_basis for r in card.rules.all() if r.charge_type == pricing.STORAGE}
        if bases - {ChargeRule.StorageBasis.UNIT}:
            # Not priced at zero: unknown, and the reason says why.
            row.problems = ["the card charges storage per pallet or bin; Consign counts units"]
        else:
            row.amount, row.problems = _priced(units, card_terms(card))
        rows.append(row)
    StorageCharge.objects.bulk_create(
        rows,
        update_conflicts=True,
        unique_fields=["warehouse", "day"],
        update_fields=["provider", "card", "units", "currency", "amount", "problems", "accrued_at"],
    )
    return len(rows)


def storage_accrue_yesterday() -> int:
    return storage_accrue(day=timezone.now().date() - dt.timedelta(days=1))
