"""Outbound requests to user-configured URLs refuse internal destinations, when saved and
when connecting, and never follow redirects. Only loopback servers are used."""

from __future__ import annotations

import ipaddress
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core.exceptions import ValidationError
from django.test import override_settings

from core.ssrf import (
    UnsafeDestination,
    address_refusal,
    allow_entry,
    public_post,
    url_validate_public,
)


class _Recorder(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 - http.server's naming
        self.server.hits.append((self.path, self.headers.get("Host")))
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.server.redirect_to:
            self.send_response(302)
            self.send_header("Location", self.server.redirect_to)
        else:
            self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    def start(redirect_to: str = ""):
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
        httpd.hits = []
        httpd.redirect_to = redirect_to
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        servers.append(httpd)
        return httpd

    servers: list = []
    yield start
    for httpd in servers:
        httpd.shutdown()
        httpd.server_close()


def _url(httpd, host: str = "127.0.0.1") -> str:
    return f"http://{host}:{httpd.server_address[1]}/hook"


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "::1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "fe80::1",
        "100.64.0.1",
        "0.0.0.0",  # noqa: S104 - the address under test
        "::",
        "::ffff:10.0.0.1",
        "::ffff:127.0.0.1",
        "fc00::1",
        "64:ff9b::a00:1",
        "2002:a00:1::",
        "224.0.0.1",
    ],
)
def test_internal_addresses_are_refused(address):
    assert address_refusal(ipaddress.ip_address(address)) is not None


@pytest.mark.parametrize("address", ["93.184.215.14", "2606:4700::1111", "::ffff:93.184.215.14"])
def test_public_addresses_are_allowed(address):
    assert address_refusal(ipaddress.ip_address(address)) is None


def test_a_listed_destination_may_be_internal_but_never_link_local():
    allowed = {"allow_internal": True}
    assert address_refusal(ipaddress.ip_address("127.0.0.1"), **allowed) is None
    assert address_refusal(ipaddress.ip_address("10.0.0.1"), **allowed) is None
    assert address_refusal(ipaddress.ip_address("169.254.169.254"), **allowed) is not None
    assert address_refusal(ipaddress.ip_address("0.0.0.0"), **allowed) is not None  # noqa: S104
    assert address_refusal(ipaddress.ip_address("127.0.0.1")) is not None


@pytest.mark.parametrize(
    ("entry", "parsed"),
    [
        ("127.0.0.1:8700", ("127.0.0.1", 8700)),
        ("LSP.internal", ("lsp.internal", None)),
        ("[::1]:8700", ("::1", 8700)),
        ("http://127.0.0.1:8700/", ("127.0.0.1", 8700)),
    ],
)
def test_allow_list_entries_parse(entry, parsed):
    assert allow_entry(entry) == parsed


@pytest.mark.parametrize("entry", ["", "127.0.0.1:8700/path", "user@host:1", "host:notaport"])
def test_malformed_allow_list_entries_are_refused(entry):
    with pytest.raises(ValueError, match="is not host:port"):
        allow_entry(entry)


@override_settings(OUTBOUND_ALLOW_HOSTS=["127.0.0.1:8700"])
@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("http://127.0.0.1:8700/v1/shipments", True),
        ("http://127.0.0.1:8701/v1/shipments", False),  # another port on the same host
        ("http://127.0.0.1:5432/", False),
        ("http://localhost:8700/", False),  # listed by address, not by name
        ("http://[::1]:8700/", False),
    ],
)
def test_only_the_listed_host_and_port_may_be_loopback(url, allowed):
    if allowed:
        url_validate_public(url)
    else:
        with pytest.raises(ValidationError):
            url_validate_public(url)


def test_production_settings_allow_no_internal_destination(settings):
    """Production (no OUTBOUND_ALLOW_HOSTS): the testers' loopback URLs are all refused."""
    settings.OUTBOUND_ALLOW_HOSTS = []
    for url in ("http://127.0.0.1:5432/", "http://[::1]/", "http://127.0.0.1:56379/"):
        with pytest.raises(ValidationError):
            url_validate_public(url)


@override_settings(OUTBOUND_ALLOW_HOSTS=[])
@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/hook",
        "http://localhost:8000/hook",
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://2130706433/hook",  # 127.0.0.1 as one decimal number
        "http://0x7f.1/hook",
        "ftp://127.0.0.1/x",
        "http://user:pw@127.0.0.1/hook",
    ],
)
def test_saving_an_internal_url_is_refused(url):
    with pytest.raises(ValidationError):
        url_validate_public(url)


