"""Celery tasks: thin wrappers over routing services. Safe to run twice (and at once)."""

from __future__ import annotations

from celery import shared_task

from core.errors import NotFound
from routing.services.whatif import whatif_execute

# A what-if is long (a million orders: minutes) but starts over cleanly, so a worker
# lost mid-run gives the message back (acks_late) and the next one redoes it.
TASK_OPTIONS = {"acks_late": True, "reject_on_worker_lost": True, "ignore_result": True}


@shared_task(**TASK_OPTIONS)
def whatif_run_task(*, run_id: int) -> str:
    try:
        return whatif_execute(run_id=run_id).status
    except NotFound:
        return "deleted"  # deleted before or while it ran: nothing to do
