"""Auto-disable: an endpoint whose deliveries fail for 3 days is disabled, shown in the
exception queue, and enabled again by staff or by the partner."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone

from backoffice.selectors import exception_queue
from core.roles import OPERATIONS_MANAGER, roles_sync
from logistics.models import PartnerWebhookDelivery, WebhookEndpoint
from logistics.services import partner_webhooks
from logistics.services.partner_events import partner_event_publish
from logistics.services.webhook_endpoints import (
    webhook_endpoint_update,
    webhook_endpoints_disable_failing,
)
from tests.logistics.factories import WebhookEndpointFactory

pytestmark = pytest.mark.django_db


def _client(status: int) -> httpx.Client:
    return httpx.Client(transport=httpx.MockTransport(lambda request: httpx.Response(status)))


def _send(endpoint, status: int) -> None:
    partner_event_publish(channel_id=endpoint.channel_id, topic="stock.low", data={})
    delivery = PartnerWebhookDelivery.objects.filter(endpoint=endpoint).latest("pk")
    partner_webhooks.partner_webhook_send(delivery_id=delivery.pk, client=_client(status))


def test_the_failure_clock_starts_at_the_first_failure_and_stops_at_a_success():
    endpoint = WebhookEndpointFactory(topics=["stock.low"])
    _send(endpoint, 500)
    endpoint.refresh_from_db()
    started = endpoint.failing_since
    assert started is not None
    _send(endpoint, 503)
    endpoint.refresh_from_db()
    assert endpoint.failing_since == started  # still the first failure
    _send(endpoint, 200)
    endpoint.refresh_from_db()
    assert endpoint.failing_since is None


def _failing_for(hours: float, **kwargs) -> WebhookEndpoint:
    return WebhookEndpointFactory(
        failing_since=timezone.now() - dt.timedelta(hours=hours), **kwargs
    )


def test_an_endpoint_failing_for_72_hours_is_disabled(settings):
    settings.PARTNER_WEBHOOK_DISABLE_AFTER_HOURS = 72
    now = timezone.now()
    failing = _failing_for(72.5)
    young = _failing_for(71.5)
    healthy = WebhookEndpointFactory()
    assert webhook_endpoints_disable_failing(now=now) == [failing.pk]
    failing.refresh_from_db()
    assert failing.active is False
    assert failing.disabled_at == now
    assert "72 hours" in failing.disabled_reason
    for endpoint in (young, healthy):
        endpoint.refresh_from_db()
        assert endpoint.active is True
    # Time moves on (by parameter, not by sleeping): the young one's turn.
    assert webhook_endpoints_disable_failing(now=now + dt.timedelta(hours=1)) == [young.pk]


def test_the_threshold_is_configurable(settings):
    settings.PARTNER_WEBHOOK_DISABLE_AFTER_HOURS = 1
    failing = _failing_for(2)
    assert webhook_endpoints_disable_failing() == [failing.pk]


def test_a_disabled_endpoint_receives_no_new_deliveries():
    endpoint = _failing_for(100, topics=["stock.low"])
    webhook_endpoints_disable_failing()
    assert partner_event_publish(channel_id=endpoint.channel_id, topic="stock.low", data={}) == 0


def test_disabled_endpoints_show_in_the_exception_queue_and_staff_enable_them(client):
    endpoint = _failing_for(100, url="https://partner.test/dead")
    partner_off = WebhookEndpointFactory(active=False)  # switched off by the partner: theirs
    webhook_endpoints_disable_failing()
    section = exception_queue(kind="webhook_endpoint_disabled")["webhook_endpoint_disabled"]
    assert section["count"] == 1
    (item,) = section["items"]
    assert item.webhook_endpoint_id == endpoint.pk
    assert "partner.test/dead" in item.subject
    assert partner_off.pk != item.webhook_endpoint_id

    manager = get_user_model().objects.create_user(username="ops", password="x", is_staff=True)
    manager.groups.add(roles_sync()[OPERATIONS_MANAGER])
    client.force_login(manager)
    page = client.get(reverse("backoffice:exceptions"), {"kind": "webhook_endpoint_disabled"})
    assert page.status_code == 200
    action = reverse("backoffice:webhook_endpoint_enable", args=[endpoint.pk])
    assert action in page.content.decode()
    response = client.post(action)
    assert response.status_code == 302
    endpoint.refresh_from_db()
    assert endpoint.active is True
    assert endpoint.failing_since is None
    assert endpoint.disabled_at is None


def test_staff_without_the_permission_cannot_enable(client):
    endpoint = _failing_for(100)
    webhook_endpoints_disable_failing()
    user = get_user_model().objects.create_user(username="nobody", password="x", is_staff=True)
    client.force_login(user)
    action = reverse("backoffice:webhook_endpoint_enable", args=[endpoint.pk])
    assert client.post(action).status_code == 403
    endpoint.refresh_from_db()
    assert endpoint.active is False


def test_an_endpoint_the_partner_paused_is_not_an_exception():
    endpoint = _failing_for(10)
    webhook_endpoint_update(endpoint=endpoint, active=False)
    endpoint.refresh_from_db()
    assert endpoint.failing_since is None
    assert endpoint.disabled_reason == "Disabled by the partner."
    assert webhook_endpoints_disable_failing(now=timezone.now() + dt.timedelta(days=9)) == []
    assert (
        exception_queue(kind="webhook_endpoint_disabled")["webhook_endpoint_disabled"]["count"] == 0
    )


def test_admin_actions_disable_and_enable_through_the_service(admin_client):
    endpoint = _failing_for(100)
    webhook_endpoints_disable_failing()
    url = reverse("admin:logistics_webhookendpoint_changelist")
    admin_client.post(url, {"action": "enable", "_selected_action": [endpoint.pk]})
    endpoint.refresh_from_db()
    assert (endpoint.active, endpoint.failing_since, endpoint.disabled_at) == (True, None, None)
    admin_client.post(url, {"action": "disable", "_selected_action": [endpoint.pk]})
    endpoint.refresh_from_db()
    assert endpoint.active is False
    assert endpoint.disabled_reason.startswith("Disabled by Consign staff")
