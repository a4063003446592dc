"""Long back-office actions: a BulkJob row, a Celery task that works through it, progress."""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import contextmanager
from functools import partial
from typing import Any, Protocol

from django.db import connection, transaction
from django.db.models import F
from django.template.defaultfilters import pluralize
from django.utils import timezone

from backoffice import error_codes
from backoffice.models import BulkJob
from core.errors import Conflict, DomainError, ValidationFailed
from orders.models import Hold, Order

logger = logging.getLogger(__name__)

BULK_JOB_MAX_ORDERS = 5000
# Progress is saved after every batch: often enough for a smooth bar, rarely
# enough that the bookkeeping costs little next to the work.
PROGRESS_BATCH = 20


def bulk_hold_job_create(
    *,
    user,
    order_ids: list[int],
    reason: str,
    note: str = "",
    entries: list[str] | None = None,
    unrecognised: list[tuple[str, str]] | None = None,
) -> BulkJob:
    """Record a bulk hold over `order_ids` and enqueue it once the transaction commits.

    `entries` (every line as typed) and `unrecognised` (those naming no order, with why)
    are kept so the result reports on every input line, not only the orders found.
    Raises ValidationFailed for an unknown reason or an empty or oversized selection.
    """
    _hold_reason_check(reason)
    return _job_create(
        kind=BulkJob.Kind.BULK_HOLD,
        user=user,
        order_ids=order_ids,
        parameters={"reason": reason, "note": note, **_inputs(entries, unrecognised)},
    )


def _hold_reason_check(reason: str) -> None:
    if reason not in Hold.Reason.values:
        raise ValidationFailed(
            f"Unknown hold reason {reason!r}.",
            code=error_codes.BULK_JOB_INVALID,
            errors=[{"field": "reason", "message": "Choose one of the hold reasons."}],
        )


def order_export_job_create(
    *,
    user,
    order_ids: list[int],
    entries: list[str] | None = None,
    unrecognised: list[tuple[str, str]] | None = None,
) -> BulkJob:
    """Record a CSV export of `order_ids` and enqueue it once the transaction commits.

    Raises ValidationFailed for an empty or oversized selection.
    """
    return _job_create(
        kind=BulkJob.Kind.ORDER_EXPORT,
        user=user,
        order_ids=order_ids,
        parameters=_inputs(entries, unrecognised),
    )


def bulk_release_job_create(
    *, user, order_ids: list[int], reason: str = "", note: str = ""
) -> BulkJob:
    """Record releasing the active holds of `order_ids` (only those for `reason` if given).

    Enqueued once the transaction commits. Raises ValidationFailed for an unknown
    reason or an empty or oversized selection.
    """
    if reason:
        _hold_reason_check(reason)
    return _job_create(
        kind=BulkJob.Kind.BULK_RELEASE,
        user=user,
        order_ids=order_ids,
        parameters={"reason": reason, "note": note},
    )


def bulk_assign_job_create(*, user, order_ids: list[int], owner) -> BulkJob:
    """Record giving every active hold of `order_ids` to `owner`; enqueued on commit.

    Raises ValidationFailed when the owner cannot own holds or the selection is empty
    or oversized.
    """
    if not (owner.is_active and owner.is_staff):
        raise ValidationFailed(
            f"{owner.get_username()} cannot own holds.",
            code=error_codes.BULK_JOB_INVALID,
            errors=[{"field": "owner", "message": "Choose an active staff user."}],
        )
    return _job_create(
        kind=BulkJob.Kind.BULK_ASSIGN,
        user=user,
        order_ids=order_ids,
        parameters={"owner_id": owner.pk, "owner": owner.get_username()},
    )


