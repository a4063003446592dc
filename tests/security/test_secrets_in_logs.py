"""API keys, provider tokens and webhook secrets: created, set, used, refused and rotated
with every logger at DEBUG captured to a file, which is then searched for them. Only an
API key's prefix may appear."""

from __future__ import annotations

import base64
import io
import logging

import httpx
import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from logistics.adapters import generic_http
from logistics.adapters.base import ProviderUnavailable
from logistics.adapters.registry import adapter_for
from logistics.services import partner_webhooks
from orders.services import partner_notifications
from partners.models import ApiKey
from partners.services import api_key_revoke
from tests.fixtures.admin_forms import admin_change
from tests.fixtures.log_audit import EverythingFormatter, raw_keys_in
from tests.inventory.factories import WarehouseFactory
from tests.logistics.factories import ProviderFactory, WebhookEndpointFactory
from tests.logistics.helpers import signed_post
from tests.orders.factories import ChannelFactory, OrderFactory


@pytest.fixture
def log_file(tmp_path):
    path = tmp_path / "all.log"
    handler = logging.FileHandler(path)
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(EverythingFormatter())
    loggers = [logging.getLogger(n) for n in ("", "consign.security", "django.security")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.addHandler(handler)
        lg.setLevel(logging.DEBUG)
    yield path
    for lg, level in zip(loggers, levels, strict=True):
        lg.removeHandler(handler)
        lg.setLevel(level)
    handler.close()


def test_key_lifecycle_logs_the_prefix_never_the_key(db, log_file):
    ChannelFactory(code="webshop")
    out = io.StringIO()
    call_command("create_api_key", "webshop", "--name", "audit", stdout=out)
    raw = out.getvalue().strip().splitlines()[-1]
    api_key = ApiKey.objects.get(prefix=raw[:12])

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert client.get("/api/v1/orders/").status_code == 200
    wrong = APIClient()
    wrong.credentials(HTTP_AUTHORIZATION=f"Bearer {raw[:-1]}x")
    assert wrong.get("/api/v1/orders/").status_code == 401
    api_key_revoke(api_key=api_key)
    assert client.get("/api/v1/orders/").status_code == 401

    text = log_file.read_text()
    assert raw not in text
    assert raw[:-1] not in text
    assert raw_keys_in(text) == []
    for event in ("api_key.created", "api_key.used", "api_key.rejected", "api_key.revoked"):
        assert event in text
    assert api_key.prefix in text


def test_detector_finds_a_raw_key():
    assert raw_keys_in("x csk_" + "A" * 43 + " y")
    assert raw_keys_in("csk_AbCdEfGh used") == []


# --- provider and channel secrets (encrypted at rest, write-only) ------------------------

PROVIDER_SECRET = "whsec_" + base64.b64encode(b"log-audit-provider-secret-0123456").decode()
PROVIDER_TOKEN = "log-audit-lsp-token-7Hq2Lm9Zx"
CHANNEL_SECRET = "whsec_" + base64.b64encode(b"log-audit-channel-secret-01234567").decode()


def test_provider_and_channel_secrets_never_reach_the_logs(
    db, log_file, client, make_user, monkeypatch, settings
):
    settings.OUTBOUND_ALLOW_HOSTS = ["127.0.0.1"]
    provider = ProviderFactory(code="audited", base_url="http://127.0.0.1:1")
    # A loopback URL: the admin form resolves it (SSRF guard) and this machine may have no DNS.
    channel = ChannelFactory(code="audited")
    endpoint = WebhookEndpointFactory(channel=channel, url="http://127.0.0.1:1/hook", secret="")
    client.force_login(make_user("root-audit", superuser=True))
    # Set through the admin: typed, generated, and a refused (malformed) one.
    admin_change(client, provider, {"webhook_secret": PROVIDER_SECRET, "api_token": PROVIDER_TOKEN})
    response = admin_change(client, endpoint, {"secret_generate": "on"})
    endpoint.refresh_from_db()
    generated = endpoint.secret
    assert generated.startswith("whsec_")
    assert generated in response.content.decode()  # shown once, to the admin
    admin_change(client, endpoint, {"secret": "whsec_not-base64-" + PROVIDER_TOKEN})
    admin_change(client, endpoint, {"secret": CHANNEL_SECRET})
    client.logout()
    provider.refresh_from_db()
    endpoint.refresh_from_db()
    assert (provider.webhook_secret, endpoint.secret) == (PROVIDER_SECRET, CHANNEL_SECRET)

    # Inbound webhooks, well and badly signed.
    payload = {"type": "shipment.tracking_updated", "data": {"shipment_id": "nope"}}
    assert signed_post(client, provider=provider, payload=payload).status_code == 202
    bad = signed_post(client, provider=provider, payload=payload, secret=CHANNEL_SECRET)
    assert bad.status_code == 401

    # The LSP adapter sends the token; the LSP fails.
    seen = []

    def lsp(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(503, json={"error": "down"})

    monkeypatch.setattr(
        generic_http, "http_client", lambda: httpx.Client(transport=httpx.MockTransport(lsp))
    )
    with pytest.raises(ProviderUnavailable):
        adapter_for(provider).fetch_stock_snapshot(WarehouseFactory(provider=provider))
    assert seen[0].headers["Authorization"] == f"Bearer {PROVIDER_TOKEN}"

    # A partner webhook signed with the endpoint's secret; the partner fails.
    order = OrderFactory(channel=channel, status="shipped")
    delivery = partner_notifications.order_notify(order=order, event="order.shipped")
    partner = httpx.Client(transport=httpx.MockTransport(lambda request: httpx.Response(500)))
    partner_webhooks.partner_webhook_send(delivery_id=delivery.pk, client=partner)

    # Key rotation and the command line.
    call_command("secrets_reencrypt", stdout=io.StringIO())
    call_command(
        "provider_secret_set", "audited", "webhook_secret", "--generate", stdout=io.StringIO()
    )

    text = log_file.read_text()
    assert "Rejected LSP webhook" in text or "bad_signature" in text  # the log did record things
    for secret in (PROVIDER_SECRET, PROVIDER_TOKEN, CHANNEL_SECRET, generated):
        assert secret not in text
        assert secret.removeprefix("whsec_") not in text
    assert raw_keys_in(text) == []


def test_detector_finds_a_webhook_secret():
    assert raw_keys_in("x " + CHANNEL_SECRET + " y")
    assert raw_keys_in("whsec_test_1 is a factory default") == []
