"""Batched webhook processing: same result as one by one, few statements, failures isolated."""

import datetime as dt
import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from inventory.models import Allocation, StockLevel
from logistics.models import InboundWebhook, PartnerWebhookDelivery, Shipment, TrackingEvent
from logistics.services import tracking
from logistics.services.dispatch import shipment_dispatch
from orders.models import Order, OrderEvent
from orders.services.shipment_planning import shipments_plan_for_order
from tests.logistics.factories import channel_with_webhooks
from tests.logistics.helpers import (
    FakeAdapter,
    allocated_order,
    outbox_site,
    sandbox_provider,
    tracking_payload,
)
from tests.orders.factories import ChannelFactory

pytestmark = pytest.mark.django_db
T0 = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)


def _world(provider, tag):
    """Two orders with three dispatched shipments; the channel wants partner webhooks."""
    channel = channel_with_webhooks(url=f"https://partner.test/{tag}")
    two = allocated_order(
        channel=channel, warehouses=[outbox_site(), outbox_site()], quantities=[1, 2]
    )
    one = allocated_order(channel=channel, quantities=[3])
    shipments = []
    for order in (two, one):
        for shipment in shipments_plan_for_order(order=order):
            shipment_dispatch(shipment_id=shipment.pk, adapter=FakeAdapter(["ok"]))
            shipment.refresh_from_db()
            shipments.append(shipment)
    return {"orders": [two, one], "shipments": shipments}


def _at(minutes):
    return T0 + dt.timedelta(minutes=minutes)


def _hash_payload(shipment, status, minutes):
    """An event without an id: deduplicated by the hash of number, status and time."""
    payload = tracking_payload(shipment=shipment, status=status, at=_at(minutes))
    payload["data"]["event"]["id"] = ""
    return payload


def _script(world):
    """Out of order, duplicated (in the batch and in the database), trouble, a stranger."""
    s1, s2, s3 = world["shipments"]
    p = tracking_payload
    return [
        p(shipment=s1, status="DELIVERED", at=_at(9)),
        p(shipment=s1, status="IN_TRANSIT", at=_at(1)),
        p(shipment=s1, status="IN_TRANSIT", at=_at(1)),  # same event id again
        p(shipment=s2, status="INFO_RECEIVED", at=_at(0)),
        p(shipment=s2, status="EXCEPTION", at=_at(3)),
        p(shipment=s2, status="IN_TRANSIT", at=_at(2)),
        p(shipment=s3, status="OUT_FOR_DELIVERY", at=_at(4)),
        p(shipment=s3, status="IN_TRANSIT", at=_at(1)),  # late: changes no status
        p(shipment=s3, status="INFO_RECEIVED", at=_at(0)),  # already stored before
        _hash_payload(s3, "DELIVERED", 6),
        _hash_payload(s3, "DELIVERED", 6),
        p(shipment=s2, status="DELIVERED", at=_at(8)),
        {"data": {"reference": "nobody", "event": {"id": "x", "status": "IN_TRANSIT"}}},
    ]


def _store(provider, tag, payloads):
    return [
        InboundWebhook.objects.create(
            provider=provider, webhook_id=f"{tag}-{index}", body=json.dumps(payload)
        ).pk
        for index, payload in enumerate(payloads)
    ]


def _snapshot(world, inbound_ids):
    """Everything the processing wrote, without the ids that differ between worlds."""
    volatile = {"shipment_id", "tracking_number", "lines", "warehouse", "provider_reference"}
    shipments = []
    for shipment in world["shipments"]:
        shipment = Shipment.objects.get(pk=shipment.pk)
        shipments.append(
            (
                shipment.status,
                shipment.shipped_at,
                shipment.delivered_at,
                shipment.last_event_at,
                shipment.next_poll_at is not None,
                list(shipment.tracking_events.order_by("pk").values_list("status", "occurred_at")),
            )
        )
    orders = []
    for order in world["orders"]:
        order = Order.objects.get(pk=order.pk)
        lines = list(
            order.lines.order_by("line_number").values_list(
                "quantity_shipped", "quantity_delivered"
            )
        )
        events = [
            (e.type, e.actor, {k: v for k, v in e.parameters.items() if k not in volatile})
            for e in order.events.order_by("pk")
        ]
        deliveries = [
            (
                d.event,
                # order.* topics: the order and its shipments; shipment.*: the one shipment.
                d.payload["data"].get("status"),
                [s["status"] for s in d.payload["data"].get("shipments", [])],
                d.payload["data"].get("shipment", {}).get("status"),
            )
            for d in PartnerWebhookDelivery.objects.filter(order=order).order_by("pk")
        ]
        levels = [
            (level.on_hand, level.reserved)
            for line in order.lines.order_by("line_number")
            for level in StockLevel.objects.filter(product_id=line.product_id)
        ]
        allocations = list(
            Allocation.objects.filter(order_line__order=order)
            .order_by("order_line__line_number", "status")
            .values_list("status", "quantity")
        )
        orders.append((order.status, lines, events, deliveries, levels, allocations))
    inbound = list(
        InboundWebhook.objects.filter(pk__in=inbound_ids)
        .order_by("pk")
        .values_list("status", "attempts")
    )
    return shipments, orders, inbound


