"""Inventory worker tasks: thin wrappers over services, safe to run twice."""

from __future__ import annotations

from celery import shared_task


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def import_job_run_task(*, job_id: int) -> str:
    """Run one CSV import job (a job already started or finished is left alone)."""
    from inventory.models import ImportJob
    from inventory.services.imports import import_job_run

    job = ImportJob.objects.filter(pk=job_id).first()
    if job is None:
        return "missing"
    return import_job_run(job=job).status
