"""Webhook processing with real concurrent connections."""

import threading

import pytest
from django.db import connection

from logistics.models import InboundWebhook
from logistics.services import tracking
from tests.logistics.helpers import sandbox_provider

pytestmark = pytest.mark.django_db(transaction=True)


def test_webhooks_of_one_provider_are_processed_side_by_side(monkeypatch):
    provider = sandbox_provider()
    first = InboundWebhook.objects.create(provider=provider, webhook_id="msg_1", body="{}")
    second = InboundWebhook.objects.create(provider=provider, webhook_id="msg_2", body="{}")
    inside, release = threading.Event(), threading.Event()

    class SlowAdapter:
        def parse_inbound_events(self, body):
            return []  # no ASN events in these webhooks

        def parse_webhook(self, body):
            if threading.current_thread().name == "holder":
                inside.set()
                release.wait(10)
            return []

    monkeypatch.setattr(tracking, "adapter_for", lambda provider: SlowAdapter())
    results = {}

    def hold_first():
        try:
            results["first"] = tracking.inbound_webhook_process(inbound_id=first.pk)
        finally:
            connection.close()

    holder = threading.Thread(target=hold_first, name="holder")
    holder.start()
    assert inside.wait(10)
    try:
        # The first webhook's transaction is open; the second must not be skipped.
        results["second"] = tracking.inbound_webhook_process(inbound_id=second.pk)
    finally:
        release.set()
        holder.join(10)
    assert results == {"first": "processed", "second": "processed"}


def test_the_same_webhook_is_not_processed_twice_at_once(monkeypatch):
    provider = sandbox_provider()
    row = InboundWebhook.objects.create(provider=provider, webhook_id="msg_1", body="{}")
    inside, release = threading.Event(), threading.Event()

    class SlowAdapter:
        def parse_inbound_events(self, body):
            return []  # no ASN events in these webhooks

        def parse_webhook(self, body):
            inside.set()
            release.wait(10)
            return []

    monkeypatch.setattr(tracking, "adapter_for", lambda provider: SlowAdapter())
    results = {}

    def hold():
        try:
            results["first"] = tracking.inbound_webhook_process(inbound_id=row.pk)
        finally:
            connection.close()

    holder = threading.Thread(target=hold)
    holder.start()
    assert inside.wait(10)
    try:
        results["again"] = tracking.inbound_webhook_process(inbound_id=row.pk)
    finally:
        release.set()
        holder.join(10)
    assert results == {"first": "processed", "again": "skipped"}
    assert InboundWebhook.objects.get(pk=row.pk).attempts == 1
