"""Access-control matrix: every API endpoint, back-office page, admin page and object action,
called by someone without the right (anonymous, another channel's key, a staff user without
the role, the wrong role), answers 401/403/404 or a redirect to the login page, never the
data, and each denial leaves a line in the security log.

The callers who may see the data get it with `Cache-Control: no-store, private`.

The URL lists are read from the URLconf and the admin registry, so a new page or model
is covered (or this test fails asking for an object to point it at).
"""

from __future__ import annotations

import datetime as dt
import logging

import pytest
from django.contrib import admin
from django.urls import URLPattern, reverse
from rest_framework.test import APIClient

from backoffice import urls as backoffice_urls
from backoffice.models import BulkJob
from core import roles
from economics.models import Dispute, Invoice
from inventory.models import InboundShipment
from logistics.models import PartnerWebhookDelivery, PickWave
from logistics.services.partner_events import partner_event_publish
from orders.models import Hold
from partners.services import api_key_create, api_key_revoke
from returns.models import ReturnRequest
from routing.models import Rule, WhatIfRun
from routing.services.rulesets import ruleset_draft_create
from tests.inventory.factories import ProductFactory, StockLevelFactory, WarehouseFactory
from tests.logistics.factories import ShipmentFactory, WebhookEndpointFactory
from tests.orders.factories import ChannelFactory, OrderFactory

SECRET_MARK = "victim-secret@example.com"
# A body valid for every POST above, so that a refusal is about the caller, not the input.
API_BODY = '{"lines": [{"line_number": 1, "quantity": 1, "reason": "damaged"}], "reason": "x"}'
LOGIN_PATH = "/admin/login/"


@pytest.fixture
def world(db, make_user):
    channel = ChannelFactory(code="victim")
    order = OrderFactory(channel=channel, customer_email=SECRET_MARK, customer_name="Victim Person")
    hold = Hold.objects.create(order=order, reason=Hold.Reason.MANUAL, note="x")
    warehouse = WarehouseFactory()
    level = StockLevelFactory(warehouse=warehouse)
    shipment = ShipmentFactory(order=order, warehouse=warehouse)
    # The victim channel's ASN carries the order's number too, so that every `{number}`
    # URL below names a real object of the victim for the inbound-shipment routes as well.
    inbound = InboundShipment.objects.create(
        reference="ASN-VICTIM", warehouse=warehouse, channel=channel, number=order.number
    )
    owner = make_user("job-owner", roles.OPERATIONS_MANAGER)
    job = BulkJob.objects.create(kind=BulkJob.Kind.ORDER_EXPORT, created_by=owner, total=1)
    return_request = ReturnRequest.objects.create(
        order=order, original_shipment=shipment, warehouse=warehouse, currency="EUR"
    )
    invoice = Invoice.objects.create(
        provider=shipment.provider, number="INV-VICTIM", currency="EUR",
        period_start=dt.date(2026, 11, 1), period_end=dt.date(2026, 11, 30),
        invoiced_total=1, expected_total=0, summary={"lines": 1},
    )  # fmt: skip
    dispute = Dispute.objects.create(
        invoice=invoice, shipment=shipment, kind="not_invoiced", expected=1, difference=-1,
        note=SECRET_MARK,
    )  # fmt: skip
    endpoint = WebhookEndpointFactory(channel=channel, topics=["order.shipped"])
    wave = PickWave.objects.create(warehouse=warehouse, number=1)
    partner_event_publish(channel_id=channel.pk, topic="order.shipped", data={"n": 1})
    rule_set = ruleset_draft_create(name="victim rules", actor="owner")
    rule = Rule.objects.create(rule_set=rule_set, position=1, name="victim rule")
    run = WhatIfRun.objects.create(
        rule_set=rule_set, period_start=dt.date(2026, 11, 1), period_end=dt.date(2026, 11, 30),
        stock_assumption=SECRET_MARK,
    )  # fmt: skip
    return {
        "channel": channel,
        "order": order,
        "number": order.number,
        "sku": ProductFactory(sku="VICTIM-SKU").sku,
        "hold_id": hold.pk,
        "level_id": level.pk,
        "shipment_id": shipment.pk,
        "inbound_id": inbound.pk,
        "job_id": job.pk,
        "return_id": return_request.pk,
        "invoice_id": invoice.pk,
        "dispute_id": dispute.pk,
        "kind": "packing-slip",
        "endpoint_id": endpoint.pk,
        "delivery_id": PartnerWebhookDelivery.objects.get(endpoint=endpoint).pk,
        "ruleset_id": rule_set.pk,
        "rule_id": rule.pk,
        "wave_id": wave.pk,
        "run_id": run.pk,
    }


