"""Secret rotation, verified the way partners verify: the `standardwebhooks` library, over HTTP.

A real receiver on 127.0.0.1 holds a Standard Webhooks verifier; Consign delivers
through its own outbound path (core.ssrf.public_post). During the 24-hour overlap a
receiver with the old secret and one with the new secret both verify the same
delivery; afterwards only the new secret does.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.utils import timezone
from standardwebhooks import Webhook, WebhookVerificationError

from logistics.models import PartnerWebhookDelivery
from logistics.services import partner_webhooks
from logistics.services.partner_events import partner_event_publish
from logistics.services.webhook_endpoints import (
    webhook_endpoint_create,
    webhook_endpoint_secret_rotate,
    webhook_endpoint_signing_secrets,
)
from tests.orders.factories import ChannelFactory

pytestmark = pytest.mark.django_db


class _Receiver(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.received.append((dict(self.headers.items()), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    httpd.received = []
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def _deliver(endpoint, receiver) -> tuple[dict[str, str], bytes]:
    """Publish one event and send it for real; what the receiver got."""
    partner_event_publish(
        channel_id=endpoint.channel_id, topic="order.shipped", data={"number": "CS-000042"}
    )
    delivery = PartnerWebhookDelivery.objects.filter(endpoint=endpoint).latest("pk")
    assert partner_webhooks.partner_webhook_send(delivery_id=delivery.pk) is None
    delivery.refresh_from_db()
    assert delivery.status == PartnerWebhookDelivery.Status.DELIVERED, delivery.last_error
    headers, body = receiver.received[-1]
    assert headers["webhook-id"] == delivery.webhook_id
    return headers, body


def _endpoint(receiver):
    url = f"http://127.0.0.1:{receiver.server_address[1]}/hooks"
    created = webhook_endpoint_create(
        channel_id=ChannelFactory().pk, url=url, topics=["order.shipped"]
    )
    return created.endpoint, created.secret


def test_before_rotation_one_signature_verifies_with_the_secret(receiver):
    endpoint, secret = _endpoint(receiver)
    headers, body = _deliver(endpoint, receiver)
    assert len(headers["webhook-signature"].split()) == 1
    payload = Webhook(secret).verify(body, headers)
    assert payload["type"] == "order.shipped"
    assert payload["data"] == {"number": "CS-000042"}


def test_during_the_overlap_old_and_new_secrets_both_verify(receiver):
    endpoint, old = _endpoint(receiver)
    new = webhook_endpoint_secret_rotate(endpoint=endpoint).secret
    assert new != old
    headers, body = _deliver(endpoint, receiver)
    assert len(headers["webhook-signature"].split(" ")) == 2
    assert Webhook(new).verify(body, headers) == json.loads(body)
    assert Webhook(old).verify(body, headers) == json.loads(body)
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + "QUJD" * 8).verify(body, headers)


def test_after_24_hours_only_the_new_secret_verifies(receiver):
    endpoint, old = _endpoint(receiver)
    # Rotated 24 hours and a second ago: the overlap is over.
    rotated_at = timezone.now() - dt.timedelta(hours=24, seconds=1)
    new = webhook_endpoint_secret_rotate(endpoint=endpoint, now=rotated_at).secret
    headers, body = _deliver(endpoint, receiver)
    assert len(headers["webhook-signature"].split()) == 1
    assert Webhook(new).verify(body, headers) == json.loads(body)
    with pytest.raises(WebhookVerificationError):
        Webhook(old).verify(body, headers)


def test_the_overlap_is_exactly_24_hours():
    endpoint = webhook_endpoint_create(
        channel_id=ChannelFactory().pk, url="http://127.0.0.1:9/h", topics=["order.shipped"]
    ).endpoint
    at = timezone.now()
    rotated = webhook_endpoint_secret_rotate(endpoint=endpoint, now=at)
    old = rotated.endpoint.previous_secret
    before_end = at + dt.timedelta(hours=23, minutes=59, seconds=59)
    at_end = at + dt.timedelta(hours=24)
    assert webhook_endpoint_signing_secrets(endpoint=rotated.endpoint, now=before_end) == [
        rotated.secret,
        old,
    ]
    assert webhook_endpoint_signing_secrets(endpoint=rotated.endpoint, now=at_end) == [
        rotated.secret
    ]


def test_rotating_twice_drops_the_oldest_secret(receiver):
    endpoint, first = _endpoint(receiver)
    second = webhook_endpoint_secret_rotate(endpoint=endpoint).secret
    third = webhook_endpoint_secret_rotate(endpoint=endpoint).secret
    headers, body = _deliver(endpoint, receiver)
    Webhook(third).verify(body, headers)
    Webhook(second).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(first).verify(body, headers)
