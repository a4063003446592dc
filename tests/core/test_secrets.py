"""Secrets at rest (core/secrets.py): ciphertext in the column, decrypted only when read,
key rotation, production without a key, the migration, error reports, the commands."""

from __future__ import annotations

import io
import sys

import pytest
from cryptography.fernet import Fernet
from django.core import serializers
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import RequestFactory
from django.views.debug import ExceptionReporter

from core import checks as core_checks
from core.secrets import (
    KEEP,
    GeneratedSecret,
    SecretFormField,
    SecretUndecryptable,
    secret_decrypt,
    secret_encrypt,
    secret_reencrypt,
    secrets_key_generate,
)
from logistics import webhook_signing
from logistics.models import Provider, WebhookEndpoint
from tests.logistics.factories import ProviderFactory, WebhookEndpointFactory

SECRET = "whsec_c2VjcmV0LWF0LXJlc3QtdGVzdC1zZWNyZXQtMTIzNDU2"
TOKEN = "lsp-api-token-9f8e7d6c5b4a"


def _raw(table: str, column: str, pk: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {table} WHERE id = %s", [pk])  # noqa: S608
        return cursor.fetchone()[0]


@pytest.fixture
def two_keys(settings):
    old, new = secrets_key_generate(), secrets_key_generate()
    settings.CONSIGN_SECRETS_KEY = [old]
    return settings, old, new


# --- at rest ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_columns_hold_ciphertext_not_the_secret():
    provider = ProviderFactory(webhook_secret=SECRET, api_token=TOKEN)
    endpoint = WebhookEndpointFactory(secret=SECRET)
    stored = [
        _raw("logistics_provider", "webhook_secret", provider.pk),
        _raw("logistics_provider", "api_token", provider.pk),
        _raw("logistics_webhookendpoint", "secret", endpoint.pk),
    ]
    for raw in stored:
        assert raw.startswith("gAAAAA")  # a Fernet token
        assert SECRET not in raw
        assert TOKEN not in raw
        assert SECRET.removeprefix("whsec_") not in raw
    assert [secret_decrypt(raw) for raw in stored] == [SECRET, TOKEN, SECRET]


@pytest.mark.django_db
def test_a_loaded_secret_decrypts_to_what_was_saved():
    provider = ProviderFactory(webhook_secret=SECRET, api_token=TOKEN)
    loaded = Provider.objects.get(pk=provider.pk)
    assert loaded.webhook_secret == SECRET
    assert loaded.api_token == TOKEN
    deferred = Provider.objects.only("code").get(pk=provider.pk)
    assert deferred.webhook_secret == SECRET
    related = WebhookEndpoint.objects.get(pk=WebhookEndpointFactory(secret=SECRET).pk)
    assert related.secret == SECRET


@pytest.mark.django_db
def test_saving_other_fields_keeps_the_stored_token():
    provider = ProviderFactory(webhook_secret=SECRET)
    token = _raw("logistics_provider", "webhook_secret", provider.pk)
    loaded = Provider.objects.get(pk=provider.pk)
    loaded.name = "renamed"
    loaded.save()
    assert _raw("logistics_provider", "webhook_secret", provider.pk) == token


@pytest.mark.django_db
def test_an_empty_secret_stays_empty_and_can_be_filtered_on():
    provider = ProviderFactory(webhook_secret="", api_token="")
    assert _raw("logistics_provider", "api_token", provider.pk) == ""
    assert Provider.objects.filter(pk=provider.pk, api_token="").exists()
    assert Provider.objects.get(pk=provider.pk).api_token == ""


@pytest.mark.django_db
def test_an_update_query_encrypts_too():
    provider = ProviderFactory()
    Provider.objects.filter(pk=provider.pk).update(webhook_secret=SECRET)
    assert SECRET not in _raw("logistics_provider", "webhook_secret", provider.pk)
    assert Provider.objects.get(pk=provider.pk).webhook_secret == SECRET


@pytest.mark.django_db
def test_dumpdata_exports_ciphertext_only():
    ProviderFactory(code="dumped", webhook_secret=SECRET, api_token=TOKEN)
    text = serializers.serialize("json", Provider.objects.filter(code="dumped"))
    assert SECRET not in text
    assert TOKEN not in text
    assert "gAAAAA" in text


def test_round_trip_and_a_new_token_each_time():
    first, second = secret_encrypt(SECRET), secret_encrypt(SECRET)
    assert first != second
    assert secret_decrypt(first) == secret_decrypt(second) == SECRET
    assert secret_encrypt("") == ""


# --- keys and rotation --------------------------------------------------------------------


def test_a_token_opens_with_any_listed_key_and_only_those(two_keys):
    settings, old, new = two_keys
    token = secret_encrypt(SECRET)
    settings.CONSIGN_SECRETS_KEY = [new, old]
    assert secret_decrypt(token) == SECRET
    settings.CONSIGN_SECRETS_KEY = [new]
    with pytest.raises(SecretUndecryptable):
        secret_decrypt(token)


def test_the_first_key_encrypts(two_keys):
    settings, old, new = two_keys
    settings.CONSIGN_SECRETS_KEY = [new, old]
    token = secret_encrypt(SECRET)
    assert Fernet(new.encode()).decrypt(token.encode()).decode() == SECRET
    rotated = secret_reencrypt(token)
    assert Fernet(new.encode()).decrypt(rotated.encode()).decode() == SECRET


@pytest.mark.django_db
def test_reencrypt_command_moves_every_secret_to_the_first_key(two_keys):
    settings, old, new = two_keys
    provider = ProviderFactory(webhook_secret=SECRET, api_token=TOKEN)
    endpoint = WebhookEndpointFactory(secret=SECRET)
    empty = ProviderFactory(webhook_secret="", api_token="")
    settings.CONSIGN_SECRETS_KEY = [new, old]
    out = io.StringIO()
    call_command("secrets_reencrypt", stdout=out)
    assert "Re-encrypted 3 secret(s)" in out.getvalue()
    assert SECRET not in out.getvalue()
    settings.CONSIGN_SECRETS_KEY = [new]  # the old key is gone
    provider = Provider.objects.get(pk=provider.pk)
    assert (provider.webhook_secret, provider.api_token) == (SECRET, TOKEN)
    assert WebhookEndpoint.objects.get(pk=endpoint.pk).secret == SECRET
    assert _raw("logistics_provider", "api_token", empty.pk) == ""


@pytest.mark.django_db
def test_reencrypt_stops_naming_the_row_when_no_key_opens_a_secret(two_keys):
    settings, _old, new = two_keys
    provider = ProviderFactory(webhook_secret=SECRET)
    before = _raw("logistics_provider", "webhook_secret", provider.pk)
    settings.CONSIGN_SECRETS_KEY = [new]
    with pytest.raises(CommandError, match=rf"logistics.Provider pk={provider.pk} webhook_secret"):
        call_command("secrets_reencrypt", stdout=io.StringIO())
    assert _raw("logistics_provider", "webhook_secret", provider.pk) == before


@pytest.mark.django_db
def test_reading_a_secret_with_the_wrong_key_fails_loudly_but_loading_the_row_does_not(two_keys):
    settings, _old, new = two_keys
    provider = ProviderFactory(webhook_secret=SECRET)
    settings.CONSIGN_SECRETS_KEY = [new]
    loaded = Provider.objects.get(pk=provider.pk)  # lists and other fields still work
    assert loaded.code == provider.code
    with pytest.raises(SecretUndecryptable):
        _ = loaded.webhook_secret


def test_without_a_key_secrets_can_be_neither_written_nor_read(settings):
    token = secret_encrypt(SECRET)
    settings.CONSIGN_SECRETS_KEY = []
    with pytest.raises(ImproperlyConfigured, match="CONSIGN_SECRETS_KEY"):
        secret_encrypt(SECRET)
    with pytest.raises(ImproperlyConfigured, match="CONSIGN_SECRETS_KEY"):
        secret_decrypt(token)


def test_checks_refuse_production_without_a_key_and_malformed_keys(settings):
    settings.DEBUG = False
    settings.CONSIGN_SECRETS_KEY = []
    assert [e.id for e in core_checks.secrets_key_check(None)] == ["core.E101"]
    settings.CONSIGN_SECRETS_KEY = ["nope"]
    errors = core_checks.secrets_key_check(None)
    assert [e.id for e in errors] == ["core.E102"]
    assert "nope" not in errors[0].msg
    settings.CONSIGN_SECRETS_KEY = [secrets_key_generate()]
    assert core_checks.secrets_key_check(None) == []
    assert core_checks.secrets_key_deploy_check(None) == []


def test_every_admin_of_a_model_with_secrets_keeps_them_write_only():
    assert core_checks.secret_admin_check(None) == []


def test_key_generate_prints_a_fernet_key():
    out = io.StringIO()
    call_command("secrets_key_generate", stdout=out)
    Fernet(out.getvalue().strip().splitlines()[-1].encode())


# --- the migration ------------------------------------------------------------------------

BEFORE = [
    ("logistics", "0009_inboundwebhook_failed_index"),
    ("orders", "0003_order_channel_status_created"),
]


@pytest.mark.django_db(transaction=True)
def test_migration_encrypts_plaintext_already_stored_and_back():
    executor = MigrationExecutor(connection)
    leaves = executor.loader.graph.leaf_nodes()
    executor.migrate(BEFORE)
    old = executor.loader.project_state(BEFORE).apps
    provider = old.get_model("logistics", "Provider").objects.create(
        code="legacy", name="Legacy", webhook_secret=SECRET, api_token=TOKEN
    )
    channel = old.get_model("orders", "Channel").objects.create(
        code="legacy", name="Legacy", webhook_secret=SECRET, webhook_url="https://partner.test/h"
    )
    try:
        executor = MigrationExecutor(connection)
        executor.migrate(leaves)
        assert SECRET not in _raw("logistics_provider", "webhook_secret", provider.pk)
        assert TOKEN not in _raw("logistics_provider", "api_token", provider.pk)
        # The channel's secret moved to its webhook endpoint (logistics 0016), still encrypted.
        endpoint = WebhookEndpoint.objects.get(channel_id=channel.pk)
        assert SECRET not in _raw("logistics_webhookendpoint", "secret", endpoint.pk)
        migrated = Provider.objects.get(code="legacy")
        assert (migrated.webhook_secret, migrated.api_token) == (SECRET, TOKEN)
        assert endpoint.secret == SECRET

        executor = MigrationExecutor(connection)
        executor.migrate(BEFORE)
        assert _raw("logistics_provider", "webhook_secret", provider.pk) == SECRET
        assert _raw("orders_channel", "webhook_secret", channel.pk) == SECRET
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())


