"""logistics 0016: each channel's webhook URL and secret become a webhook endpoint."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from logistics.models import PartnerWebhookDelivery, WebhookEndpoint
from logistics.services.partner_events import partner_event_publish

BEFORE = [
    ("logistics", "0015_webhook_endpoints"),
    ("orders", "0009_shipped_within_ordered_folded"),
]
SECRET = "whsec_bWlncmF0ZWQtY2hhbm5lbC1zZWNyZXQtMDEyMzQ1"
LEGACY_TOPICS = [
    "order.shipped",
    "order.delivered",
    "order.exception",
    "order.cancelled",
    "order.rest_cancelled",
    "return.received",
]


@pytest.mark.django_db(transaction=True)
def test_channels_with_a_webhook_url_become_endpoints_and_back():
    executor = MigrationExecutor(connection)
    leaves = executor.loader.graph.leaf_nodes()
    executor.migrate(BEFORE)
    old = executor.loader.project_state(BEFORE).apps
    Channel = old.get_model("orders", "Channel")  # noqa: N806 - a model class
    with_url = Channel.objects.create(
        code="hooked", name="Hooked", webhook_url="https://partner.test/hook", webhook_secret=SECRET
    )
    Channel.objects.create(code="quiet", name="Quiet")
    Channel.objects.create(code="no-secret", name="No secret", webhook_url="https://x.test/h")
    old.get_model("logistics", "PartnerWebhookDelivery").objects.create(
        channel_id=with_url.pk,
        event="order.shipped",
        webhook_id="msg_" + "0" * 32,
        url="https://partner.test/hook",
        payload={"type": "order.shipped"},
        next_attempt_at=timezone.now(),
        status="delivered",
    )
    try:
        executor = MigrationExecutor(connection)
        executor.migrate(leaves)
        endpoint = WebhookEndpoint.objects.get()  # one: the channel with a URL and a secret
        assert endpoint.channel_id == with_url.pk
        assert endpoint.url == "https://partner.test/hook"
        assert endpoint.topics == LEGACY_TOPICS
        assert endpoint.active is True
        assert endpoint.secret == SECRET
        with connection.cursor() as cursor:
            cursor.execute("SELECT secret FROM logistics_webhookendpoint")
            assert SECRET not in cursor.fetchone()[0]  # still encrypted at rest
        # The channel's delivery log moved with it; new events reach it by topic.
        assert PartnerWebhookDelivery.objects.get().endpoint_id == endpoint.pk
        assert partner_event_publish(channel_id=with_url.pk, topic="order.shipped", data={}) == 1
        assert partner_event_publish(channel_id=with_url.pk, topic="order.created", data={}) == 0

        executor = MigrationExecutor(connection)
        executor.migrate(BEFORE)
        back = executor.loader.project_state(BEFORE).apps.get_model("orders", "Channel")
        restored = back.objects.get(pk=with_url.pk)
        assert (restored.webhook_url, restored.webhook_secret) == (
            "https://partner.test/hook",
            SECRET,
        )
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
