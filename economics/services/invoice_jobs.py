"""Invoice imports started from the ops screens: a job row, a worker, a progress bar.

The import itself is one transaction (economics.services.invoice_import), so its
progress cannot be read from the database while it runs; the worker writes it to the
cache (core/cache.py: a Redis outage only hides the bar). The job row says queued,
running, done (with the invoice) or failed (with the reason and any unreadable lines).
"""

from __future__ import annotations

import datetime as dt
from functools import partial

from django.contrib.auth.models import User
from django.core.cache import cache
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone

from core.errors import DomainError, NotFound, ValidationFailed
from economics.models import InvoiceImportJob, InvoiceProfile
from economics.services.invoice_import import lsp_invoice_import
from logistics.models import Provider

MAX_BYTES = 50 * 1024 * 1024
# A job still "running" this long after it started lost its worker: it may run again.
STALE_AFTER = dt.timedelta(minutes=30)


def _progress_key(job: InvoiceImportJob) -> str:
    # The creation time too: ids start again in a fresh database, the cache does not.
    return f"economics:invoice-job:{job.pk}:{job.created_at.timestamp()}:progress"


def invoice_import_job_create(
    *, provider_code: str, profile_name: str, file: UploadedFile[bytes], user: User
) -> InvoiceImportJob:
    """Store the uploaded file and queue its import (after commit)."""
    from economics.tasks import invoice_import_job_task

    provider = Provider.objects.filter(code=provider_code).first()
    if provider is None:
        raise NotFound(f"There is no provider {provider_code!r}.")
    if (
        profile_name
        and not InvoiceProfile.objects.filter(provider=provider, name=profile_name).exists()
    ):
        raise ValidationFailed(
            f"Provider {provider_code} has no invoice profile {profile_name!r}.",
            errors=[{"field": "profile", "message": "unknown profile"}],
        )
    if file.size is not None and file.size > MAX_BYTES:
        raise ValidationFailed(
            f"The file is larger than {MAX_BYTES // (1024 * 1024)} MB.",
            errors=[{"field": "file", "message": "too large"}],
        )
    job = InvoiceImportJob.objects.create(
        provider=provider, profile_name=profile_name, file=file, created_by=user
    )
    transaction.on_commit(partial(invoice_import_job_task.delay, job_id=job.pk))
    return job


def _claimed(job_id: int) -> InvoiceImportJob | None:
    with transaction.atomic():
        job = (
            InvoiceImportJob.objects.select_for_update(skip_locked=True)
            .select_related("provider")
            .filter(pk=job_id)
            .first()
        )
        if job is None or job.status in {job.Status.DONE, job.Status.FAILED}:
            return None
        fresh_run = job.started_at and timezone.now() - job.started_at < STALE_AFTER
        if job.status == job.Status.RUNNING and fresh_run:
            return None  # another worker has it
        job.status = job.Status.RUNNING
        job.started_at = timezone.now()
        job.save(update_fields=["status", "started_at", "updated_at"])
        return job


def invoice_import_job_run(*, job_id: int) -> InvoiceImportJob | None:
    """Run the job's import (no-op if it is finished or another worker runs it)."""
    job = _claimed(job_id)
    if job is None:
        return None
    key = _progress_key(job)

    def progress(done: int, total: int) -> None:
        cache.set(key, (done, total), timeout=3600)

    try:
        with job.file.open("rb") as handle:
            text = handle.read().decode("utf-8-sig")
        invoice = lsp_invoice_import(
            provider_code=job.provider.code,
            text=text,
            profile_name=job.profile_name or None,
            source_name=(job.file.name or "").rsplit("/", 1)[-1],
            actor=job.created_by.get_username(),
            progress=progress,
        )
    except DomainError as exc:
        _failed(job, exc.detail, exc.errors[:500] if isinstance(exc, ValidationFailed) else [])
    except UnicodeDecodeError:
        _failed(job, "The file is not UTF-8 text.")
    except OSError as exc:
        _failed(job, f"The uploaded file cannot be read ({exc.strerror}); upload it again.")
    except Exception:
        # A bug: the job must not say "running" for ever; the worker logs the traceback.
        _failed(job, "The import failed unexpectedly; the operations team has the details.")
        raise
    else:
        job.status = job.Status.DONE
        job.invoice = invoice
        job.total = invoice.summary["lines"]
        _finished(job)
    return job


def _failed(job: InvoiceImportJob, error: str, errors: list[dict[str, str]] | None = None) -> None:
    job.status = job.Status.FAILED
    job.error = error
    job.errors = errors or []
    _finished(job)


def _finished(job: InvoiceImportJob) -> None:
    job.finished_at = timezone.now()
    job.save(
        update_fields=["status", "error", "errors", "invoice", "total", "finished_at", "updated_at"]
    )


def invoice_import_job_progress(*, job: InvoiceImportJob) -> tuple[int, int]:
    """(lines reconciled, lines in all) as far as is known."""
    if job.status == job.Status.DONE:
        return job.total, job.total
    if job.status != job.Status.RUNNING:
        return 0, 0
    found = cache.get(_progress_key(job))
    if not found:
        return 0, 0
    done, total = found
    return int(done), int(total)
