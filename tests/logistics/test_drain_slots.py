"""The drain request's slots: one Redis round trip, at most TRACKING_DRAIN_SLOTS tasks waiting."""

from __future__ import annotations

import pytest
import redis
from django.core.cache import cache

from logistics.services import tracking


@pytest.fixture
def free_slots(settings):
    settings.TRACKING_DRAIN_SLOTS = 2
    for key in tracking._drain_slot_keys():
        cache._cache.get_client(key, write=True).delete(key)
    yield
    for key in tracking._drain_slot_keys():
        cache._cache.get_client(key, write=True).delete(key)


@pytest.mark.usefixtures("free_slots")
def test_slots_are_taken_in_order_until_none_is_left():
    assert [tracking._drain_slot_take() for _ in range(3)] == [0, 1, None]


@pytest.mark.usefixtures("free_slots")
def test_a_freed_slot_can_be_taken_again():
    tracking._drain_slot_take()
    tracking._drain_slot_take()
    tracking.tracking_drain_slot_free(slot=0)
    assert tracking._drain_slot_take() == 0


@pytest.mark.usefixtures("free_slots")
def test_a_slot_expires_on_its_own(settings):
    settings.TRACKING_DRAIN_SLOT_SECONDS = 7
    tracking._drain_slot_take()
    key = tracking._drain_slot_keys()[0]
    ttl = cache._cache.get_client(key, write=True).ttl(key)
    assert 0 < ttl <= 7


@pytest.mark.usefixtures("free_slots")
def test_a_redis_failure_does_not_fail_the_receipt(monkeypatch, caplog):
    from config.celery import app

    monkeypatch.setitem(app.conf, "task_always_eager", False)

    def down():
        raise redis.ConnectionError("refused")

    monkeypatch.setattr(tracking, "_drain_slot_take", down)
    tracking.tracking_drain_request()  # must not raise: the sweeper enqueues later
    assert "sweeper" in caplog.text
