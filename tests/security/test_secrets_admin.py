"""Secrets are write-only: no admin page shows them to anyone, and the forged-webhook
report (issue 16, item 1) no longer works.

The walk reads every registered admin model from the registry: its changelist, add
page, the change (or view) page and history of one object, and the delete page, as
each role, a staff user without a role and a superuser, after a superuser has set
known secrets through the admin itself (so that the history has entries for them).
No response may hold a secret, its base64 body or its ciphertext.
"""

from __future__ import annotations

import base64
import datetime as dt

import pytest
from django.conf import settings
from django.contrib import admin
from django.contrib.admin.models import LogEntry
from django.contrib.auth import get_user_model
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from backoffice.models import BulkJob
from inventory.models import InboundShipment
from logistics import webhook_signing
from logistics.models import Provider, Shipment, WebhookEndpoint
from orders.models import Channel, Hold, Order
from partners.services import api_key_create
from returns.models import ReturnRequest
from tests.fixtures.admin_forms import admin_change
from tests.logistics.factories import WebhookEndpointFactory
from tests.logistics.helpers import signed_post, tracking_payload

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_password_hashing")]

PROVIDER_SECRET = "whsec_" + base64.b64encode(b"provider-secret-for-the-admin-walk!!").decode()
PROVIDER_TOKEN = "lsp-token-Zq8mN3vR7tY1wK5pX9"
CHANNEL_SECRET = "whsec_" + base64.b64encode(b"channel-secret-for-the-admin-walk!!!").decode()
USERS = ["warehouse", "agent", "manager", "no-role", "admin"]


def _errors(response) -> str:
    form = response.context["adminform"].form
    return (
        f"{form.errors.as_text()} {[f.errors for f in response.context['inline_admin_formsets']]}"
    )


