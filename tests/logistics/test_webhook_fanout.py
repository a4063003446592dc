"""Fan-out: one delivery per (event × active endpoint of its channel subscribed to its topic)."""

from __future__ import annotations

import httpx
import pytest

from logistics import sql
from logistics.models import PartnerWebhookDelivery, WebhookEndpoint
from logistics.services import partner_webhooks
from logistics.services.partner_events import (
    PartnerEvent,
    partner_event_publish,
    partner_events_publish_many,
)
from logistics.webhook_topics import Topic
from tests.logistics.factories import WebhookEndpointFactory
from tests.orders.factories import ChannelFactory, OrderFactory

pytestmark = pytest.mark.django_db


def _event(channel, topic, **data):
    return PartnerEvent(channel_id=channel.pk, topic=topic, data=data or {"x": 1})


def test_each_event_reaches_the_active_endpoints_subscribed_to_its_topic():
    channel, other = ChannelFactory(), ChannelFactory()
    orders_hook = WebhookEndpointFactory(channel=channel, topics=["order.created"])
    stock_hook = WebhookEndpointFactory(channel=channel, topics=["stock.low", "stock.changed"])
    both = WebhookEndpointFactory(channel=channel, topics=["order.created", "stock.low"])
    WebhookEndpointFactory(channel=channel, topics=["order.created"], active=False)
    WebhookEndpointFactory(channel=other, topics=["order.created", "stock.low"])
    queued = partner_events_publish_many(
        events=[
            _event(channel, Topic.ORDER_CREATED, number="CS-1"),
            _event(channel, "stock.low", sku="MUG"),
            _event(channel, "order.shipped"),  # nobody listens
        ]
    )
    sent = sorted(PartnerWebhookDelivery.objects.values_list("endpoint_id", "event", "channel_id"))
    assert sent == sorted(
        [
            (orders_hook.pk, "order.created", channel.pk),
            (both.pk, "order.created", channel.pk),
            (stock_hook.pk, "stock.low", channel.pk),
            (both.pk, "stock.low", channel.pk),
        ]
    )
    assert queued == 4


def test_every_delivery_has_its_own_webhook_id_and_the_envelope():
    channel = ChannelFactory()
    WebhookEndpointFactory.create_batch(2, channel=channel, topics=["stock.low"])
    partner_event_publish(channel_id=channel.pk, topic="stock.low", data={"sku": "MUG"})
    deliveries = list(PartnerWebhookDelivery.objects.all())
    assert len({d.webhook_id for d in deliveries}) == 2
    for delivery in deliveries:
        assert delivery.order_id is None  # stock events are about no order
        assert set(delivery.payload) == {"type", "timestamp", "data"}
        assert delivery.payload["type"] == "stock.low"
        assert delivery.payload["data"] == {"sku": "MUG"}
        assert delivery.status == PartnerWebhookDelivery.Status.PENDING


def test_an_order_event_keeps_its_order():
    order = OrderFactory()
    WebhookEndpointFactory(channel=order.channel, topics=["order.created"])
    partner_event_publish(
        channel_id=order.channel_id, topic="order.created", data={}, order_id=order.pk
    )
    assert PartnerWebhookDelivery.objects.get().order_id == order.pk


def test_a_channel_nobody_subscribed_costs_one_query(django_assert_num_queries):
    channel = ChannelFactory()
    WebhookEndpointFactory(channel=channel, topics=["stock.low"])
    with django_assert_num_queries(1):
        assert partner_event_publish(channel_id=channel.pk, topic="order.created", data={}) == 0
    with django_assert_num_queries(1):
        assert (
            partner_events_publish_many(
                events=[_event(ChannelFactory.build(pk=10**9), "order.created")] * 50
            )
            == 0
        )
    assert not PartnerWebhookDelivery.objects.exists()


def test_a_batch_costs_two_queries_whatever_its_size(django_assert_num_queries):
    channels = ChannelFactory.create_batch(3)
    for channel in channels:
        WebhookEndpointFactory.create_batch(2, channel=channel, topics=["order.created"])
    events = [_event(channel, "order.created", n=n) for n in range(40) for channel in channels]
    # The endpoints of the batch's channels, then one INSERT of every delivery.
    with django_assert_num_queries(2):
        assert partner_events_publish_many(events=events) == 240
    assert PartnerWebhookDelivery.objects.count() == 240


def test_deliveries_are_sent_only_after_commit(django_capture_on_commit_callbacks, monkeypatch):
    channel = ChannelFactory()
    WebhookEndpointFactory(channel=channel, topics=["stock.low"])
    sent = []
    monkeypatch.setattr(
        "logistics.tasks.partner_webhook_send_task.delay",
        lambda *, delivery_id: sent.append(delivery_id),
    )
    with django_capture_on_commit_callbacks(execute=True):
        partner_event_publish(channel_id=channel.pk, topic="stock.low", data={})
        assert sent == []
    assert sent == [PartnerWebhookDelivery.objects.get().pk]


def test_a_delivery_to_an_endpoint_disabled_since_is_given_up_unsent():
    channel = ChannelFactory()
    endpoint = WebhookEndpointFactory(channel=channel, topics=["stock.low"])
    partner_event_publish(channel_id=channel.pk, topic="stock.low", data={})
    endpoint.active = False
    endpoint.save(update_fields=["active"])
    seen: list[httpx.Request] = []
    client = httpx.Client(transport=httpx.MockTransport(lambda r: seen.append(r)))
    delivery = PartnerWebhookDelivery.objects.get()
    assert partner_webhooks.partner_webhook_send(delivery_id=delivery.pk, client=client) is None
    delivery.refresh_from_db()
    assert seen == []
    assert delivery.status == PartnerWebhookDelivery.Status.FAILED
    assert "disabled" in delivery.last_error


def test_a_changed_url_takes_the_next_attempt_there():
    channel = ChannelFactory()
    endpoint = WebhookEndpointFactory(channel=channel, topics=["stock.low"], url="https://a.test/h")
    partner_event_publish(channel_id=channel.pk, topic="stock.low", data={})
    endpoint.url = "https://b.test/h"
    endpoint.save(update_fields=["url"])
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    delivery = PartnerWebhookDelivery.objects.get()
    partner_webhooks.partner_webhook_send(
        delivery_id=delivery.pk, client=httpx.Client(transport=httpx.MockTransport(handler))
    )
    assert str(seen[0].url) == "https://b.test/h"
    delivery.refresh_from_db()
    assert delivery.url == "https://b.test/h"


def test_the_subscribers_statement_matches_its_orm_equivalent():
    channels = ChannelFactory.create_batch(3)
    WebhookEndpointFactory(channel=channels[0], topics=["stock.low", "order.created"])
    WebhookEndpointFactory(channel=channels[0], active=False)
    WebhookEndpointFactory(channel=channels[1], topics=["inbound.received"])
    WebhookEndpointFactory(channel=channels[2])
    ids = [channels[0].pk, channels[1].pk, 10**9]
    expected = list(
        WebhookEndpoint.objects.filter(channel_id__in=ids, active=True)
        .order_by("pk")
        .values_list("pk", "channel_id", "url", "topics")
    )
    assert sql.webhook_subscribers(channel_ids=ids) == expected
    assert len(expected) == 2
