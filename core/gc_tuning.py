"""Garbage-collector settings for long-running web processes.

A partner API request allocates tens of thousands of short-lived objects, so
with CPython's default thresholds (700, 10, 10) the collector ran hundreds of
young collections per second and, every few hundred requests, a full one that
walked every object the process had imported (170,000 of them for this app):
81 ms each, measured in bench/api_profile.py, landing on whichever request
was unlucky. `gc.freeze()` after start-up moves those long-lived objects out
of the collector's sight, and a larger first threshold lets most request
garbage die by reference counting before a collection looks at it.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 7000


def gc_settle_after_startup() -> None:
    """Import everything the process serves, then freeze it and raise the threshold."""
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 - imports every view module now, not on a request
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