def _raw_column(table: str, column: str, pk: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {table} WHERE id = %s", [pk])  # noqa: S608
        return cursor.fetchone()[0]


@pytest.fixture
def settings_allow_loopback(settings):
    # The demo sandbox provider's base URL is on 127.0.0.1.
    settings.OUTBOUND_ALLOW_HOSTS = ["127.0.0.1"]
    return settings


@pytest.fixture
def secrets_world(admin_book, client, settings_allow_loopback):
    """The admin book, a row in every admin model, and known secrets set by a superuser."""
    sandbox = Provider.objects.get(code="sandbox")
    webshop = Channel.objects.get(code="webshop")
    endpoint = _endpoint("webshop")
    _one_of_everything(webshop)
    superuser = get_user_model().objects.get(username="admin")
    client.force_login(superuser)
    response = admin_change(
        client, sandbox, {"webhook_secret": PROVIDER_SECRET, "api_token": PROVIDER_TOKEN}
    )
    assert response.status_code == 200
    assert "errornote" not in response.content.decode(), _errors(response)
    response = admin_change(client, endpoint, {"secret": CHANNEL_SECRET})
    assert "errornote" not in response.content.decode(), _errors(response)
    client.logout()
    sandbox.refresh_from_db()
    endpoint.refresh_from_db()
    assert sandbox.webhook_secret == PROVIDER_SECRET
    assert sandbox.api_token == PROVIDER_TOKEN
    assert endpoint.secret == CHANNEL_SECRET
    needles = [
        PROVIDER_SECRET, PROVIDER_TOKEN, CHANNEL_SECRET,
        PROVIDER_SECRET.removeprefix("whsec_"), CHANNEL_SECRET.removeprefix("whsec_"),
        # The demo secret the forged webhook was signed with.
        settings.LSP_SANDBOX_WEBHOOK_SECRET,
        # Ciphertext is not readable by anyone either.
        _raw_column("logistics_provider", "webhook_secret", sandbox.pk),
        _raw_column("logistics_provider", "api_token", sandbox.pk),
        _raw_column("logistics_webhookendpoint", "secret", endpoint.pk),
    ]  # fmt: skip
    return {"provider": sandbox, "endpoint": endpoint, "needles": needles}


def _endpoint(channel_code: str) -> WebhookEndpoint:
    """The channel's webhook endpoint (its secret is what partners verify us with)."""
    return WebhookEndpointFactory(
        channel=Channel.objects.get(code=channel_code), url="http://127.0.0.1/hooks"
    )


def _one_of_everything(channel: Channel) -> None:
    """Rows for the admin models the book leaves empty, so each has a change page."""
    order = Order.objects.filter(channel=channel).order_by("pk").first()
    shipment = Shipment.objects.order_by("pk").first()
    api_key_create(channel=channel, name="walk")
    InboundShipment.objects.create(reference="ASN-WALK", warehouse=shipment.warehouse)
    owner = get_user_model().objects.get(username="manager")
    BulkJob.objects.create(kind=BulkJob.Kind.ORDER_EXPORT, created_by=owner, total=1)
    ReturnRequest.objects.create(
        order=shipment.order,
        original_shipment=shipment,
        warehouse=shipment.warehouse,
        currency="EUR",
    )
    if not Hold.objects.exists():
        Hold.objects.create(order=order, reason=Hold.Reason.MANUAL, note="walk")


def _admin_pages() -> list[tuple[str, str]]:
    pages = [("index", reverse("admin:index"))]
    for model in admin.site._registry:
        base = f"admin:{model._meta.app_label}_{model._meta.model_name}"
        pages.append((model._meta.label, reverse(f"{base}_changelist")))
        pages.append((model._meta.label, reverse(f"{base}_add")))
        obj = model._default_manager.order_by("pk").first()
        if obj is not None:
            for view in ("change", "history", "delete"):
                pages.append((model._meta.label, reverse(f"{base}_{view}", args=[obj.pk])))
    # The objects that hold the secrets, whatever the ordering put first.
    for obj in (
        Provider.objects.get(code="sandbox"),
        WebhookEndpoint.objects.filter(channel__code="webshop").first(),
    ):
        model = type(obj)
        base = f"admin:{model._meta.app_label}_{model._meta.model_name}"
        for view in ("change", "history", "delete"):
            pages.append((model._meta.label, reverse(f"{base}_{view}", args=[obj.pk])))
    return pages


def _login(client, username: str):
    user_model = get_user_model()
    if username == "no-role":
        user = user_model.objects.create_user(username="no-role", password="x", is_staff=True)
    else:
        user = user_model.objects.get(username=username)
    client.force_login(user)
    return user


@pytest.mark.parametrize("username", USERS)
def test_no_admin_page_shows_a_secret_to_anyone(secrets_world, client, username):
    _login(client, username)
    pages = _admin_pages()
    models = {label for label, _ in pages}
    assert {"logistics.Provider", "logistics.WebhookEndpoint", "partners.ApiKey"} <= models
    assert len(models) >= 30
    shown = 0
    for label, url in pages:
        response = client.get(url)
        body = b"".join(response) if response.streaming else response.content
        assert response.status_code in (200, 302, 403), (url, response.status_code)
        shown += response.status_code == 200 and label != "index"
        for needle in secrets_world["needles"]:
            assert needle.encode() not in body, f"{label} {url} shows a secret to {username}"
    # Staff without a role is refused everything; every role sees its own pages.
    assert shown if username != "no-role" else not shown, username


@pytest.mark.parametrize("username", ["warehouse", "agent"])
def test_view_only_roles_see_whether_a_secret_is_set_not_what_it_is(
    secrets_world, client, username
):
    _login(client, username)
    provider = secrets_world["provider"]
    response = client.get(reverse("admin:logistics_provider_change", args=[provider.pk]))
    assert response.status_code == 200
    body = response.content.decode()
    assert "(set)" in body
    assert 'name="webhook_secret"' not in body
    assert 'name="_save"' not in body


def test_history_names_the_changed_secret_not_its_value(secrets_world):
    entries = LogEntry.objects.filter(object_id=str(secrets_world["provider"].pk))
    messages = " ".join(entry.get_change_message() + entry.change_message for entry in entries)
    assert "Webhook secret" in messages
    assert "API token" in messages
    for needle in secrets_world["needles"]:
        assert needle not in messages


# --- editing: write-only ----------------------------------------------------------------


@pytest.fixture
def manager_client(admin_book, client, settings_allow_loopback):
    client.force_login(get_user_model().objects.get(username="manager"))
    return client


def test_a_blank_secret_field_keeps_the_stored_secret(manager_client):
    provider = Provider.objects.get(code="sandbox")
    before = provider.webhook_secret
    response = admin_change(manager_client, provider, {"name": "Renamed sandbox"})
    assert "errornote" not in response.content.decode()
    provider.refresh_from_db()
    assert provider.name == "Renamed sandbox"
    assert provider.webhook_secret == before


def test_a_generated_secret_is_shown_once_then_never_again(manager_client):
    endpoint = _endpoint("marketplace")
    response = admin_change(manager_client, endpoint, {"secret_generate": "on"})
    endpoint.refresh_from_db()
    new = endpoint.secret
    assert new.startswith("whsec_")
    webhook_signing.secret_validate(new)
    assert new in response.content.decode()  # the message after saving
    again = manager_client.get(
        reverse("admin:logistics_webhookendpoint_change", args=[endpoint.pk])
    )
    assert new not in again.content.decode()
    assert new.removeprefix("whsec_") not in again.content.decode()


def test_a_typed_webhook_secret_must_be_in_standard_webhooks_format(manager_client):
    endpoint = _endpoint("wholesale")
    before = endpoint.secret
    response = admin_change(manager_client, endpoint, {"secret": "hunter2-not-whsec"})
    body = response.content.decode()
    assert "errornote" in body
    assert "Standard Webhooks secret" in body
    assert "hunter2-not-whsec" not in body  # not even echoed back into the form
    endpoint.refresh_from_db()
    assert endpoint.secret == before


def test_a_secret_can_be_removed(manager_client):
    provider = Provider.objects.get(code="fulfilnet")
    admin_change(manager_client, provider, {"api_token": "tok-123"})
    admin_change(manager_client, provider, {"api_token_clear": "on"})
    provider.refresh_from_db()
    assert provider.api_token == ""
    assert provider.webhook_secret != ""


def test_typing_and_generating_at_once_is_refused(manager_client):
    endpoint = _endpoint("wholesale")
    response = admin_change(
        manager_client, endpoint, {"secret": CHANNEL_SECRET, "secret_generate": "on"}
    )
    assert "one at a time" in response.content.decode()


# --- the reported attack ------------------------------------------------------------------


def test_view_only_user_cannot_obtain_the_secret_and_forged_webhooks_fail(secrets_world, client):
    provider = secrets_world["provider"]
    agent = get_user_model().objects.get(username="agent")
    assert agent.has_perm("logistics.view_provider")
    assert not agent.has_perm("logistics.change_provider")
    client.force_login(agent)
    bodies = b"".join(
        client.get(url).content
        for url in (
            reverse("admin:logistics_provider_changelist"),
            reverse("admin:logistics_provider_change", args=[provider.pk]),
            reverse("admin:logistics_provider_history", args=[provider.pk]),
        )
    )
    for needle in secrets_world["needles"]:
        assert needle.encode() not in bodies
    client.logout()

    shipment = Shipment.objects.filter(provider=provider).order_by("pk").first()
    at = timezone.now() - dt.timedelta(minutes=1)
    payload = tracking_payload(shipment=shipment, status="IN_TRANSIT", at=at)
    # What an attacker might try: the ciphertext, the masked text, the demo default.
    for guess in (
        settings.LSP_SANDBOX_WEBHOOK_SECRET,
        _raw_column("logistics_provider", "webhook_secret", provider.pk),
        "whsec_" + base64.b64encode(b"(set)").decode(),
    ):
        response = signed_post(client, provider=provider, payload=payload, secret=guess)
        assert response.status_code == 401
    # The real secret (known to the LSP only) still verifies.
    assert signed_post(client, provider=provider, payload=payload).status_code == 202
