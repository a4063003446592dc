"""stock.changed: one event per channel and window, each changed SKU once, availability now.

Runs as committed transactions (transaction=True): the window's journal read must see
what other transactions committed, as the beat task does.
"""

from __future__ import annotations

import json

import pytest
from django.conf import settings
from django.test import Client
from openapi_schema_validator import OAS30Validator, validate

from inventory.models import AdjustmentReason
from inventory.services.stock import stock_adjust, stock_receive
from logistics.models import PartnerWebhookDelivery, WebhookEndpoint
from logistics.services import partner_events
from orders.models import ChannelWarehouse, PartnerFeedCursor
from orders.services import stock_events
from orders.tasks import stock_changed_publish_task
from tests.inventory.factories import ProductFactory, StockLevelFactory, WarehouseFactory
from tests.logistics.factories import WebhookEndpointFactory
from tests.orders.factories import ChannelFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def published(monkeypatch) -> list[partner_events.PartnerEvent]:
    seen: list[partner_events.PartnerEvent] = []
    real = partner_events.partner_events_publish_many

    def spy(*, events):
        seen.extend(events)
        return real(events=events)

    monkeypatch.setattr(stock_events, "partner_events_publish_many", spy)
    return seen


@pytest.fixture
def world():
    """Two channels: `shop` sells from AMS and BER, `market` only from BER."""
    ams, ber = WarehouseFactory(code="AMS"), WarehouseFactory(code="BER")
    shop, market = ChannelFactory(code="shop"), ChannelFactory(code="market")
    ChannelWarehouse.objects.create(channel=shop, warehouse=ams)
    ChannelWarehouse.objects.create(channel=shop, warehouse=ber)
    ChannelWarehouse.objects.create(channel=market, warehouse=ber)
    for channel in (shop, market):
        WebhookEndpointFactory(channel=channel, topics=["stock.changed"])
    mug, cap = ProductFactory(sku="MUG"), ProductFactory(sku="CAP")
    for product in (mug, cap):
        for warehouse in (ams, ber):
            StockLevelFactory(product=product, warehouse=warehouse, on_hand=10)
    # The first run only takes the cursor: what happened before is not news.
    assert stock_events.stock_changed_publish() == 0
    return {"ams": ams, "ber": ber, "shop": shop, "market": market, "mug": mug, "cap": cap}


def _by_channel(events) -> dict[int, list[dict]]:
    out: dict[int, list[dict]] = {}
    for event in events:
        assert str(event.topic) == "stock.changed"
        assert event.channel_id not in out, "one event per channel and window"
        out[event.channel_id] = event.data["items"]
    return out


def test_many_changes_to_one_sku_in_a_window_are_one_event_naming_it_once(world, published):
    for _ in range(5):
        stock_adjust(
            product=world["mug"], warehouse=world["ams"], delta=-1, reason=AdjustmentReason.LOST
        )
    stock_receive(product=world["mug"], warehouse=world["ams"], quantity=2)
    assert stock_events.stock_changed_publish() == 1
    # AMS is only shop's: market hears nothing. Shop sells 7 at AMS + 10 at BER.
    assert _by_channel(published) == {world["shop"].pk: [{"sku": "MUG", "available": 17}]}


def test_two_windows_are_two_events(world, published):
    stock_adjust(
        product=world["mug"], warehouse=world["ber"], delta=-3, reason=AdjustmentReason.LOST
    )
    assert stock_events.stock_changed_publish() == 2
    first = _by_channel(published)
    published.clear()
    stock_adjust(
        product=world["cap"], warehouse=world["ber"], delta=5, reason=AdjustmentReason.FOUND
    )
    stock_adjust(
        product=world["mug"], warehouse=world["ber"], delta=-1, reason=AdjustmentReason.LOST
    )
    assert stock_events.stock_changed_publish() == 2
    second = _by_channel(published)
    assert first == {
        world["shop"].pk: [{"sku": "MUG", "available": 17}],
        world["market"].pk: [{"sku": "MUG", "available": 7}],
    }
    assert second == {
        world["shop"].pk: [{"sku": "CAP", "available": 25}, {"sku": "MUG", "available": 16}],
        world["market"].pk: [{"sku": "CAP", "available": 15}, {"sku": "MUG", "available": 6}],
    }


def test_nothing_changed_nothing_published(world, published):
    stock_adjust(
        product=world["cap"], warehouse=world["ams"], delta=1, reason=AdjustmentReason.FOUND
    )
    assert stock_events.stock_changed_publish() == 1
    published.clear()
    assert stock_events.stock_changed_publish() == 0
    assert stock_changed_publish_task() == 0
    assert published == []


def test_the_events_match_the_documented_payload(world, published):
    stock_adjust(
        product=world["cap"], warehouse=world["ber"], delta=-2, reason=AdjustmentReason.LOST
    )
    stock_events.stock_changed_publish()
    schema = json.loads(Client().get("/api/schema/", {"format": "json"}).content)
    ref = schema["x-webhooks"]["stock.changed"]["post"]["requestBody"]["content"][
        "application/json"
    ]["schema"]["$ref"]
    assert len(published) == 2
    for event in published:
        body = partner_events.envelope(topic=str(event.topic), data=event.data)
        validate(body, {"$ref": ref, "components": schema["components"]}, cls=OAS30Validator)


def test_the_cursor_moves_only_forward_and_the_window_is_the_beat_period(world):
    cursor = PartnerFeedCursor.objects.get(name=stock_events.STOCK_CHANGED_CURSOR).value
    stock_adjust(
        product=world["cap"], warehouse=world["ams"], delta=1, reason=AdjustmentReason.FOUND
    )
    stock_events.stock_changed_publish()
    # The cursor is the journal's snapshot: its xmax passed the adjustment's transaction.
    assert PartnerFeedCursor.objects.get(name=stock_events.STOCK_CHANGED_CURSOR).value > cursor
    entry = settings.CELERY_BEAT_SCHEDULE["orders-stock-changed"]
    assert entry["task"] == "orders.tasks.stock_changed_publish_task"
    assert entry["schedule"] == settings.PARTNER_WEBHOOK_STOCK_WINDOW_SECONDS


def test_overlapping_runs_publish_a_window_once(world, published):
    """Two beat runs at once (a slow run and the next tick): the cursor row's lock
    makes the second wait and then find nothing new."""
    import threading

    from django.db import connection

    stock_adjust(
        product=world["mug"], warehouse=world["ber"], delta=-1, reason=AdjustmentReason.LOST
    )
    barrier = threading.Barrier(2)
    counts: list[int] = []

    def run() -> None:
        try:
            barrier.wait()
            counts.append(stock_events.stock_changed_publish())
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(counts) == [0, 2]
    assert sorted(e.channel_id for e in published) == sorted([world["shop"].pk, world["market"].pk])


def test_only_channels_subscribed_to_stock_changed_hear_it_and_get_a_delivery(world, published):
    WebhookEndpoint.objects.filter(channel=world["market"]).update(topics=["order.shipped"])
    stock_adjust(
        product=world["mug"], warehouse=world["ber"], delta=-1, reason=AdjustmentReason.LOST
    )

    assert stock_events.stock_changed_publish() == 1

    assert [event.channel_id for event in published] == [world["shop"].pk]
    delivery = PartnerWebhookDelivery.objects.get(event="stock.changed")
    assert delivery.channel_id == world["shop"].pk
    assert delivery.payload["data"] == {
        "items": [{"sku": "MUG", "available": 19}]
    }  # AMS 10 + BER 9
