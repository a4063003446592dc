"""Which queues a live worker consumes: a heartbeat per worker and queue, kept in Redis.

A Celery worker that died, or that is stuck reconnecting, consumes nothing while the
web tier keeps accepting work into the outbox; nothing in the web process would
notice. Each worker's consumer therefore stamps, every WORKER_HEARTBEAT_SECONDS, the
time into one sorted set per queue it consumes (member: the worker's hostname). The
stamp is written from the consumer's own event loop, so it stops when that loop stops
(process dead, hung, or disconnected from the broker). /readyz reads the sets and
names each queue that no worker stamped within three intervals.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from celery import bootsteps
from django.conf import settings

from core.redis_client import redis_client

if TYPE_CHECKING:
    import redis

logger = logging.getLogger("consign.worker_health")

KEY = "consign:queue-consumers:{queue}"


def _client() -> redis.Redis:
    return redis_client(settings.REDIS_URL, timeout=1, connect_timeout=1)


def _stale_after() -> float:
    return float(settings.WORKER_HEARTBEAT_SECONDS * 3)


def heartbeat_record(*, hostname: str, queues: list[str], now: float | None = None) -> None:
    """Stamp `hostname` as a live consumer of each queue; old stamps are trimmed."""
    now = time.time() if now is None else now
    pipe = _client().pipeline(transaction=False)
    for queue in queues:
        key = KEY.format(queue=queue)
        pipe.zadd(key, {hostname: now})
        pipe.zremrangebyscore(key, "-inf", now - _stale_after() * 10)
        pipe.expire(key, int(_stale_after() * 10) + 1)
    pipe.execute()


def heartbeat_clear(*, hostname: str, queues: list[str]) -> None:
    """Remove `hostname` at a clean shutdown, so its queues show unconsumed at once."""
    pipe = _client().pipeline(transaction=False)
    for queue in queues:
        pipe.zrem(KEY.format(queue=queue), hostname)
    pipe.execute()


def queue_consumers(*, now: float | None = None) -> dict[str, list[str]]:
    """Live consumers of each of WORKER_QUEUES: {queue: [hostname, ...]}.

    Raises if Redis is unreachable.
    """
    now = time.time() if now is None else now
    queues = settings.WORKER_QUEUES
    pipe = _client().pipeline(transaction=False)
    for queue in queues:
        pipe.zrangebyscore(KEY.format(queue=queue), now - _stale_after(), "+inf")
    found = pipe.execute()
    return {
        queue: sorted(member.decode() for member in members)
        for queue, members in zip(queues, found, strict=True)
    }


class QueueHeartbeat(bootsteps.StartStopStep):
    """Consumer bootstep: stamps the worker's queues while its consumer is connected.

    Celery stops and restarts consumer steps around a broker reconnect, so the stamps
    pause while the worker cannot consume.
    """

    requires = ("celery.worker.consumer.tasks:Tasks",)

    # Celery ships no types: the consumer (`parent`) and its timer entry are Any here.
    def __init__(self, parent: Any, **kwargs: Any) -> None:
        self.timer_ref: Any = None
        self.queues: list[str] = []
        super().__init__(parent, **kwargs)

    def start(self, parent: Any) -> None:
        self.queues = [queue.name for queue in parent.task_consumer.queues]
        self.beat(parent)
        self.timer_ref = parent.timer.call_repeatedly(
            settings.WORKER_HEARTBEAT_SECONDS, self.beat, (parent,), priority=10
        )

    def beat(self, parent: Any) -> None:
        try:
            heartbeat_record(hostname=parent.hostname, queues=self.queues)
        except Exception as exc:  # a missed stamp must never harm the worker
            logger.warning("worker heartbeat not recorded: %s", exc)

    def stop(self, parent: Any) -> None:
        if self.timer_ref is not None:
            self.timer_ref.cancel()
            self.timer_ref = None

    def shutdown(self, parent: Any) -> None:
        self.stop(parent)
        try:
            heartbeat_clear(hostname=parent.hostname, queues=self.queues)
        except Exception as exc:
            logger.warning("worker heartbeat not cleared: %s", exc)
