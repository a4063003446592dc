"""How many messages wait in a Celery queue (used by the sweepers).

A sweeper cannot tell a task message that is merely queued from one that was lost.
It therefore only re-enqueues overdue work when the queue it feeds is drained: a
lost message (broker restart, a worker SIGKILLed with messages in hand) shows up as
overdue work with an empty queue. Re-enqueuing while a backlog drains would only
pile duplicates onto it.
"""

from __future__ import annotations

import logging

from celery import current_app
from kombu.exceptions import ChannelError

logger = logging.getLogger(__name__)


def queue_backlog(queue: str) -> int:
    """Messages ready in `queue`; 0 when the broker cannot say (then sweeping proceeds)."""
    # The app this process runs (config.celery's): logistics does not import config.
    app = current_app
    if app.conf.task_always_eager:
        return 0
    try:
        with app.connection_for_read() as connection:
            _, count, _ = connection.default_channel.queue_declare(queue=queue, passive=True)
            return int(count)
    except ChannelError as exc:
        # Redis keeps no empty queue: one nobody has published to since the broker
        # started is "not found", which means empty, not an error worth a traceback.
        if str(getattr(exc, "reply_code", "")) == "404":
            return 0
        logger.warning("Could not read the length of queue %s", queue, exc_info=True)
        return 0
    except Exception:  # the broker being down must not stop the sweep itself
        logger.warning("Could not read the length of queue %s", queue, exc_info=True)
        return 0
