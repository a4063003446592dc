"""The worker retries a lost broker at a short, capped interval (core/broker_reconnect.py)."""

from __future__ import annotations

import pytest
from kombu.exceptions import OperationalError

from config.celery import app
from core.broker_reconnect import BrokerConnection
from tests.logistics.processes import free_port


def test_the_workers_connections_use_the_capped_reconnect():
    with app.connection_for_read() as connection:
        assert isinstance(connection, BrokerConnection)


def test_retries_to_a_dead_broker_wait_at_most_the_ceiling(settings):
    """kombu's own back-off would wait 2, 4, 6, 8 s; ours never longer than the ceiling."""
    settings.BROKER_RECONNECT_MAX_SECONDS = 1.0
    waits: list[float] = []
    nobody_listens = f"redis://127.0.0.1:{free_port()}/0"
    connection = BrokerConnection(nobody_listens, transport="core.broker_redis:Transport")
    with connection, pytest.raises(OperationalError):
        # What Celery's consumer calls after "Connection to broker lost".
        connection.ensure_connection(lambda exc, interval: waits.append(interval), 4)
    assert waits == [0.5, 1.0, 1.0, 1.0]
