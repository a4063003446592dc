import pytest

from config.celery import app
from logistics import broker


@pytest.mark.integration
def test_queue_backlog_counts_ready_messages_in_redis():
    queue = "logistics-test-backlog"
    with app.connection_for_write() as connection:
        channel = connection.default_channel
        channel.queue_declare(queue=queue)
        channel.queue_purge(queue)
        with app.producer_or_acquire() as producer:
            for _ in range(3):
                producer.publish({"x": 1}, routing_key=queue, exchange="")
    try:
        assert broker.queue_backlog(queue) == 3
    finally:
        with app.connection_for_write() as connection:
            connection.default_channel.queue_purge(queue)


@pytest.mark.integration
def test_a_queue_redis_does_not_know_is_empty_without_a_warning(caplog):
    """A fresh Redis has no binding for a queue nobody published to: that is 0, not an error."""
    caplog.set_level("WARNING", logger="logistics.broker")
    assert broker.queue_backlog("logistics-test-never-declared") == 0
    assert caplog.records == []
