"""Long back-office actions: a BulkJob row, a Celery task that works through it, progress."""

from __future__ import annotations

import logging
from functools import partial

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from backoffice import error_codes
from backoffice.models import BulkJob
from core.errors import DomainError, ValidationFailed
from orders.models import Order

logger = logging.getLogger(__name__)

BULK_JOB_MAX_ORDERS = 5000
# Progress is saved after every batch: often enough for a smooth bar, rarely
# enough that the bookkeeping costs little next to the work.
PROGRESS_BATCH = 20


@transaction.atomic
def bulk_hold_job_create(*, user, order_ids: list[int], reason: str, note: str = "") -> BulkJob:
    """Record a bulk hold over `order_ids` and enqueue it once the transaction commits.

    Raises ValidationFailed for an empty or oversized selection.
    """
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
        kind=BulkJob.Kind.BULK_HOLD,
        created_by=user,
        parameters={"reason": reason, "note": note},
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
            orders = Order.objects.in_bulk(batch)
            succeeded = failed = 0
            for order_id in batch:
                order = orders.get(order_id)
                if order is None:
                    results.append([f"#{order_id}", "failed", "order no longer exists"])
                    failed += 1
                    continue
                try:
                    detail = handler(job=job, order=order)
                except DomainError as exc:
                    results.append([order.number, "failed", exc.detail])
                    failed += 1
                else:
                    results.append([order.number, "done", detail])
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
    BulkJob.objects.filter(pk=job.pk).update(status=BulkJob.Status.DONE, finished_at=timezone.now())
    job.refresh_from_db()
    return job


def _bulk_hold_one(*, job: BulkJob, order: Order) -> str:
    from orders.services.desk import order_hold_place

    hold = order_hold_place(
        order=order,
        reason=job.parameters["reason"],
        note=job.parameters.get("note", ""),
        user=job.created_by,
        actor=f"user:{job.created_by.get_username()} (bulk job {job.pk})",
    )
    return f"hold {hold.pk} placed"


_HANDLERS = {BulkJob.Kind.BULK_HOLD: _bulk_hold_one}


def bulk_job_result_rows(*, job: BulkJob) -> list[list[str]]:
    return [["order", "outcome", "detail"], *job.results]
