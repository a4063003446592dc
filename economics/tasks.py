"""Celery tasks: thin wrappers over economics services. Safe to run twice (and at once)."""

from __future__ import annotations

from celery import shared_task

from economics.services.expected_cost import expected_costs_sweep
from economics.services.invoice_jobs import invoice_import_job_run
from economics.services.repricing import repricing_job_run
from economics.services.scorecard import provider_days_refresh
from economics.services.storage import storage_accrue_yesterday

TASK_OPTIONS = {"acks_late": True, "reject_on_worker_lost": True, "ignore_result": True}


@shared_task(**TASK_OPTIONS)
def expected_costs_sweep_task() -> int:
    return expected_costs_sweep()


@shared_task(**TASK_OPTIONS)
def invoice_import_job_task(*, job_id: int) -> str:
    job = invoice_import_job_run(job_id=job_id)
    return job.status if job else "skipped"


@shared_task(**TASK_OPTIONS)
def storage_accrue_task() -> int:
    return storage_accrue_yesterday()


@shared_task(**TASK_OPTIONS)
def repricing_job_task(*, job_id: int) -> str:
    job = repricing_job_run(job_id=job_id)
    return job.status if job else "skipped"


@shared_task(**TASK_OPTIONS)
def provider_days_refresh_task() -> int:
    return provider_days_refresh()
