"""Handing shipments to providers through the dispatch outbox."""

from __future__ import annotations

import datetime as dt
import enum
import logging
import random
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, TypeVar

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from core.errors import Conflict
from logistics import broker, error_codes
from logistics.adapters.base import AdapterError, CreatedShipment, ProviderAdapter
from logistics.adapters.registry import adapter_for
from logistics.hooks import OrderDispatchState, order_gate, order_timeline
from logistics.models import AsnOutbox, DispatchOutbox, Shipment, ShipmentStatusGroups

if TYPE_CHECKING:
    from core.users import ActingUser

logger = logging.getLogger(__name__)

# A parked outbox row (its order is on hold) stays `pending` but is due at this far
# date: the sweeper and the task skip it until the hold release makes it due again.
PARKED_UNTIL = dt.datetime(2999, 1, 1, tzinfo=dt.UTC)
PARKED_NOTE = "parked: order on hold"


class Outcome(enum.StrEnum):
    SENT = "sent"
    RETRY = "retry"
    REJECTED = "rejected"
    FAILED = "failed"
    NOOP = "noop"
    PARKED = "parked"
    CANCELLED = "cancelled"


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
    ceiling = min(cap, base * float(2 ** max(attempt - 1, 0)))
    return ceiling / 2 + random.uniform(0, ceiling / 2)  # noqa: S311 - jitter, not crypto


def lease_seconds() -> float:
    return float(settings.LSP_HTTP_TIMEOUT_SECONDS) + 5.0


OutboxRow = TypeVar("OutboxRow", DispatchOutbox, AsnOutbox)


def outbox_claim(rows: QuerySet[OutboxRow]) -> OutboxRow | None:
    """Take the lease on the pending outbox row `rows` selects, if it is due and nobody
    holds it; None if there is nothing to do. Shared by the dispatch and ASN outboxes."""
    now = timezone.now()
    with transaction.atomic():
        row = rows.select_for_update(skip_locked=True).first()
        if row is None:
            return None
        if row.locked_until is not None and row.locked_until > now:
            return None  # another worker is talking to the provider right now
        if row.next_attempt_at > now + dt.timedelta(seconds=1):
            return None  # a retry is scheduled later; its own message will come
        row.attempts += 1
        row.locked_until = now + dt.timedelta(seconds=lease_seconds())
        row.save(update_fields=["attempts", "locked_until", "updated_at"])
        return row


def _claim(shipment_id: int) -> DispatchOutbox | None:
    return outbox_claim(
        DispatchOutbox.objects.filter(shipment_id=shipment_id, status=DispatchOutbox.Status.PENDING)
    )


def shipment_dispatch(
    *, shipment_id: int, adapter: ProviderAdapter | None = None
) -> DispatchResult:
    """Send one shipment to its provider, at most once per outbox lease, never for a
    held or cancelled order.

    Safe to call any number of times, concurrently too: only the worker holding the
    lease calls the provider, and the call carries the shipment's idempotency token so
    a repeat after a lost answer returns the same provider shipment.

    Dispatch gate: the provider is called inside a transaction that holds the order's
    row lock (FOR NO KEY UPDATE, taken through the logistics.hooks.order_gate port) and
    the shipment's, after checking that the order is neither on hold nor cancelled and
    the shipment not cancelled. A hold or a cancel
    (both take the order's FOR UPDATE lock) therefore either lands before the check
    (no call ever: PARKED or CANCELLED) or waits until the provider has answered and
    the result is recorded (it then sees the shipment as accepted). The lock is held
    for at most the provider's HTTP timeout.

    Returns what happened; RETRY carries the backoff the caller should wait. Never
    raises for provider errors (they are recorded on the outbox row and the shipment).
    """
    row = _claim(shipment_id)
    if row is None:
        return DispatchResult(Outcome.NOOP)
    with transaction.atomic():
        order_id = Shipment.objects.values_list("order_id", flat=True).get(pk=shipment_id)
        order_state = order_gate.impl.order_lock_for_dispatch(order_id=order_id)
        # The order row is read with the shipment (it is locked above, so it cannot change):
        # the adapter sends its address, the timeline entries name it.
        shipment = (
            Shipment.objects.select_for_update(of=("self",))
            .select_related("order", "warehouse", "provider", "service_level")
            .get(pk=shipment_id)
        )
        row = DispatchOutbox.objects.select_for_update().get(pk=row.pk)
        if row.status != DispatchOutbox.Status.PENDING:
            return DispatchResult(Outcome.NOOP)
        gated = _gate(row=row, shipment=shipment, order_state=order_state)
        if gated is not None:
            return gated
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


