from celery import shared_task

from backoffice.services import bulk_job_run


@shared_task(acks_late=True, reject_on_worker_lost=True)
def bulk_job_run_task(*, job_id: int) -> int:
    """Thin wrapper: resumes at the job's saved progress, so a redelivery is harmless."""
    return bulk_job_run(job_id=job_id).processed
