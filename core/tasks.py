"""The base class of every Celery task: caps redeliveries of a poison message.

With `acks_late` + `reject_on_worker_lost`, a task that kills its worker (a
segfault, the OOM killer, an infinite loop ended by a supervisor) is redelivered
forever. Celery has no broker-independent redelivery counter, so we keep one in
Redis, keyed by task id *and* retry number: a retry (`self.retry`) is a new,
legitimate delivery, but the same (id, retries) pair arriving again means the
previous delivery never finished. After CELERY_MAX_DELIVERIES such deliveries
the message is acknowledged without running and a security/ops log line says so;
the sweepers (outbox rows) remain the source of truth for durable work.
"""

from __future__ import annotations

import logging
from functools import partial
from typing import TYPE_CHECKING, Any

from celery import Task
from django.conf import settings

from core.db_retry import db_retry
from core.redis_client import redis_client

if TYPE_CHECKING:
    from celery.result import AsyncResult

logger = logging.getLogger("consign.tasks")

_KEY = "consign:deliveries:{task_id}:{retries}"


def delivery_count(*, task_id: str, retries: int) -> int:
    """Count one more delivery of (task_id, retries) and return the total so far.

    Returns 0 when Redis cannot be reached (then the broker is down too and the
    task cannot have been delivered by it; eager tasks are never counted).
    """
    key = _KEY.format(task_id=task_id, retries=retries)
    try:
        client = redis_client(settings.CELERY_BROKER_URL, timeout=2)
        pipe = client.pipeline()
        pipe.incr(key)
        # Outlive the visibility timeout, so the redelivery still finds the count.
        pipe.expire(key, int(settings.CELERY_VISIBILITY_TIMEOUT_SECONDS * 3))
        count, _ = pipe.execute()
    except Exception:  # the guard must never be the reason a task fails
        logger.warning("delivery counter unavailable for task %s", task_id, exc_info=True)
        return 0
    return int(count)


class GuardedTask(Task):
    """Runs the task unless this exact delivery was already attempted too often."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:  # a task returns what its body does
        request = self.request
        if request.id and not request.is_eager and request.delivery_info is not None:
            count = delivery_count(task_id=request.id, retries=request.retries or 0)
            if count > settings.CELERY_MAX_DELIVERIES:
                logger.error(
                    "poison task dropped: %s id=%s retries=%s deliveries=%s",
                    self.name,
                    request.id,
                    request.retries,
                    count,
                )
                return None
        # Tasks run their own transactions: a deadlock or serialization failure reruns
        # the task body a few times before it counts as a failure.
        return db_retry(partial(Task.__call__, self, *args, **kwargs))

    def apply_async(self, *args: Any, **kwargs: Any) -> AsyncResult | None:
        """Publish, or log and return None when the broker is unreachable.

        Work is published after its transaction committed (on_commit), so raising here
        cannot undo anything: it would only turn the caller's 201 into a 500 while the
        row exists. Durable work sits in Postgres (outbox rows, stored webhooks, jobs)
        and the sweepers enqueue it again once the broker is back.
        """
        from kombu.exceptions import OperationalError as BrokerError

        try:
            return super().apply_async(*args, **kwargs)
        except BrokerError:
            logger.error("broker unavailable: %s not enqueued (the sweeper will retry)", self.name)
            return None
