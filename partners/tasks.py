from celery import shared_task

from partners.services import idempotency_records_purge


@shared_task(acks_late=True, reject_on_worker_lost=True)
def idempotency_records_purge_task() -> int:
    """Delete Idempotency-Key records past their retention. Safe to run twice."""
    return idempotency_records_purge()


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def connectors_run_due_task() -> int:
    """Beat: one run task per connector that may run now (backoff and breaker allow it)."""
    from partners.connector_services import connectors_due

    due = connectors_due()
    for connector_id in due:
        connector_run_task.delay(connector_id=connector_id)
    return len(due)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def connector_run_task(*, connector_id: int, force: bool = False) -> dict:
    """One connector run (a lease keeps a second copy of this task from running it too)."""
    from partners.connector_services import connector_run

    return connector_run(connector_id=connector_id, force=force).as_dict()


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def order_import_job_run_task(*, job_id: int) -> str:
    """Run one CSV order import job (a job already started or finished is left alone)."""
    from partners.models import OrderImportJob
    from partners.order_import import order_import_job_run

    job = OrderImportJob.objects.filter(pk=job_id).first()
    if job is None:
        return "missing"
    return order_import_job_run(job=job).status
