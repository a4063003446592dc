"""Retry a whole transaction after a deadlock (40P01) or serialization failure (40001).

Postgres aborts one of the transactions in a deadlock or a serialization conflict and
expects the client to run it again; the second run nearly always succeeds. We retry
a bounded number of times (DB_RETRY_ATTEMPTS) with "full jitter" backoff
(a random sleep up to base * 2**attempt), so that the two losers of a conflict do not
collide again in lockstep. Only a function that opens its own transaction can be
retried: inside an outer atomic block the whole outer transaction is already lost,
so the error is raised for the outermost caller to handle.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import TypeVar

from django.conf import settings
from django.db import DatabaseError, transaction

logger = logging.getLogger(__name__)

RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})  # deadlock_detected, serialization_failure
T = TypeVar("T")


def sqlstate_of(exc: BaseException) -> str | None:
    """The SQLSTATE of a database error, looking through Django's wrapping."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        state = getattr(current, "sqlstate", None) or getattr(current, "pgcode", None)
        if state:
            return str(state)
        current = current.__cause__ or current.__context__
    return None


def is_retryable(exc: BaseException) -> bool:
    return sqlstate_of(exc) in RETRYABLE_SQLSTATES


def db_retry(
    fn: Callable[[], T],
    *,
    attempts: int | None = None,
    base_seconds: float | None = None,
    using: str = "default",
) -> T:
    """Call `fn` (which must run its own transaction) and rerun it on 40P01/40001.

    Returns what `fn` returns. Raises the last error after `attempts` tries, and any
    other error at once.
    """
    attempts = attempts or settings.DB_RETRY_ATTEMPTS
    base = settings.DB_RETRY_BASE_SECONDS if base_seconds is None else base_seconds
    for attempt in range(1, attempts + 1):
        try:
            return fn()
        except DatabaseError as exc:
            nested = transaction.get_connection(using).in_atomic_block
            if nested or attempt >= attempts or not is_retryable(exc):
                raise
            delay = random.uniform(0, base * 2 ** (attempt - 1))  # noqa: S311 - jitter
            logger.warning(
                "database %s on attempt %s/%s, retrying in %.3fs",
                sqlstate_of(exc),
                attempt,
                attempts,
                delay,
            )
            time.sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover
