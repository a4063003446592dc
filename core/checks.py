"""System checks: stored secrets need a real key, every admin of a model with secrets
keeps them write-only, and the outbound allow-list is well formed."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core import checks

from config.env import DEVELOPMENT_SECRETS_KEY


@checks.register(checks.Tags.security)
def secrets_key_check(
    app_configs: Sequence[AppConfig] | None, **kwargs: Any
) -> list[checks.CheckMessage]:
    """Production (DEBUG off) cannot start without CONSIGN_SECRETS_KEY; a bad key never."""
    from core.secrets import secrets_keys_invalid

    keys = settings.CONSIGN_SECRETS_KEY
    errors: list[checks.CheckMessage] = []
    if not keys and not settings.DEBUG:
        errors.append(
            checks.Error(
                "CONSIGN_SECRETS_KEY is not set: stored secrets can be neither read nor written.",
                hint="Generate a key with `python manage.py secrets_key_generate` and set it "
                "in the environment (docs/operations.md).",
                id="core.E101",
            )
        )
    bad = secrets_keys_invalid(keys)
    if bad:
        errors.append(
            checks.Error(
                f"CONSIGN_SECRETS_KEY entry {', '.join(map(str, bad))} is not a Fernet key.",
                hint="Each key is 32 url-safe base64-encoded bytes, as printed by "
                "`python manage.py secrets_key_generate`.",
                id="core.E102",
            )
        )
    return errors


@checks.register(checks.Tags.security, deploy=True)
def secrets_key_deploy_check(
    app_configs: Sequence[AppConfig] | None, **kwargs: Any
) -> list[checks.CheckMessage]:
    """The development key is public: a deployment must bring its own."""
    if not settings.CONSIGN_SECRETS_KEY or DEVELOPMENT_SECRETS_KEY in settings.CONSIGN_SECRETS_KEY:
        return [
            checks.Error(
                "CONSIGN_SECRETS_KEY is unset or holds the public development key.",
                hint="Set CONSIGN_SECRETS_KEY to a key of your own "
                "(`python manage.py secrets_key_generate`); docs/operations.md.",
                id="core.E103",
            )
        ]
    return []


@checks.register(checks.Tags.admin)
def secret_admin_check(
    app_configs: Sequence[AppConfig] | None, **kwargs: Any
) -> list[checks.CheckMessage]:
    """A model with an EncryptedSecretField is only registered with SecretFieldsAdminMixin."""
    from django.contrib import admin

    from core.admin_secrets import SecretFieldsAdminMixin
    from core.secrets import secret_fields

    errors: list[checks.CheckMessage] = []
    for model, model_admin in admin.site._registry.items():
        if secret_fields(model) and not isinstance(model_admin, SecretFieldsAdminMixin):
            errors.append(
                checks.Error(
                    f"{type(model_admin).__name__} shows {model._meta.label}, which has "
                    "secrets, without SecretFieldsAdminMixin.",
                    hint="Add core.admin_secrets.SecretFieldsAdminMixin to the ModelAdmin.",
                    obj=model_admin,
                    id="core.E104",
                )
            )
    return errors


@checks.register(checks.Tags.security)
def outbound_allow_hosts_check(
    app_configs: Sequence[AppConfig] | None, **kwargs: Any
) -> list[checks.CheckMessage]:
    """Every OUTBOUND_ALLOW_HOSTS entry parses, and the removed loopback switch is not relied on."""
    from core.ssrf import allow_entry

    errors: list[checks.CheckMessage] = []
    for entry in settings.OUTBOUND_ALLOW_HOSTS:
        try:
            allow_entry(entry)
        except ValueError:
            errors.append(
                checks.Error(
                    f"OUTBOUND_ALLOW_HOSTS entry {entry!r} is not host:port or host.",
                    hint="List destinations such as 127.0.0.1:8700 or lsp.internal:443, "
                    "comma-separated.",
                    id="core.E105",
                )
            )
    if "OUTBOUND_ALLOW_LOOPBACK" in os.environ:
        errors.append(
            checks.Warning(
                "OUTBOUND_ALLOW_LOOPBACK is no longer read: loopback is never allowed as a whole.",
                hint="List the destinations that may be loopback or private in "
                "OUTBOUND_ALLOW_HOSTS (host:port).",
                id="core.W106",
            )
        )
    return errors