@override_settings(OUTBOUND_ALLOW_HOSTS=[])
def test_connect_time_check_refuses_loopback_and_sends_nothing(server):
    httpd = server()
    with pytest.raises(UnsafeDestination):
        public_post(_url(httpd), content=b"{}", headers={}, timeout=2)
    assert httpd.hits == []


@override_settings(OUTBOUND_ALLOW_HOSTS=[])
def test_a_name_that_resolves_internal_at_connect_time_is_refused(server, monkeypatch):
    """DNS rebinding: the name looked public when saved, it resolves to loopback now."""
    httpd = server()
    real = socket.getaddrinfo

    def rebinding(host, *args, **kwargs):
        if host == "partner.example":
            return real("127.0.0.1", *args, **kwargs)
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    with pytest.raises(UnsafeDestination):
        public_post(_url(httpd, "partner.example"), content=b"{}", headers={}, timeout=2)
    assert httpd.hits == []


@override_settings(OUTBOUND_ALLOW_HOSTS=["partner.example", "127.0.0.1"])
def test_request_goes_to_the_checked_address_with_the_original_host(server, monkeypatch):
    httpd = server()
    real = socket.getaddrinfo
    monkeypatch.setattr(
        socket,
        "getaddrinfo",
        lambda host, *a, **k: real("127.0.0.1" if host == "partner.example" else host, *a, **k),
    )
    response = public_post(_url(httpd, "partner.example"), content=b"{}", headers={}, timeout=2)
    assert response.status_code == 204
    assert httpd.hits == [("/hook", f"partner.example:{httpd.server_address[1]}")]


@override_settings(OUTBOUND_ALLOW_HOSTS=["partner.example", "127.0.0.1"])
def test_redirects_are_not_followed(server):
    target = server()
    redirector = server(redirect_to=_url(target))
    response = public_post(_url(redirector), content=b"{}", headers={}, timeout=2)
    assert response.status_code == 302
    assert target.hits == []


@override_settings(OUTBOUND_ALLOW_HOSTS=[])
def test_endpoint_admin_refuses_an_internal_webhook_url(client, superuser):
    from logistics.models import WebhookEndpoint
    from tests.orders.factories import ChannelFactory

    channel = ChannelFactory(code="evil")
    client.force_login(superuser)
    response = client.post(
        "/admin/logistics/webhookendpoint/add/",
        {
            "channel": str(channel.pk),
            "url": "https://169.254.169.254/latest/meta-data/",
            "topics": "order.shipped",
            "active": "on",
        },
    )
    assert response.status_code == 200
    assert b"link-local" in response.content
    assert not WebhookEndpoint.objects.filter(channel=channel).exists()


@override_settings(OUTBOUND_ALLOW_HOSTS=[])
def test_partner_webhook_to_an_internal_address_is_never_sent(db, server):
    from logistics.models import PartnerWebhookDelivery
    from logistics.services import partner_webhooks
    from orders.services import partner_notifications
    from tests.logistics.factories import WebhookEndpointFactory
    from tests.orders.factories import OrderFactory

    httpd = server()
    endpoint = WebhookEndpointFactory(url=_url(httpd), topics=["order.shipped"])
    order = OrderFactory(channel=endpoint.channel)
    delivery = partner_notifications.order_notify(order=order, event="order.shipped")
    partner_webhooks.partner_webhook_send(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert httpd.hits == []
    assert delivery.status == PartnerWebhookDelivery.Status.PENDING
    assert "loopback" in delivery.last_error


@override_settings(OUTBOUND_ALLOW_HOSTS=[])
def test_lsp_adapter_refuses_an_internal_base_url_at_call_time(db, server):
    from logistics.adapters.base import ProviderRejected
    from logistics.adapters.generic_http import GenericHttpAdapter
    from tests.logistics.factories import ProviderFactory

    httpd = server()
    provider = ProviderFactory(base_url=f"http://127.0.0.1:{httpd.server_address[1]}")
    with pytest.raises(ProviderRejected):
        GenericHttpAdapter(provider)._request("POST", "/v1/shipments", json_body={})
    assert httpd.hits == []