def test_a_batch_gives_the_same_result_as_one_by_one(django_capture_on_commit_callbacks):
    provider = sandbox_provider()
    worlds = {tag: _world(provider, tag) for tag in ("alone", "batch")}
    ids = {}
    for tag, world in worlds.items():
        # The same event stored earlier, so the script's copy is a database duplicate.
        s3 = world["shipments"][2]
        (early,) = _store(
            provider,
            f"{tag}-early",
            [tracking_payload(shipment=s3, status="INFO_RECEIVED", at=_at(0))],
        )
        tracking.inbound_webhook_process(inbound_id=early)
        ids[tag] = _store(provider, tag, _script(world))

    for inbound_id in ids["alone"]:
        assert tracking.inbound_webhook_process(inbound_id=inbound_id) != "skipped"
    with CaptureQueriesContext(connection) as batch_queries:
        statuses = tracking.inbound_webhooks_process(inbound_ids=ids["batch"])

    assert len(statuses) == len(ids["batch"])
    alone = _snapshot(worlds["alone"], ids["alone"])
    batch = _snapshot(worlds["batch"], ids["batch"])
    assert batch == alone
    # And the result is the right one, not merely the same.
    shipments, orders, inbound = batch
    assert [s[0] for s in shipments] == ["delivered", "delivered", "delivered"]
    assert [o[0] for o in orders] == ["delivered", "delivered"]
    assert [len(s[5]) for s in shipments] == [2, 4, 4]
    assert inbound[-1] == ("unmatched", 1)
    assert len(batch_queries) < 40


def _shipped_orders(count):
    sandbox_provider()
    channel = ChannelFactory()
    warehouse = outbox_site()
    shipments = []
    for _ in range(count):
        order = allocated_order(channel=channel, warehouses=[warehouse], quantities=[1])
        (shipment,) = shipments_plan_for_order(order=order)
        shipment_dispatch(shipment_id=shipment.pk, adapter=FakeAdapter(["ok"]))
        shipment.refresh_from_db()
        shipments.append(shipment)
    return shipments


@pytest.mark.parametrize("count", [5, 40])
def test_statements_per_batch_do_not_grow_with_its_size(count, settings):
    settings.TRACKING_BATCH_SIZE = 100
    shipments = _shipped_orders(count)
    provider = shipments[0].provider
    _store(
        provider,
        "ship",
        [tracking_payload(shipment=s, status="IN_TRANSIT", at=_at(1)) for s in shipments],
    )
    with CaptureQueriesContext(connection) as queries:
        assert tracking.inbound_webhooks_drain() == count
    assert Order.objects.filter(status=Order.Status.SHIPPED).count() == count
    assert OrderEvent.objects.filter(type=OrderEvent.Type.SHIPPED).count() == count
    # One batch plus the empty claim that ends the drain, whatever the batch size.
    assert len(queries) <= 30, [q["sql"][:80] for q in queries.captured_queries]


def test_a_failing_webhook_does_not_hold_the_batch_back(
    monkeypatch, django_capture_on_commit_callbacks
):
    shipments = _shipped_orders(3)
    provider = shipments[0].provider
    payloads = [tracking_payload(shipment=s, status="IN_TRANSIT", at=_at(1)) for s in shipments]
    payloads[1]["data"]["event"]["description"] = "boom"
    ids = _store(provider, "mixed", payloads)
    real = tracking.adapter_for

    class Exploding:
        def __init__(self, provider):
            self.inner = real(provider)

        def parse_webhook(self, body):
            if b"boom" in body:
                raise RuntimeError("boom: unparseable")
            return self.inner.parse_webhook(body)

    monkeypatch.setattr(tracking, "adapter_for", Exploding)
    with django_capture_on_commit_callbacks() as callbacks:
        assert tracking.inbound_webhooks_drain() == 3
    rows = {row.pk: row for row in InboundWebhook.objects.filter(pk__in=ids)}
    assert [rows[pk].status for pk in ids] == ["processed", "pending", "processed"]
    bad = rows[ids[1]]
    # Visible to staff (admin: status, attempts, error) and retried by its own task.
    assert bad.attempts == 1
    assert "boom: unparseable" in bad.error
    assert len(callbacks) >= 1
    assert TrackingEvent.objects.filter(shipment__in=[shipments[0], shipments[2]]).count() == 2
    # Later drains leave the failed one to its retries instead of failing again.
    assert tracking.inbound_webhooks_drain() == 0
    assert InboundWebhook.objects.get(pk=bad.pk).attempts == 1


