"""Handing shipments to providers through the dispatch outbox."""

from __future__ import annotations

import datetime as dt
import enum
import logging
import random
from dataclasses import dataclass
from functools import partial

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from core.errors import Conflict
from logistics import broker, error_codes, order_events
from logistics.adapters.base import AdapterError, CreatedShipment, ProviderAdapter
from logistics.adapters.registry import adapter_for
from logistics.models import DispatchOutbox, Shipment, ShipmentStatusGroups

logger = logging.getLogger(__name__)


class Outcome(enum.StrEnum):
    SENT = "sent"
    RETRY = "retry"
    REJECTED = "rejected"
    FAILED = "failed"
    NOOP = "noop"


@dataclass(frozen=True)
class DispatchResult:
    outcome: Outcome
    retry_in: float | None = None
    message: str = ""


def backoff_seconds(*, attempt: int, base: float, cap: float) -> float:
    """Exponential backoff with jitter ("equal jitter"): half fixed, half random.

    The random half spreads retries of many shipments that failed together (an LSP
    outage) so that they do not all hit the provider again at the same instant.
    """
    ceiling = min(cap, base * (2 ** max(attempt - 1, 0)))
    return ceiling / 2 + random.uniform(0, ceiling / 2)  # noqa: S311 - jitter, not crypto


def _lease_seconds() -> float:
    return settings.LSP_HTTP_TIMEOUT_SECONDS + 5.0


def _claim(shipment_id: int) -> DispatchOutbox | None:
    """Take the lease on a due, pending outbox row, or None if there is nothing to do."""
    now = timezone.now()
    with transaction.atomic():
        row = (
            DispatchOutbox.objects.select_for_update(skip_locked=True)
            .filter(shipment_id=shipment_id, status=DispatchOutbox.Status.PENDING)
            .first()
        )
        if row is None:
            return None
        if row.locked_until is not None and row.locked_until > now:
            return None  # another worker is talking to the provider right now
        if row.next_attempt_at > now + dt.timedelta(seconds=1):
            return None  # a retry is scheduled later; its own message will come
        row.attempts += 1
        row.locked_until = now + dt.timedelta(seconds=_lease_seconds())
        row.save(update_fields=["attempts", "locked_until", "updated_at"])
        return row


def shipment_dispatch(
    *, shipment_id: int, adapter: ProviderAdapter | None = None
) -> DispatchResult:
    """Send one shipment to its provider, at most once per outbox lease.

    Safe to call any number of times, concurrently too: only the worker holding the
    lease calls the provider, and the call carries the shipment's idempotency token so
    a repeat after a lost answer returns the same provider shipment. Returns what
    happened; RETRY carries the backoff the caller should wait. Never raises for
    provider errors (they are recorded on the outbox row and the shipment).
    """
    row = _claim(shipment_id)
    if row is None:
        return DispatchResult(Outcome.NOOP)
    shipment = Shipment.objects.select_related(
        "order", "warehouse", "provider", "service_level"
    ).get(pk=shipment_id)
    adapter = adapter or adapter_for(shipment.provider)
    try:
        created = adapter.create_shipment(shipment)
    except AdapterError as exc:
        return _record_failure(row_id=row.pk, error=exc)
    except Exception as exc:
        # A bug in an adapter must not lose the shipment: count it as a retryable failure.
        logger.exception("Adapter crashed dispatching shipment %s", shipment_id)
        return _record_failure(row_id=row.pk, error=AdapterError(repr(exc)), retryable=True)
    return _record_success(row_id=row.pk, created=created)


@transaction.atomic
def _record_success(*, row_id: int, created: CreatedShipment) -> DispatchResult:
    row = DispatchOutbox.objects.select_for_update().get(pk=row_id)
    shipment = (
        Shipment.objects.select_for_update(of=("self",))
        .select_related("order", "provider")
        .get(pk=row.shipment_id)
    )
    if row.status != DispatchOutbox.Status.PENDING:
        return DispatchResult(Outcome.NOOP)
    now = timezone.now()
    shipment.provider_reference = created.provider_reference
    shipment.tracking_number = created.tracking_number or shipment.tracking_number
    shipment.label_url = created.label_url
    shipment.cost = created.cost
    shipment.cost_currency = created.cost_currency if created.cost is not None else ""
    shipment.dispatch_attempts = row.attempts
    shipment.last_error = ""
    shipment.dispatched_at = now
    if shipment.status in ShipmentStatusGroups.AWAITING_PROVIDER:
        shipment.status = Shipment.Status.DISPATCHED
    first_poll = (
        settings.TRACKING_SAFETY_POLL_SECONDS
        if shipment.provider.supports_webhooks
        else settings.TRACKING_POLL_SECONDS
    )
    if shipment.status not in ShipmentStatusGroups.FINAL:
        shipment.next_poll_at = now + dt.timedelta(seconds=first_poll)
        shipment.poll_interval_seconds = first_poll
    shipment.save()
    row.status = DispatchOutbox.Status.SENT
    row.sent_at = now
    row.locked_until = None
    row.last_error = ""
    row.last_status_code = None
    row.save()
    order_events.shipment_dispatched_event(shipment=shipment, attempts=row.attempts)
    return DispatchResult(Outcome.SENT)