def bulk_reroute_job_create(
    *,
    user,
    order_ids: list[int],
    reason: str,
    exclude_sites: list[str] | None = None,
    entries: list[str] | None = None,
    unrecognised: list[tuple[str, str]] | None = None,
) -> BulkJob:
    """Record re-routing `order_ids` (orders.services.reroute.order_reroute, each order in
    its own transaction) avoiding `exclude_sites`; enqueued once the transaction commits.

    Raises ValidationFailed without a reason or for an empty or oversized selection.
    """
    reason = reason.strip()
    if not reason:
        raise ValidationFailed(
            "Say why the orders are re-routed.",
            code=error_codes.BULK_JOB_INVALID,
            errors=[{"field": "reason", "message": "Required."}],
        )
    return _job_create(
        kind=BulkJob.Kind.BULK_REROUTE,
        user=user,
        order_ids=order_ids,
        parameters={
            "reason": reason,
            "exclude_sites": sorted(set(exclude_sites or [])),
            **_inputs(entries, unrecognised),
        },
    )


def _inputs(entries: list[str] | None, unrecognised: list[tuple[str, str]] | None) -> dict:
    if entries is None:
        return {}
    return {
        "entries": list(entries),
        "unrecognised": [[entry, why] for entry, why in unrecognised or []],
    }


@transaction.atomic
def _job_create(*, kind: str, user, order_ids: list[int], parameters: dict) -> BulkJob:
    from backoffice.tasks import bulk_job_run_task

    order_ids = list(dict.fromkeys(order_ids))
    if not order_ids:
        raise ValidationFailed("No order selected.", code=error_codes.BULK_JOB_EMPTY)
    if len(order_ids) > BULK_JOB_MAX_ORDERS:
        raise ValidationFailed(
            f"At most {BULK_JOB_MAX_ORDERS} orders per bulk action.",
            code=error_codes.BULK_JOB_TOO_LARGE,
        )
    job = BulkJob.objects.create(
        kind=kind,
        created_by=user,
        parameters=parameters,
        order_ids=order_ids,
        total=len(order_ids),
    )
    transaction.on_commit(partial(bulk_job_run_task.delay, job_id=job.pk))
    return job


def bulk_job_run(*, job_id: int) -> BulkJob:
    """Work through the job from where it stopped; safe to run twice.

    Every order is handled in its own transaction, so one refusal (an order
    already shipped, a hold already there) is recorded in the result and does
    not undo the others.
    """
    with _job_lease(job_id) as leased:
        if not leased:
            # Another worker is already on it (a redelivered message while the
            # first run is alive): it will finish the job.
            return BulkJob.objects.get(pk=job_id)
        return _bulk_job_run_leased(job_id=job_id)


# Advisory-lock namespace for bulk jobs (first key of pg_try_advisory_lock(int, int)).
_LEASE_NAMESPACE = 7001


@contextmanager
def _job_lease(job_id: int):
    # A session-level advisory lock: held across the per-batch transactions,
    # released at the end, and by Postgres itself if the worker process dies.
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [_LEASE_NAMESPACE, job_id])
        leased = cursor.fetchone()[0]
    try:
        yield leased
    finally:
        if leased:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [_LEASE_NAMESPACE, job_id])