def _gate(
    *, row: DispatchOutbox, shipment: Shipment, order_state: OrderDispatchState
) -> DispatchResult | None:
    """Park or close the row instead of calling the provider; None when dispatch may go on.

    The caller holds the order's, the shipment's and the row's locks.
    """
    if order_state == OrderDispatchState.CANCELLED or shipment.status == Shipment.Status.CANCELLED:
        shipment_close_unsent(shipment=shipment, row=row, actor="system:dispatch")
        return DispatchResult(Outcome.CANCELLED, message="order cancelled")
    if order_state == OrderDispatchState.ON_HOLD or order_gate.impl.order_has_open_hold(
        order_id=shipment.order_id
    ):
        row.attempts = max(row.attempts - 1, 0)  # the lease taken by _claim was not used
        _row_park(row=row)
        order_timeline.impl.dispatch_parked_event(shipment=shipment, actor="system:dispatch")
        return DispatchResult(Outcome.PARKED, message="order on hold")
    return None


def _row_park(*, row: DispatchOutbox) -> None:
    row.next_attempt_at = PARKED_UNTIL
    row.locked_until = None
    row.last_error = PARKED_NOTE
    row.save(
        update_fields=["attempts", "next_attempt_at", "locked_until", "last_error", "updated_at"]
    )


def shipment_close_unsent(
    *,
    shipment: Shipment,
    row: DispatchOutbox | None,
    user: ActingUser | None = None,
    actor: str | None = None,
) -> None:
    """Cancel a shipment the provider never accepted and close (delete) its outbox row."""
    if row is not None:
        row.delete()
    if shipment.status != Shipment.Status.CANCELLED:
        shipment.status = Shipment.Status.CANCELLED
        shipment.next_poll_at = None
        shipment.save(update_fields=["status", "next_poll_at", "updated_at"])
    order_timeline.impl.shipment_cancelled_event(
        shipment=shipment, at_provider=False, user=user, actor=actor
    )


# What parking and resuming lock: the outbox rows, their shipments and providers, not the
# order row read along with them (the caller holds its lock already).
_PARK_LOCKS = ("self", "shipment", "shipment__provider")


@transaction.atomic
def dispatch_park_for_order(
    *, order_id: int, user: ActingUser | None = None, actor: str | None = None
) -> int:
    """Park the pending outbox rows of the order's shipments (the order was just held).

    The caller (the order workflow) holds the order's row lock. Parked rows are neither
    retried nor swept until `dispatch_resume_for_order`. Returns how many rows were parked.
    """
    rows = list(
        DispatchOutbox.objects.select_for_update(of=_PARK_LOCKS)
        .filter(shipment__order_id=order_id, status=DispatchOutbox.Status.PENDING)
        .exclude(next_attempt_at=PARKED_UNTIL)
        .select_related("shipment__provider", "shipment__order")
        .order_by("pk")
    )
    for row in rows:
        _row_park(row=row)
        order_timeline.impl.dispatch_parked_event(shipment=row.shipment, user=user, actor=actor)
    return len(rows)


@transaction.atomic
def dispatch_resume_for_order(
    *, order_id: int, user: ActingUser | None = None, actor: str | None = None
) -> int:
    """Make the order's parked outbox rows due now and enqueue their dispatch on commit.

    The caller (the order workflow) holds the order's row lock and has moved the order
    out of on_hold.
    Returns how many rows were resumed.
    """
    from logistics.tasks import dispatch_shipment_task

    rows = list(
        DispatchOutbox.objects.select_for_update(of=_PARK_LOCKS)
        .filter(
            shipment__order_id=order_id,
            status=DispatchOutbox.Status.PENDING,
            next_attempt_at=PARKED_UNTIL,
        )
        .select_related("shipment__provider", "shipment__order")
        .order_by("pk")
    )
    now = timezone.now()
    for row in rows:
        row.next_attempt_at = now
        row.last_error = ""
        row.save(update_fields=["next_attempt_at", "last_error", "updated_at"])
        order_timeline.impl.dispatch_resumed_event(shipment=row.shipment, user=user, actor=actor)
        transaction.on_commit(partial(dispatch_shipment_task.delay, shipment_id=row.shipment_id))
    return len(rows)


