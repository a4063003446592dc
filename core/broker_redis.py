"""kombu's Redis transport, hardened against the broker going away under a busy worker.

Root cause of the worker that died when Redis stopped (issue 15; kombu 5.7.0, celery
5.7.0, redis-py 8.1.0; reproduced by `tests/core/test_broker_redis.py`):

1. An idle-ish worker always has a BRPOP in flight on its task channel, and with
   `acks_late` the channel's QoS holds the messages of the tasks that are running.
2. The broker goes away. Celery's consumer calls `connection.collect()`, which closes
   the task channel first. `Channel.close()` starts by reading the pending BRPOP reply;
   that read raises `ConnectionError` *before* the channel is marked closed, and
   `maybe_close_channel` swallows it.
3. `collect()` goes on to close the other channels. The remote-control (pidbox)
   channel's close deletes its fanout binding in Redis, raises `ConnectionError`
   too, and aborts that loop. `collect()` then detaches the transport from the
   connection (`transport.client = None`).
4. Celery 5.7 then also calls `connection.close()`, which closes the task channel a
   second time. Now the close gets past the BRPOP read and tries to put the unacked
   messages back (`restore_unacked`), for which it builds a new Redis pool from
   `self.connection.client` -- which is None. The `AttributeError` is not a
   connection error, so it escapes every handler and Celery reports
   "Unrecoverable error" and exits.

It only bites when a BRPOP is in flight *and* tasks are running when the broker
drops, which is why the drill passed on most runs. Two changes make each step safe:

- `Channel.close` treats a connection error while reading the in-flight BRPOP as
  "nothing to read", so the first close completes (step 2 no longer leaves a
  half-closed channel behind).
- `Channel._connparams` raises a connection error, not `AttributeError`, once the
  channel's connection has been detached, so any late use of a dead channel is
  handled as what it is: the broker is gone.

Unacked messages that could not be restored while Redis was down stay in Redis'
`unacked` hash and are restored by kombu's visibility-timeout sweep; the outbox and
webhook sweepers re-enqueue the work long before that (docs/operations.md).

Used for `redis://` and `rediss://` broker URLs via `CELERY_BROKER_TRANSPORT`
(config/settings.py); docs/decisions/0007-broker-outage.md has the upstream report.
"""

from __future__ import annotations

from typing import Any

from kombu.transport import redis as kombu_redis
from kombu.transport.virtual import Empty
from redis import exceptions as redis_exceptions


class BrokerDetached(redis_exceptions.ConnectionError):
    """The channel outlived its connection: the broker connection was already collected."""


class Channel(kombu_redis.Channel):
    def close(self) -> None:
        if self._in_poll:
            try:
                self._brpop_read()
            except Empty:
                pass
            except self.connection_errors:
                # The socket is gone, so there is no reply to read; kombu's own close
                # would re-raise here and leave the channel half closed.
                pass
        super().close()

    def _connparams(self, asynchronous: bool = False) -> dict[str, Any]:
        if self.connection is None or self.connection.client is None:
            raise BrokerDetached("the broker connection of this channel was closed")
        params: dict[str, Any] = super()._connparams(asynchronous=asynchronous)
        return params


class Transport(kombu_redis.Transport):
    Channel = Channel