@transaction.atomic
def _record_failure(
    *, row_id: int, error: AdapterError, retryable: bool | None = None
) -> DispatchResult:
    retryable = error.retryable if retryable is None else retryable
    row = DispatchOutbox.objects.select_for_update().get(pk=row_id)
    shipment = (
        Shipment.objects.select_for_update(of=("self",))
        .select_related("order", "provider")
        .get(pk=row.shipment_id)
    )
    if row.status != DispatchOutbox.Status.PENDING:
        return DispatchResult(Outcome.NOOP)
    now = timezone.now()
    row.last_error = error.message[:2000]
    row.last_status_code = error.status_code
    row.locked_until = None
    shipment.dispatch_attempts = row.attempts
    shipment.last_error = row.last_error
    if retryable and row.attempts < settings.DISPATCH_MAX_ATTEMPTS:
        delay = backoff_seconds(
            attempt=row.attempts,
            base=settings.DISPATCH_RETRY_BASE_SECONDS,
            cap=settings.DISPATCH_RETRY_MAX_SECONDS,
        )
        row.next_attempt_at = now + dt.timedelta(seconds=delay)
        row.save()
        shipment.save(update_fields=["dispatch_attempts", "last_error", "updated_at"])
        logger.info(
            "Dispatch of shipment %s failed (attempt %s), retry in %.1fs: %s",
            shipment.pk,
            row.attempts,
            delay,
            error.message,
        )
        return DispatchResult(Outcome.RETRY, retry_in=delay, message=error.message)
    outcome = Outcome.FAILED if retryable else Outcome.REJECTED
    row.status = DispatchOutbox.Status.FAILED if retryable else DispatchOutbox.Status.REJECTED
    row.save()
    if shipment.status in ShipmentStatusGroups.AWAITING_PROVIDER:
        shipment.status = Shipment.Status.DISPATCH_FAILED
    shipment.save(update_fields=["status", "dispatch_attempts", "last_error", "updated_at"])
    order_events.dispatch_failed_event(
        shipment=shipment,
        reason="retries_exhausted" if retryable else "rejected_by_provider",
        message=error.message,
        attempts=row.attempts,
    )
    logger.warning("Dispatch of shipment %s parked as %s: %s", shipment.pk, outcome, error.message)
    return DispatchResult(outcome, message=error.message)


@transaction.atomic
def shipment_dispatch_retry(*, shipment: Shipment, user=None, actor: str | None = None) -> Shipment:
    """Put a parked shipment (rejected or retries exhausted) back in the dispatch queue.

    Resets the attempt counter and enqueues the dispatch task on commit. Raises
    Conflict (shipment_not_retryable) if the shipment is not parked.
    """
    from logistics.tasks import dispatch_shipment_task

    row = DispatchOutbox.objects.select_for_update().filter(shipment_id=shipment.pk).first()
    if row is None or row.status not in (
        DispatchOutbox.Status.REJECTED,
        DispatchOutbox.Status.FAILED,
    ):
        raise Conflict(
            f"Shipment {shipment.pk} is not waiting for a manual retry.",
            code=error_codes.SHIPMENT_NOT_RETRYABLE,
        )
    locked = (
        Shipment.objects.select_for_update(of=("self",)).select_related("order").get(pk=shipment.pk)
    )
    row.status = DispatchOutbox.Status.PENDING
    row.attempts = 0
    row.next_attempt_at = timezone.now()
    row.locked_until = None
    row.save()
    if locked.status == Shipment.Status.DISPATCH_FAILED:
        locked.status = Shipment.Status.PENDING
        locked.save(update_fields=["status", "updated_at"])
    order_events.dispatch_retry_requested_event(shipment=locked, user=user, actor=actor)
    transaction.on_commit(partial(dispatch_shipment_task.delay, shipment_id=locked.pk))
    shipment.status = locked.status
    return locked


def dispatch_sweep(*, limit: int = 500) -> int:
    """Re-enqueue pending outbox rows that are due but were not acknowledged in time.

    Rows are claimed with SELECT ... FOR UPDATE SKIP LOCKED so that several beat or
    worker processes can sweep at once without enqueuing a row twice per sweep. Does
    nothing while the dispatch queue still has messages (see logistics.broker).
    Returns how many rows were re-enqueued.
    """
    from logistics.tasks import dispatch_shipment_task

    if broker.queue_backlog("dispatch"):
        return 0
    now = timezone.now()
    stale_before = now - dt.timedelta(seconds=settings.LOGISTICS_ACK_TIMEOUT_SECONDS)
    with transaction.atomic():
        rows = list(
            DispatchOutbox.objects.select_for_update(skip_locked=True)
            .filter(status=DispatchOutbox.Status.PENDING, next_attempt_at__lte=stale_before)
            .filter(Q(locked_until__isnull=True) | Q(locked_until__lt=now))
            .order_by("next_attempt_at")[:limit]
        )
        for row in rows:
            row.next_attempt_at = now
            transaction.on_commit(
                partial(dispatch_shipment_task.delay, shipment_id=row.shipment_id)
            )
        DispatchOutbox.objects.bulk_update(rows, ["next_attempt_at"])
    if rows:
        logger.info("Dispatch sweeper re-enqueued %s outbox row(s)", len(rows))
    return len(rows)