def _backoffice_urls(world) -> list[tuple[str, str]]:
    """(name, url) for every back-office pattern, with ids of `world`'s objects."""
    out = []
    for pattern in backoffice_urls.urlpatterns:
        assert isinstance(pattern, URLPattern)
        kwargs = {}
        for name in pattern.pattern.converters:
            assert name in world, f"no test object for <{name}> in {pattern.name}"
            kwargs[name] = world[name]
        out.append((pattern.name, reverse(f"backoffice:{pattern.name}", kwargs=kwargs)))
    return out


def _denied_logged(caplog, path: str) -> bool:
    return any(
        r.name == "consign.security"
        and getattr(r, "path", None) == path
        and getattr(r, "event", "").startswith(("access.", "api_key.rejected"))
        for r in caplog.records
    )


def _assert_no_data(response) -> None:
    body = b"".join(response) if response.streaming else response.content
    assert SECRET_MARK.encode() not in body


# --- partner API ------------------------------------------------------------------

API_OBJECT_URLS = [
    ("GET", "/api/v1/orders/{number}/"),
    ("POST", "/api/v1/orders/{number}/cancel/"),
    ("GET", "/api/v1/orders/{number}/shipments/"),
    ("GET", "/api/v1/orders/{number}/shipments/{shipment_id}/documents/packing-slip.pdf"),
    ("GET", "/api/v1/orders/{number}/returns/"),
    ("POST", "/api/v1/orders/{number}/returns/"),
    ("GET", "/api/v1/inbound-shipments/{number}/"),
    ("POST", "/api/v1/inbound-shipments/{number}/cancel/"),
    ("GET", "/api/v1/webhook-endpoints/{endpoint_id}/"),
    ("PATCH", "/api/v1/webhook-endpoints/{endpoint_id}/"),
    ("DELETE", "/api/v1/webhook-endpoints/{endpoint_id}/"),
    ("POST", "/api/v1/webhook-endpoints/{endpoint_id}/rotate-secret"),
    ("GET", "/api/v1/webhook-endpoints/{endpoint_id}/deliveries/"),
    ("POST", "/api/v1/webhook-endpoints/{endpoint_id}/deliveries/{delivery_id}/retry"),
]
API_COLLECTION_URLS = [
    ("GET", "/api/v1/orders/"),
    ("POST", "/api/v1/orders/"),
    ("POST", "/api/v1/orders/batch"),
    ("GET", "/api/v1/products/"),
    ("POST", "/api/v1/products/batch"),
    # One catalogue shared by every channel (decision 0008): any valid key reads a
    # product, so these are refused to callers without a key, not hidden per channel.
    ("GET", "/api/v1/products/{sku}/"),
    ("PUT", "/api/v1/products/{sku}/"),
    ("GET", "/api/v1/inventory/?sku=X"),
    ("GET", "/api/v1/inbound-shipments/"),
    ("POST", "/api/v1/inbound-shipments/"),
    ("GET", "/api/v1/webhook-endpoints/"),
    ("POST", "/api/v1/webhook-endpoints/"),
]


def test_api_url_list_covers_every_v1_route():
    from partners.urls import v1

    names = {
        "<order_number:number>": "{number}",
        "<int:shipment_id>": "{shipment_id}",
        "<slug:kind>": "packing-slip",
        "<sku:sku>": "{sku}",
        "<int:endpoint_id>": "{endpoint_id}",
        "<int:delivery_id>": "{delivery_id}",
    }
    routes = set()
    for p in v1:
        route = "/api/v1/" + str(p.pattern)
        for converter, value in names.items():
            route = route.replace(converter, value)
        routes.add(route)
    covered = {u.split("?")[0] for _, u in API_OBJECT_URLS + API_COLLECTION_URLS}
    assert routes == covered