DRAIN_SCRIPT = """
import django, json, os, pathlib, sys, time
django.setup()
ready = pathlib.Path(os.environ["DRAIN_READY"])
while not ready.exists():  # start together
    time.sleep(0.01)
from django.db import connection
from logistics.models import InboundWebhook
from logistics.services import tracking
claimed = []
real = tracking.inbound_webhooks_process
def spy(**kwargs):
    ids = kwargs.setdefault("claimed", [])
    try:
        return real(**kwargs)
    finally:
        claimed.extend(ids)
tracking.inbound_webhooks_process = spy
tracking.inbound_webhooks_drain()
print(json.dumps(claimed))
"""


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_concurrent_drainers_never_process_the_same_webhook(settings, tmp_path):
    import subprocess
    import sys
    import time

    from tests.logistics.processes import ROOT, make_env

    shipments = _shipped_orders(20)
    provider = shipments[0].provider
    # Every order gets several webhooks, so that the drainers' batches share orders.
    payloads = [
        tracking_payload(shipment=s, status=status, at=_at(minutes))
        for minutes, status in enumerate(["INFO_RECEIVED", "IN_TRANSIT", "OUT_FOR_DELIVERY"])
        for s in shipments
    ] + [
        tracking_payload(shipment=s, status="IN_TRANSIT", at=_at(1)) for s in shipments
    ]  # the same events again, in new deliveries
    ids = _store(provider, "race", payloads)
    ready = tmp_path / "go"
    env = make_env(
        {
            "TRACKING_BATCH_SIZE": "5",
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DRAIN_READY": str(ready),
        }
    )
    drainers = [
        subprocess.Popen(  # noqa: S603
            [sys.executable, "-c", DRAIN_SCRIPT],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(3)
    ]
    time.sleep(3)  # Django set up in each
    ready.touch()
    claims = []
    for drainer in drainers:
        out, err = drainer.communicate(timeout=120)
        assert drainer.returncode == 0, err.decode()[-2000:]
        claims.append(json.loads(out.decode().strip().splitlines()[-1]))
    everything = [pk for claim in claims for pk in claim]
    assert sorted(everything) == sorted(ids)  # each webhook claimed by exactly one drainer
    assert sum(bool(claim) for claim in claims) >= 2  # they really ran side by side
    assert set(InboundWebhook.objects.filter(pk__in=ids).values_list("status", "attempts")) == {
        ("processed", 1)
    }
    assert TrackingEvent.objects.filter(shipment__in=shipments).count() == 3 * len(shipments)
    for shipment in shipments:
        events = OrderEvent.objects.filter(order_id=shipment.order_id)
        assert events.filter(type=OrderEvent.Type.SHIPPED).count() == 1
        assert Order.objects.get(pk=shipment.order_id).status == Order.Status.SHIPPED


def test_sweeper_gives_fresh_webhooks_to_a_drain_and_failed_ones_their_retry(settings, monkeypatch):
    from logistics import tasks

    settings.LOGISTICS_ACK_TIMEOUT_SECONDS = 0
    provider = sandbox_provider()
    InboundWebhook.objects.create(provider=provider, webhook_id="fresh", body="{}")
    tried = InboundWebhook.objects.create(
        provider=provider, webhook_id="tried", body="{}", attempts=2
    )
    sent = []
    monkeypatch.setattr(tasks.tracking_drain_task, "delay", lambda **kw: sent.append(("drain", kw)))
    monkeypatch.setattr(
        tasks.tracking_process_webhook_task, "delay", lambda **kw: sent.append(("one", kw))
    )
    assert tracking.inbound_webhooks_sweep() == 2
    assert sent == [("drain", {}), ("one", {"inbound_id": tried.pk})]
