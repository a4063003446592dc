"""Celery tasks of the returns app: thin wrappers over returns.services, safe to run twice."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from logistics.services.dispatch import backoff_seconds
from returns import services


@shared_task(
    bind=True, max_retries=None, acks_late=True, reject_on_worker_lost=True, ignore_result=True
)
def return_label_task(self, *, return_id: int) -> str:
    result = services.return_label_issue(return_id=return_id)
    if result.outcome == "retry":
        attempts = self.request.retries + 1
        raise self.retry(
            countdown=backoff_seconds(
                attempt=attempts,
                base=settings.DISPATCH_RETRY_BASE_SECONDS,
                cap=settings.DISPATCH_RETRY_MAX_SECONDS,
            )
        )
    return result.outcome


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def return_labels_sweep_task() -> int:
    return services.return_labels_sweep()
