"""Pricing a provider's shipments again when its cards change.

Activating a card (or retiring one) changes which card is in force on the days it
covers. Shipments already priced in that period are priced again, in batches of
BATCH shipments, each batch its own transaction, so the job's progress shows and a
lost worker resumes where it stopped (`position`, the last shipment id priced).

A shipment belongs to the period by the day its price is read on: the dispatch day
for a dispatched one, else the day it was planned (economics.services.expected_cost).
"""

from __future__ import annotations

import datetime as dt
from functools import partial

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from economics.models import RateCard, RepricingJob
from economics.services.expected_cost import shipments_price
from logistics.models import Shipment

BATCH = 500


def _day_start(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC)


def _in_period(job: RepricingJob) -> QuerySet[Shipment]:
    start = _day_start(job.period_start)
    dispatched = Q(dispatched_at__gte=start)
    planned = Q(dispatched_at__isnull=True, created_at__gte=start)
    if job.period_end is not None:
        end = _day_start(job.period_end)
        dispatched &= Q(dispatched_at__lt=end)
        planned &= Q(created_at__lt=end)
    return Shipment.objects.filter(
        provider_id=job.provider_id, direction=Shipment.Direction.OUTBOUND
    ).filter(dispatched | planned)


def repricing_job_create(*, card: RateCard, reason: str) -> RepricingJob:
    """Queue re-pricing of the card's provider over the card's period (after commit)."""
    from economics.tasks import repricing_job_task

    job = RepricingJob.objects.create(
        provider_id=card.provider_id,
        card=card,
        reason=reason[:200],
        period_start=card.valid_from,
        period_end=card.valid_to,
    )
    job.total = _in_period(job).count()
    job.save(update_fields=["total", "updated_at"])
    transaction.on_commit(partial(repricing_job_task.delay, job_id=job.pk))
    return job


def repricing_job_run(*, job_id: int, batch: int = BATCH) -> RepricingJob | None:
    """Price the job's shipments batch by batch; None when another worker runs it or it is done."""
    while True:
        with transaction.atomic():
            job = RepricingJob.objects.select_for_update(skip_locked=True).filter(pk=job_id).first()
            if job is None or job.status == RepricingJob.Status.DONE:
                return job
            ids = list(
                _in_period(job)
                .filter(pk__gt=job.position)
                .order_by("pk")
                .values_list("pk", flat=True)[:batch]
            )
            shipments_price(shipment_ids=ids)
            job.status = RepricingJob.Status.RUNNING
            job.processed = min(job.total, job.processed + len(ids))
            if ids:
                job.position = ids[-1]
            if len(ids) < batch:
                job.status = RepricingJob.Status.DONE
                job.processed = job.total
                job.finished_at = timezone.now()
            job.save(update_fields=["status", "processed", "position", "finished_at", "updated_at"])
            if job.status == RepricingJob.Status.DONE:
                return job
