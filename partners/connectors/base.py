"""The connector interface and the canonical shapes every connector speaks.

A connector knows one shop system's API and nothing of Consign's tables: it turns
remote orders into `RemoteOrder` (the intake payload plus where the order stands in
the remote list) and pushes fulfilments, cancellations and stock levels. The
services in partners/connector_services.py decide what to pull and push, write the
rows, and run the backoff and circuit breaker around it.
"""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any


class ConnectorError(Exception):
    """The remote system could not be reached or refused the call.

    `transient`: worth retrying later (timeouts, 5xx, 429); `retry_after`: seconds the
    remote asked us to wait (429 Retry-After), if it said.
    """

    def __init__(
        self, message: str, *, transient: bool = True, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.transient = transient
        self.retry_after = retry_after


@dataclass(frozen=True)
class OrdersCursor:
    """Where the order pull stands: the last order taken, by modification time then id."""

    modified_after: dt.datetime | None = None
    last_id: int = 0

    def comes_after(self, modified: dt.datetime, remote_id: int) -> bool:
        """Whether an order modified at `modified` with `remote_id` comes after the cursor."""
        if self.modified_after is None:
            return True
        return (modified, remote_id) > (self.modified_after, self.last_id)


@dataclass
class RemoteOrder:
    """One remote order: its identity and position, and the intake payload mapped from it.

    `payload` has the partner API's order shape (docs/api.md, POST /api/v1/orders);
    `problems` lists what could not be mapped ({"field", "message"}); an order with
    problems goes on the exception list instead of to intake.
    """

    remote_id: int
    number: str
    modified_at: dt.datetime
    payload: dict[str, Any]
    problems: list[dict[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class Fulfilment:
    """What shipped, for the remote order's note: tracking numbers and URLs."""

    remote_id: int
    order_number: str
    tracking: list[tuple[str, str]]  # (tracking number, tracking URL or "")


@dataclass(frozen=True)
class FulfilmentPushed:
    note_id: int | None


class Connector(ABC):
    """One shop system's API. Every method raises ConnectorError when the remote fails."""

    @abstractmethod
    def orders_since(
        self, *, cursor: OrdersCursor, service_levels: Mapping[str, str], default_level: str
    ) -> Iterator[RemoteOrder]:
        """New or changed orders ready to fulfil, oldest change first, after `cursor`."""

    @abstractmethod
    def fulfilment_push(self, *, fulfilment: Fulfilment, note_id: int | None) -> FulfilmentPushed:
        """Mark the remote order complete with the tracking in a note, exactly once.

        `note_id`: the note an earlier attempt already added (None: look for it, then
        add it). Safe to call again after a lost answer.
        """

    @abstractmethod
    def cancellation_push(self, *, remote_id: int) -> None:
        """Mark the remote order cancelled (idempotent)."""

    @abstractmethod
    def stock_push(self, *, quantities: Mapping[str, int]) -> dict[str, int]:
        """Set the remote stock of each SKU; returns the quantities set, per SKU found.

        SKUs the remote does not know are left out of the answer.
        """
