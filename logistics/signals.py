"""Reactions inside logistics to changes of its own models (no other domain's events)."""

from __future__ import annotations

from typing import Any


def provider_saved(sender: type, **kwargs: Any) -> None:
    from logistics.views import provider_cache_clear

    provider_cache_clear()