# --- forms ----------------------------------------------------------------------------------


def _field(**kwargs) -> SecretFormField:
    return SecretFormField(
        generate=webhook_signing.secret_generate,
        validators=[webhook_signing.secret_validate],
        **kwargs,
    )


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (["", False, False], KEEP),
        ([SECRET, False, False], SECRET),
        (["", True, False], ""),
    ],
)
def test_secret_form_field_keeps_sets_or_removes(data, expected):
    assert _field().clean(data) == expected


def test_secret_form_field_generates_in_standard_webhooks_format():
    value = _field().clean(["", False, True])
    assert isinstance(value, GeneratedSecret)
    webhook_signing.secret_validate(value)


def test_secret_form_field_never_renders_the_stored_value():
    html = _field().widget.render("webhook_secret", SECRET)
    assert SECRET not in html
    assert 'type="password"' in html


@pytest.mark.parametrize(
    "value",
    [
        "plain-text",
        "whsec_not*base64",
        "whsec_" + "c2hvcnQ=",  # 5 bytes
        "whsec_" + "QUFB" * 30,  # 90 bytes
    ],
)
def test_webhook_secrets_must_be_whsec_base64_of_24_to_64_bytes(value):
    with pytest.raises(ValidationError):
        webhook_signing.secret_validate(value)


