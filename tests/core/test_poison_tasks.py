"""The redelivery cap on poison messages, against the real Redis broker."""

import uuid

import pytest
from django.test import override_settings

from config.celery import app


@pytest.fixture
def probe():
    runs: list[int] = []

    @app.task(name=f"tests.probe_{uuid.uuid4().hex}", bind=True)
    def probe_task(self, value: int) -> int:
        runs.append(value)
        return value

    yield probe_task, runs
    app.tasks.pop(probe_task.name, None)


def _deliver(task, *, task_id: str, retries: int = 0):
    """Run the task as a worker would for one delivery of (task_id, retries)."""
    task.push_request(
        id=task_id, retries=retries, is_eager=False, delivery_info={"routing_key": "default"}
    )
    try:
        return task(1)
    finally:
        task.pop_request()


@override_settings(CELERY_MAX_DELIVERIES=3)
def test_redelivered_message_stops_running_after_the_cap(probe):
    task, runs = probe
    task_id = uuid.uuid4().hex
    for _ in range(5):
        _deliver(task, task_id=task_id)
    assert len(runs) == 3


@override_settings(CELERY_MAX_DELIVERIES=3)
def test_retries_are_new_deliveries_not_redeliveries(probe):
    task, runs = probe
    task_id = uuid.uuid4().hex
    for retries in range(6):
        _deliver(task, task_id=task_id, retries=retries)
    assert len(runs) == 6


@override_settings(CELERY_MAX_DELIVERIES=1)
def test_eager_and_direct_calls_are_never_counted(probe):
    task, runs = probe
    task(1)
    task(1)
    task.apply(args=(1,))
    task.apply(args=(1,))
    assert len(runs) == 4
