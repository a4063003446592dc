"""Reads of LSP economics: which card prices a provider's work on a day."""

from __future__ import annotations

import datetime as dt

from economics.models import RateCard


def rate_card_in_force(*, provider_id: int, on: dt.date) -> RateCard | None:
    """The active card of the provider on that day, if any (at most one: the database says so)."""
    return (
        RateCard.objects.filter(provider_id=provider_id, status=RateCard.Status.ACTIVE)
        .filter(valid_from__lte=on)
        .exclude(valid_to__lte=on)
        .first()
    )