@transaction.atomic
def shipments_cancel_for_order(
    *, order_id: int, user: ActingUser | None = None, actor: str | None = None
) -> list[int]:
    """Stop every shipment of an order being cancelled; the caller (the order workflow)
    holds the order's lock.

    Shipments the provider never accepted become `cancelled` and their outbox rows are
    closed, in the caller's transaction. Shipments the provider accepted but that are
    not moving yet (`dispatched`) get a provider cancellation task enqueued on commit.
    Returns the ids of the shipments sent to the provider for cancellation.
    """
    from logistics.tasks import shipment_cancel_at_provider_task

    shipments = list(
        Shipment.objects.select_for_update(of=("self",))
        .select_related("provider", "order")
        .filter(order_id=order_id, shipped_at__isnull=True)
        .exclude(status=Shipment.Status.CANCELLED)
        .order_by("pk")
    )
    at_provider: list[int] = []
    for shipment in shipments:
        if shipment.status in ShipmentStatusGroups.AWAITING_PROVIDER:
            row = DispatchOutbox.objects.select_for_update().filter(shipment=shipment).first()
            shipment_close_unsent(shipment=shipment, row=row, user=user, actor=actor)
        elif shipment.status == Shipment.Status.DISPATCHED:
            order_timeline.impl.provider_cancel_requested_event(
                shipment=shipment, user=user, actor=actor
            )
            transaction.on_commit(
                partial(shipment_cancel_at_provider_task.delay, shipment_id=shipment.pk)
            )
            at_provider.append(shipment.pk)
    return at_provider


def dispatch_in_flight_for_order(*, order_id: int) -> list[int]:
    """Lock the order's pending outbox rows; return the ids of the shipments a worker is
    handing to the provider right now (its lease, taken by `_claim`, has not run out).

    For a change to the order that voids its unsent shipments (an edit); the caller holds
    the order's row lock. A worker trying to claim one of these rows while the lock is held
    skips it (`_claim` skips locked rows: NOOP; the sweeper re-enqueues a row still due
    afterwards), so only the rows named here can still reach the provider with what the
    order said before.
    """
    now = timezone.now()
    rows = (
        DispatchOutbox.objects.select_for_update()
        .filter(shipment__order_id=order_id, status=DispatchOutbox.Status.PENDING)
        .order_by("pk")
        .values_list("shipment_id", "locked_until")
    )
    return [shipment_id for shipment_id, until in rows if until is not None and until > now]


def shipment_provider_cancel(
    *, shipment_id: int, attempt: int = 1, adapter: ProviderAdapter | None = None
) -> DispatchResult:
    """Ask the provider to cancel an accepted shipment of a cancelled order.

    CANCELLED when the provider confirmed (the shipment becomes `cancelled`); REJECTED
    when it refused because the parcel already moved (the order event says so and the
    shipment goes to the exception queue as `exception`); RETRY (with backoff) when
    the provider could not be reached; NOOP when there is nothing to cancel. Never
    raises for provider errors.
    """
    shipment = Shipment.objects.select_related("order", "provider").get(pk=shipment_id)
    if shipment.status != Shipment.Status.DISPATCHED or not shipment.provider_reference:
        return DispatchResult(Outcome.NOOP)
    adapter = adapter or adapter_for(shipment.provider)
    try:
        adapter.cancel_shipment(shipment)
    except AdapterError as exc:
        if exc.retryable:
            delay = backoff_seconds(
                attempt=attempt,
                base=settings.DISPATCH_RETRY_BASE_SECONDS,
                cap=settings.DISPATCH_RETRY_MAX_SECONDS,
            )
            return DispatchResult(Outcome.RETRY, retry_in=delay, message=exc.message)
        return _record_cancel(shipment_id=shipment_id, refused=exc.message)
    return _record_cancel(shipment_id=shipment_id, refused=None)


