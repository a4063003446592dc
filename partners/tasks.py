from celery import shared_task

from partners.services import idempotency_records_purge


@shared_task(acks_late=True, reject_on_worker_lost=True)
def idempotency_records_purge_task() -> int:
    """Delete Idempotency-Key records past their retention. Safe to run twice."""
    return idempotency_records_purge()
