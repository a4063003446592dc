"""A drain pauses after a batch that was not full, so a trickle still makes batches."""

from __future__ import annotations

from logistics.services import tracking


def _fake_batches(monkeypatch, sizes: list[int]) -> list[float]:
    sizes = list(sizes)
    sleeps: list[float] = []

    def process(*, claimed):
        claimed.extend(range(sizes.pop(0)))

    monkeypatch.setattr(tracking, "inbound_webhooks_process", process)
    monkeypatch.setattr(tracking.time, "sleep", sleeps.append)
    return sleeps


def test_a_partial_batch_is_followed_by_the_linger(monkeypatch, settings):
    settings.TRACKING_BATCH_SIZE = 100
    settings.TRACKING_DRAIN_LINGER_SECONDS = 0.05
    sleeps = _fake_batches(monkeypatch, [100, 3, 0])
    assert tracking.inbound_webhooks_drain(max_seconds=60) == 103
    assert sleeps == [0.05]  # not after the full batch, not after the empty claim


def test_no_linger_when_it_is_switched_off(monkeypatch, settings):
    settings.TRACKING_DRAIN_LINGER_SECONDS = 0
    sleeps = _fake_batches(monkeypatch, [3, 2, 0])
    assert tracking.inbound_webhooks_drain(max_seconds=60) == 5
    assert sleeps == []