@pytest.mark.parametrize(("method", "template"), API_OBJECT_URLS + API_COLLECTION_URLS)
def test_api_refuses_anonymous_callers(world, caplog, method, template):
    caplog.set_level(logging.INFO, logger="consign.security")
    url = template.format(**world)
    response = APIClient().generic(method, url, API_BODY, content_type="application/json")
    assert response.status_code == 401
    _assert_no_data(response)
    assert _denied_logged(caplog, url.split("?")[0])


@pytest.mark.parametrize(("method", "template"), API_OBJECT_URLS + API_COLLECTION_URLS)
def test_api_refuses_revoked_keys(world, caplog, method, template):
    caplog.set_level(logging.INFO, logger="consign.security")
    api_key, raw = api_key_create(channel=world["channel"])
    api_key_revoke(api_key=api_key)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    url = template.format(**world)
    response = client.generic(method, url, API_BODY, content_type="application/json")
    assert response.status_code == 401
    _assert_no_data(response)
    assert _denied_logged(caplog, url.split("?")[0])


@pytest.mark.parametrize(("method", "template"), API_OBJECT_URLS)
def test_api_hides_another_channels_order(world, caplog, method, template):
    caplog.set_level(logging.INFO, logger="consign.security")
    _, raw = api_key_create(channel=ChannelFactory(code="attacker"))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    url = template.format(**world)
    response = client.generic(method, url, API_BODY, content_type="application/json")
    assert response.status_code == 404
    _assert_no_data(response)
    assert _denied_logged(caplog, url)
    world["order"].refresh_from_db()
    assert world["order"].status != "cancelled"
    assert InboundShipment.objects.get(pk=world["inbound_id"]).status == "sent"


def test_api_list_never_shows_another_channels_orders(world):
    _, raw = api_key_create(channel=ChannelFactory(code="attacker"))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    response = client.get(f"/api/v1/orders/?external_reference={world['order'].external_reference}")
    assert response.status_code == 200
    assert response.json()["results"] == []
    _assert_no_data(response)


# --- back office ------------------------------------------------------------------


def _call(client, url: str):
    # GET and POST both: a POST-only action must refuse before it looks at the form.
    return [client.get(url), client.post(url, {"reason": "manual", "note": "x"})]


def test_backoffice_redirects_anonymous_callers_to_login(world, client, caplog):
    caplog.set_level(logging.INFO, logger="consign.security")
    for name, url in _backoffice_urls(world):
        for response in _call(client, url):
            if response.status_code == 405:
                continue
            assert response.status_code == 302, (name, response.status_code)
            assert response["Location"].startswith(LOGIN_PATH), name
        assert _denied_logged(caplog, url), name


def test_backoffice_refuses_staff_without_a_role(world, client, make_user, caplog):
    caplog.set_level(logging.INFO, logger="consign.security")
    client.force_login(make_user("no-role"))
    for name, url in _backoffice_urls(world):
        if name == "home":  # everyone's landing page: links only, no data
            continue
        for response in _call(client, url):
            assert response.status_code in (403, 404, 405), (name, response.status_code)
            _assert_no_data(response)
        assert _denied_logged(caplog, url), name


@pytest.mark.parametrize(
    ("role", "prefixes"),
    [
        (roles.CUSTOMER_SERVICE, ("/warehouse/", "/ops/", "/desk/orders/{n}/reroute")),
        (
            roles.WAREHOUSE,
            (
                "/ops/",
                "/desk/orders/{n}/hold",
                "/desk/orders/{n}/notes",
                "/desk/orders/{n}/cancel",
                "/desk/orders/{n}/reroute",
            ),
        ),
    ],
)
def test_backoffice_refuses_the_wrong_role(world, client, make_user, caplog, role, prefixes):
    caplog.set_level(logging.INFO, logger="consign.security")
    client.force_login(make_user(f"user-{role}", role))
    prefixes = tuple(p.format(n=world["number"]) for p in prefixes)
    checked = 0
    for name, url in _backoffice_urls(world):
        if not url.startswith(prefixes):
            continue
        for response in _call(client, url):
            assert response.status_code in (403, 405), (name, response.status_code)
            _assert_no_data(response)
        assert _denied_logged(caplog, url), name
        checked += 1
    assert checked >= 3