@transaction.atomic
def _record_cancel(*, shipment_id: int, refused: str | None) -> DispatchResult:
    shipment = (
        Shipment.objects.select_for_update(of=("self",))
        .select_related("order", "provider")
        .get(pk=shipment_id)
    )
    if refused is None:
        if shipment.status != Shipment.Status.CANCELLED:
            shipment.status = Shipment.Status.CANCELLED
            shipment.next_poll_at = None
            shipment.save(update_fields=["status", "next_poll_at", "updated_at"])
        order_timeline.impl.shipment_cancelled_event(
            shipment=shipment, at_provider=True, actor=f"lsp:{shipment.provider.code}"
        )
        return DispatchResult(Outcome.CANCELLED)
    shipment.last_error = f"Provider refused to cancel: {refused}"[:2000]
    if shipment.status not in ShipmentStatusGroups.FINAL:
        shipment.status = Shipment.Status.EXCEPTION
    shipment.save(update_fields=["status", "last_error", "updated_at"])
    order_timeline.impl.provider_cancel_refused_event(shipment=shipment, message=refused)
    logger.warning("Provider refused to cancel shipment %s: %s", shipment.pk, refused)
    return DispatchResult(Outcome.REJECTED, message=refused)


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
    holder = _reference_holder(shipment=shipment, reference=created.provider_reference)
    if holder is not None:
        return _record_conflict(row=row, shipment=shipment, created=created, holder=holder)
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
    # A shipment that already finished has moved: its webhooks overtook a retried create
    # (the provider had accepted the first attempt). It still gets its reconciliation
    # poll, which fetches the events whose webhooks were lost; an earlier poll found no
    # provider reference yet and gave up.
    if shipment.status not in ShipmentStatusGroups.FINAL or shipment.last_event_at is not None:
        shipment.next_poll_at = now + dt.timedelta(seconds=first_poll)
        shipment.poll_interval_seconds = first_poll
    try:
        with transaction.atomic():
            shipment.save()
    except IntegrityError:
        # Another shipment took the same reference between the check and this save
        # (two answers racing): the unique constraint decided; park this one.
        holder = _reference_holder(shipment=shipment, reference=created.provider_reference)
        if holder is None:
            raise
        return _record_conflict(row=row, shipment=shipment, created=created, holder=holder)
    row.status = DispatchOutbox.Status.SENT
    row.sent_at = now
    row.locked_until = None
    row.last_error = ""
    row.last_status_code = None
    row.save()
    order_timeline.impl.shipment_dispatched_event(shipment=shipment, attempts=row.attempts)
    return DispatchResult(Outcome.SENT)


def _reference_holder(*, shipment: Shipment, reference: str) -> Shipment | None:
    """The other shipment of this provider that already holds `reference`, if any."""
    if not reference:
        return None
    return (
        Shipment.objects.filter(provider_id=shipment.provider_id, provider_reference=reference)
        .exclude(pk=shipment.pk)
        .select_related("order")
        .first()
    )


def _record_conflict(
    *, row: DispatchOutbox, shipment: Shipment, created: CreatedShipment, holder: Shipment
) -> DispatchResult:
    """Park a shipment whose provider answered with a reference another shipment holds.

    Providers recycle references, and a provider that lost its state (a restarted
    sandbox) hands out old ones again. Retrying cannot help, and taking the reference
    over would re-route the older shipment's tracking, so the answer is recorded on
    the shipment and its timeline and the shipment waits in the exception queue
    (dispatch failures) for a person. The caller holds the row's and shipment's locks.
    """
    message = (
        f"{shipment.provider.code} answered with reference {created.provider_reference}"
        f" (tracking {created.tracking_number or '-'}), which shipment {holder.pk} of order"
        f" {holder.order.number} already holds: check at the provider which shipment it"
        " is before retrying."
    )
    row.status = DispatchOutbox.Status.REJECTED
    row.locked_until = None
    row.last_error = message
    row.last_status_code = None
    row.save()
    shipment.refresh_from_db()
    shipment.dispatch_attempts = row.attempts
    shipment.last_error = message
    if shipment.status in ShipmentStatusGroups.AWAITING_PROVIDER:
        shipment.status = Shipment.Status.DISPATCH_FAILED
    shipment.save(update_fields=["status", "dispatch_attempts", "last_error", "updated_at"])
    order_timeline.impl.dispatch_failed_event(
        shipment=shipment,
        reason="provider_reference_conflict",
        message=message,
        attempts=row.attempts,
    )
    logger.warning("Dispatch of shipment %s parked: %s", shipment.pk, message)
    return DispatchResult(Outcome.REJECTED, message=message)


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
    order_timeline.impl.dispatch_failed_event(
        shipment=shipment,
        reason="retries_exhausted" if retryable else "rejected_by_provider",
        message=error.message,
        attempts=row.attempts,
    )
    logger.warning("Dispatch of shipment %s parked as %s: %s", shipment.pk, outcome, error.message)
    return DispatchResult(outcome, message=error.message)


@transaction.atomic
def shipment_dispatch_retry(
    *, shipment: Shipment, user: ActingUser | None = None, actor: str | None = None
) -> Shipment:
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
    order_timeline.impl.dispatch_retry_requested_event(shipment=locked, user=user, actor=actor)
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
