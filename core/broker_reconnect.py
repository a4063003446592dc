"""How fast a worker gets back to the broker after an outage.

Celery's consumer, after "Connection to broker lost", calls kombu's
`Connection.ensure_connection` without intervals, so kombu's defaults apply: sleep 2 s,
then 4, 6, 8 ... up to 30 s between attempts. A worker therefore sat idle for up to
half a minute after Redis was back (the Redis drill drained 37-78 s after a 60 s
outage; the broker-outage test spent about 6 s per 5-8 s outage on the back-off alone).

Here the worker retries every BROKER_RECONNECT_MAX_SECONDS at most (0.5 s, then 1 s,
... up to that ceiling). One connection attempt a second per worker process is nothing
to a broker; an outage of any length now costs at most that ceiling beyond its end.
Producers (web requests, on-commit enqueues) keep their own, shorter publish retry
policy; only the consumer's reconnect loop takes these defaults.
"""

from __future__ import annotations

from typing import Any

from celery.app.amqp import AMQP as CeleryAMQP
from django.conf import settings
from kombu import Connection


class BrokerConnection(Connection):
    def ensure_connection(self, *args: Any, **kwargs: Any) -> Any:  # kombu: untyped
        ceiling = float(getattr(settings, "BROKER_RECONNECT_MAX_SECONDS", 2.0))
        kwargs.setdefault("interval_start", min(0.5, ceiling))
        kwargs.setdefault("interval_step", 0.5)
        kwargs.setdefault("interval_max", ceiling)
        return super().ensure_connection(*args, **kwargs)


class AMQP(CeleryAMQP):
    """Celery's AMQP helper with our connection class (config/celery.py)."""

    Connection = BrokerConnection