# --- admin ------------------------------------------------------------------------


def _admin_urls() -> list[str]:
    urls = []
    for model in admin.site._registry:
        base = f"admin:{model._meta.app_label}_{model._meta.model_name}"
        urls.append(reverse(f"{base}_changelist"))
        urls.append(reverse(f"{base}_add"))
        obj = model._default_manager.order_by("pk").first()
        if obj is not None:
            urls.append(reverse(f"{base}_change", args=[obj.pk]))
            urls.append(reverse(f"{base}_delete", args=[obj.pk]))
            urls.append(reverse(f"{base}_history", args=[obj.pk]))
    return urls


def test_admin_redirects_anonymous_callers_to_login(world, client, caplog):
    caplog.set_level(logging.INFO, logger="consign.security")
    urls = _admin_urls()
    assert len(urls) > 50
    for url in urls:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(LOGIN_PATH), url
        assert _denied_logged(caplog, url), url


def test_admin_refuses_staff_without_permissions(world, client, make_user, caplog):
    caplog.set_level(logging.INFO, logger="consign.security")
    client.force_login(make_user("no-role"))
    for url in _admin_urls():
        response = client.get(url)
        assert response.status_code == 403, url
        _assert_no_data(response)
        assert _denied_logged(caplog, url), url


def test_admin_refuses_the_wrong_role_on_stock_and_keys(world, client, agent, caplog):
    caplog.set_level(logging.INFO, logger="consign.security")
    client.force_login(agent)
    refused = [
        u
        for u in _admin_urls()
        if u.startswith(("/admin/inventory/stocklevel", "/admin/partners/"))
    ]
    assert refused
    for url in refused:
        response = client.get(url)
        assert response.status_code == 403, url
        assert _denied_logged(caplog, url), url


def test_admin_bulk_action_needs_change_permission(world, client, agent, caplog):
    caplog.set_level(logging.INFO, logger="consign.security")
    api_key, _ = api_key_create(channel=world["channel"])
    client.force_login(agent)
    url = reverse("admin:partners_apikey_changelist")
    response = client.post(url, {"action": "revoke", "_selected_action": [api_key.pk]})
    assert response.status_code == 403
    api_key.refresh_from_db()
    assert api_key.revoked_at is None


# --- caching ----------------------------------------------------------------------


def _assert_no_store(response, what) -> None:
    cache_control = {part.strip() for part in response.get("Cache-Control", "").split(",")}
    assert {"no-store", "private"} <= cache_control, (what, response.get("Cache-Control"))


def test_every_page_and_api_answer_with_customer_data_is_no_store(world, admin_client):
    # The allowed callers, who get the data: nothing on the way may keep a copy.
    for name, url in _backoffice_urls(world):
        response = admin_client.get(url)
        _assert_no_store(response, name)
    for url in ("/desk/?q=victim-secret@example.com", f"/desk/orders/{world['number']}/"):
        response = admin_client.get(url)
        assert response.status_code == 200
        assert SECRET_MARK.encode() in response.content
        _assert_no_store(response, url)
    _, raw = api_key_create(channel=world["channel"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    for method, template in API_OBJECT_URLS + API_COLLECTION_URLS:
        if method == "GET":
            response = client.get(template.format(**world))
            _assert_no_store(response, template)
    assert SECRET_MARK in client.get(f"/api/v1/orders/{world['number']}/").content.decode()
    # Answers made outside the views: a 404 problem, the login page.
    _assert_no_store(client.get("/api/v1/nothing-here/"), "api 404")
    _assert_no_store(APIClient().get("/api/v1/orders/"), "api 401")
    _assert_no_store(admin_client.get("/admin/"), "admin")


def test_static_files_keep_their_caching(client):
    response = client.get("/static/backoffice/app.js")
    assert response.status_code == 200
    assert "public" in response["Cache-Control"]
    assert "no-store" not in response["Cache-Control"]