def test_generated_webhook_secrets_verify_signatures():
    secret = webhook_signing.secret_generate()
    webhook_signing.secret_validate(secret)
    headers = webhook_signing.sign_headers(secret=secret, body=b"{}")
    assert webhook_signing.verify(secret=secret, headers=headers, body=b"{}")


# --- error reports ------------------------------------------------------------------------


def test_error_reports_mask_secret_parameters_and_variables(settings):
    settings.DEBUG = False
    request = RequestFactory().post(
        "/admin/logistics/provider/1/change/",
        {"webhook_secret": SECRET, "api_token": TOKEN, "name": "visible-name"},
    )

    def verify(secret: str) -> None:
        raise ValueError("boom")

    try:
        verify(SECRET)
    except ValueError:
        report = ExceptionReporter(request, *sys.exc_info()).get_traceback_text()
    assert "visible-name" in report
    assert SECRET not in report
    assert TOKEN not in report


# --- provider_secret_set ----------------------------------------------------------------------


@pytest.mark.django_db
def test_provider_secret_set_reads_stdin(monkeypatch):
    provider = ProviderFactory(code="cli")
    monkeypatch.setattr(sys, "stdin", io.StringIO(SECRET + "\n"))
    out = io.StringIO()
    call_command("provider_secret_set", "cli", "webhook_secret", "--stdin", stdout=out)
    assert SECRET not in out.getvalue()
    assert Provider.objects.get(pk=provider.pk).webhook_secret == SECRET


@pytest.mark.django_db
def test_provider_secret_set_generates_and_prints_once():
    provider = ProviderFactory(code="cli")
    out = io.StringIO()
    call_command("provider_secret_set", "cli", "webhook_secret", "--generate", stdout=out)
    printed = out.getvalue().strip().splitlines()[-1]
    webhook_signing.secret_validate(printed)
    assert Provider.objects.get(pk=provider.pk).webhook_secret == printed


@pytest.mark.django_db
def test_provider_secret_set_refuses_a_malformed_webhook_secret(monkeypatch):
    provider = ProviderFactory(code="cli", webhook_secret=SECRET)
    monkeypatch.setattr(sys, "stdin", io.StringIO("not-a-whsec-secret"))
    with pytest.raises(CommandError, match="Standard Webhooks") as refused:
        call_command("provider_secret_set", "cli", "webhook_secret", "--stdin")
    assert "not-a-whsec-secret" not in str(refused.value)
    assert Provider.objects.get(pk=provider.pk).webhook_secret == SECRET