def _bulk_job_run_leased(*, job_id: int) -> BulkJob:
    job = BulkJob.objects.select_related("created_by").get(pk=job_id)
    if job.is_finished:
        return job
    BulkJob.objects.filter(pk=job.pk).update(
        status=BulkJob.Status.RUNNING, started_at=job.started_at or timezone.now()
    )
    handler = _HANDLERS[job.kind]
    results = list(job.results)
    pending = job.order_ids[job.processed :]
    try:
        for start in range(0, len(pending), PROGRESS_BATCH):
            batch = pending[start : start + PROGRESS_BATCH]
            orders = Order.objects.select_related("channel").in_bulk(batch)
            succeeded = failed = 0
            for order_id in batch:
                order = orders.get(order_id)
                if order is None:
                    results.append([f"#{order_id}", "failed", "order no longer exists"])
                    failed += 1
                    continue
                try:
                    row = handler(job=job, order=order)
                except DomainError as exc:
                    results.append([order.number, _REFUSED.get(job.kind, "failed"), exc.detail])
                    failed += 1
                else:
                    results.append(row)
                    succeeded += 1
            BulkJob.objects.filter(pk=job.pk).update(
                processed=F("processed") + len(batch),
                succeeded=F("succeeded") + succeeded,
                failed=F("failed") + failed,
                results=results,
                updated_at=timezone.now(),
            )
    except Exception as exc:
        logger.exception("Bulk job %s failed", job.pk)
        BulkJob.objects.filter(pk=job.pk).update(
            status=BulkJob.Status.FAILED, error=str(exc)[:2000], finished_at=timezone.now()
        )
        raise
    job.refresh_from_db()
    if job.total and not job.succeeded:
        # Nothing was done: that is a failure to see at a glance, not a calm "done".
        BulkJob.objects.filter(pk=job.pk).update(
            status=BulkJob.Status.FAILED,
            error=f"None of the {job.total} order{pluralize(job.total)} could be handled; "
            "the result says why for each.",
            finished_at=timezone.now(),
        )
    else:
        BulkJob.objects.filter(pk=job.pk).update(
            status=BulkJob.Status.DONE, finished_at=timezone.now()
        )
    job.refresh_from_db()
    return job


def _bulk_actor(job: BulkJob) -> str:
    return f"user:{job.created_by.get_username()} (bulk job {job.pk})"


def _bulk_hold_one(*, job: BulkJob, order: Order) -> list[str]:
    from orders.services.holds import order_hold_place

    hold = order_hold_place(
        order=order,
        reason=job.parameters["reason"],
        note=job.parameters.get("note", ""),
        user=job.created_by,
        actor=_bulk_actor(job),
    )
    return [order.number, "done", f"hold {hold.pk} placed"]


def _active_holds(*, job: BulkJob, order: Order) -> list[Hold]:
    holds = Hold.objects.filter(order=order, released_at__isnull=True).order_by("pk")
    if job.parameters.get("reason"):
        holds = holds.filter(reason=job.parameters["reason"])
    return list(holds)


def _no_active_hold(*, job: BulkJob, order: Order) -> Conflict:
    reason = job.parameters.get("reason")
    which = f"{Hold.Reason(reason).label.lower()} hold" if reason else "hold"
    return Conflict(
        f"Order {order.number} has no active {which}.", code=error_codes.BULK_NO_ACTIVE_HOLD
    )


def _each_active_hold(*, job: BulkJob, order: Order, apply: Callable[[Hold], object]) -> str:
    """Apply to every active hold the job selects, all or none; the hold ids, for the report.

    All of an order's holds or none: a half-released order would be neither held for the
    reason still active nor on its way.
    """
    with transaction.atomic():
        holds = _active_holds(job=job, order=order)
        if not holds:
            raise _no_active_hold(job=job, order=order)
        for hold in holds:
            apply(hold)
    return f"hold{pluralize(len(holds))} {', '.join(str(hold.pk) for hold in holds)}"


def _bulk_release_one(*, job: BulkJob, order: Order) -> list[str]:
    from orders.services.holds import order_hold_release

    note = job.parameters.get("note", "")
    released = _each_active_hold(
        job=job,
        order=order,
        apply=lambda hold: order_hold_release(
            hold=hold, note=note, user=job.created_by, actor=_bulk_actor(job)
        ),
    )
    return [order.number, "done", f"{released} released"]


def _bulk_assign_one(*, job: BulkJob, order: Order) -> list[str]:
    from django.contrib.auth import get_user_model

    from orders.services.holds import order_hold_assign

    owner = get_user_model().objects.get(pk=job.parameters["owner_id"])
    assigned = _each_active_hold(
        job=job,
        order=order,
        apply=lambda hold: order_hold_assign(
            hold=hold, owner=owner, user=job.created_by, actor=_bulk_actor(job)
        ),
    )
    return [order.number, "done", f"{assigned} owned by {owner}"]


