"""The soak's own LSP webhooks (bench/soak.py WebhookSource): signed, in step order."""

from __future__ import annotations

import json

from bench import soak
from logistics import webhook_signing


def _pool(n: int) -> list[tuple[str, str, str]]:
    return [(f"ref-{i}", f"token-{i}", f"TRK{i}") for i in range(n)]


def _next(source: soak.WebhookSource) -> tuple[str, str, dict]:
    body, headers = source.next_signed()
    data = json.loads(body)["data"]
    return data["shipment_id"], data["event"]["status"], headers


def test_every_webhook_is_signed_with_the_soak_providers_secret():
    body, headers = soak.WebhookSource(_pool(3)).next_signed()
    webhook_signing.verify(secret=soak.SOAK_SECRET, headers=headers, body=body)


def test_each_shipment_walks_its_steps_in_order_a_block_apart():
    source = soak.WebhookSource(_pool(250))
    seen: dict[str, list[str]] = {}
    for _ in range(250 * 3):
        ref, status, _ = _next(source)
        seen.setdefault(ref, []).append(status)
    assert all(steps == list(soak.TRACKING_STEPS) for steps in seen.values())
    assert len(seen) == 250
    assert source.reused == 0
    assert source.left == 0
    # Within a block of 100, a shipment's next step comes 100 webhooks later.
    source = soak.WebhookSource(_pool(250))
    first = [_next(source)[0] for _ in range(200)]
    assert first[0] == first[100] == "ref-0"


def test_an_exhausted_pool_repeats_delivered_events_and_says_so():
    source = soak.WebhookSource(_pool(2))
    ids = {_next(source)[2]["webhook-id"] for _ in range(6)}
    assert source.reused == 0
    _, status, headers = _next(source)
    assert status == "DELIVERED"
    assert source.reused == 1
    assert headers["webhook-id"] not in ids  # a new delivery, not a redelivery
    source.add(_pool(5)[2:])
    assert source.left == 3
