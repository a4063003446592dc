"""Reactions inside logistics to changes of its own models (no other domain's events)."""

from __future__ import annotations

from typing import Any


def provider_saved(sender: type, **kwargs: Any) -> None:
    from logistics.views import provider_cache_clear

    provider_cache_clear()


def promise_tables_changed(sender: type, **kwargs: Any) -> None:
    """A site calendar, holiday, transit time or service level changed: the promise
    tables of this process are read again on next use (other processes within
    logistics.promise_tables.PROMISE_TABLES_SECONDS)."""
    from logistics.promise_tables import promise_tables_invalidate

    promise_tables_invalidate()