def _bulk_reroute_one(*, job: BulkJob, order: Order) -> list[str]:
    from orders.services.reroute import order_reroute

    outcome = order_reroute(
        order=order,
        reason=job.parameters["reason"],
        exclude_sites=job.parameters.get("exclude_sites", []),
        user=job.created_by,
        actor=_bulk_actor(job),
    )
    before = ", ".join(outcome.before_sites) or "no site"
    after = ", ".join(outcome.after_sites) or "no site (waiting for stock)"
    return [
        order.number,
        "rerouted",
        f"{before} → {after}; now {outcome.order.get_status_display().lower()}",
    ]


def _export_one(*, job: BulkJob, order: Order) -> list:
    return [
        order.number,
        order.status,
        order.channel.code,
        order.external_reference,
        order.customer_name,
        order.customer_email,
        order.shipping_postcode,
        order.shipping_country,
        order.placed_at.isoformat(),
        str(order.total_amount),
        order.currency,
    ]


class _RowHandler(Protocol):
    def __call__(self, *, job: BulkJob, order: Order) -> list[Any]: ...


# Keyed by BulkJob.kind, which the model field gives as a plain str.
_HANDLERS: dict[str, _RowHandler] = {
    BulkJob.Kind.BULK_HOLD: _bulk_hold_one,
    BulkJob.Kind.BULK_RELEASE: _bulk_release_one,
    BulkJob.Kind.BULK_ASSIGN: _bulk_assign_one,
    BulkJob.Kind.ORDER_EXPORT: _export_one,
    BulkJob.Kind.BULK_REROUTE: _bulk_reroute_one,
}
# The outcome word of an order the service refused, where "failed" would mislead: a
# re-route refused for a shipment the provider may hold is the rule working.
_REFUSED: dict[str, str] = {BulkJob.Kind.BULK_REROUTE: "refused"}
RESULT_HEADERS: dict[str, list[str]] = {
    BulkJob.Kind.BULK_HOLD: ["order", "outcome", "detail"],
    BulkJob.Kind.BULK_RELEASE: ["order", "outcome", "detail"],
    BulkJob.Kind.BULK_ASSIGN: ["order", "outcome", "detail"],
    BulkJob.Kind.BULK_REROUTE: ["order", "outcome", "detail"],
    BulkJob.Kind.ORDER_EXPORT: [
        "order",
        "status",
        "channel",
        "external_reference",
        "customer_name",
        "customer_email",
        "shipping_postcode",
        "shipping_country",
        "placed_at",
        "total",
        "currency",
    ],
}


NOT_FOUND = "not_found"
DUPLICATE = "duplicate"
PENDING = "pending"


def bulk_job_result_rows(*, job: BulkJob) -> list[list[str]]:
    """The header, then one row per order; for typed numbers one row per input line.

    A typed list is reported line by line in input order: an order's own row, a line
    naming no order as `not_found` with why, a repeat of an earlier line as `duplicate`.
    """
    entries = job.parameters.get("entries")
    if entries is None:
        return [RESULT_HEADERS[job.kind], *job.results]
    width = len(RESULT_HEADERS[job.kind])
    by_number = {row[0]: row for row in job.results}
    unrecognised = dict(job.parameters.get("unrecognised", []))
    first_line: dict[str, int] = {}
    rows = [RESULT_HEADERS[job.kind]]
    for line, entry in enumerate(entries, start=1):
        number = entry.upper()
        if entry in unrecognised:
            rows.append(_padded([entry, NOT_FOUND, unrecognised[entry]], width))
        elif number in first_line:
            rows.append(
                _padded([entry, DUPLICATE, f"same order as line {first_line[number]}"], width)
            )
        else:
            first_line[number] = line
            rows.append(by_number.get(number) or _padded([entry, PENDING, ""], width))
    # Orders no longer existing when the job ran are reported by id ("#123").
    rows.extend(row for row in job.results if row[0].startswith("#"))
    return rows


def _padded(row: list[str], width: int) -> list[str]:
    return row + [""] * (width - len(row))
