"""The broker transport survives the race that killed the worker when Redis stopped.

The sequence is Celery's own (consumer.on_connection_error_after_connected):
`connection.collect()` and then `connection.close()`, run against a Redis that has
just gone away, while the task channel has a BRPOP in flight and an unacked message,
and a second channel holds a fanout binding (the remote-control channel).
core/broker_redis.py explains each step.
"""

from __future__ import annotations

import time

import pytest
import redis
from kombu import Connection, Consumer, Exchange, Queue

from scripts import devservices
from tests.logistics.processes import free_port


@pytest.fixture
def private_redis(tmp_path):
    port = free_port()
    devservices.redis_up(port=port, directory=tmp_path / "redis")
    yield port
    devservices.redis_down(port=port, directory=tmp_path / "redis")


def _busy_channel_when_redis_stops(port: int, tmp_path, transport: str | None) -> Connection:
    """A connection in the state the worker's was in when Redis stopped."""
    connection = Connection(f"redis://127.0.0.1:{port}/0", transport=transport)
    queue = Queue("outage-test")
    with connection.Producer() as producer:
        for number in range(3):
            producer.publish({"n": number}, routing_key=queue.name, declare=[queue])
    delivered = []
    channel = connection.default_channel
    channel.basic_qos(prefetch_count=1)
    Consumer(channel, [queue], callbacks=[lambda body, msg: delivered.append(msg)]).consume()
    connection.drain_events(timeout=5)
    assert len(delivered) == 1, "one task running, not acknowledged yet (acks_late)"
    control = connection.channel()
    fanout = Queue("outage-test.pidbox", Exchange("outage-test", type="fanout"), auto_delete=True)
    Consumer(control, [fanout], no_ack=True).consume()
    channel._brpop_start()  # the worker is waiting for its next task
    assert channel._in_poll
    devservices.redis_down(port=port, directory=tmp_path / "redis")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            redis.Redis(port=port, socket_connect_timeout=0.2).ping()
        except redis.ConnectionError:
            return connection
        time.sleep(0.05)
    raise AssertionError("Redis did not stop")


def test_stock_kombu_transport_raises_the_workers_fatal_error(private_redis, tmp_path):
    """The reproduction: this is the AttributeError that stopped the worker.

    If an upgrade of kombu makes this test fail, the upstream bug is fixed and
    core/broker_redis.py can go (see docs/decisions/0007-broker-outage.md).
    """
    connection = _busy_channel_when_redis_stops(private_redis, tmp_path, transport=None)
    connection.collect(socket_timeout=0.1)
    with pytest.raises(AttributeError, match="hostname"):
        connection.close()


def test_hardened_transport_closes_cleanly_after_the_broker_is_gone(private_redis, tmp_path):
    transport = "core.broker_redis:Transport"
    connection = _busy_channel_when_redis_stops(private_redis, tmp_path, transport=transport)
    channel = connection.default_channel
    connection.collect(socket_timeout=0.1)
    connection.close()  # must not raise
    assert channel.closed


def test_a_detached_channel_reports_a_connection_error(private_redis, tmp_path):
    from core.broker_redis import BrokerDetached

    connection = Connection(
        f"redis://127.0.0.1:{private_redis}/0", transport="core.broker_redis:Transport"
    )
    channel = connection.channel()
    connection.collect()
    assert isinstance(BrokerDetached("x"), connection.connection_errors)
    with pytest.raises(BrokerDetached):
        channel._connparams()


def test_settings_use_the_hardened_transport_for_redis(settings):
    assert settings.CELERY_BROKER_URL.startswith("redis")
    assert settings.CELERY_BROKER_TRANSPORT == "core.broker_redis:Transport"
    from config.celery import app

    with app.connection_for_write() as connection:
        assert type(connection.transport).__module__ == "core.broker_redis"
