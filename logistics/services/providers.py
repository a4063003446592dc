"""Provider configuration that is not plain admin editing: setting its secrets."""

from __future__ import annotations

from django.db import transaction

from core.secrets import EncryptedSecretField, secret_fields
from logistics.models import Provider

SECRET_FIELDS = tuple(f.name for f in secret_fields(Provider))


@transaction.atomic
def provider_secret_set(*, provider: Provider, field: str, value: str) -> Provider:
    """Store `value` as the provider's `field` (api_token or webhook_secret), encrypted.

    "" removes it. A new value must pass the field's input validators (a webhook secret
    is `whsec_` + base64). Takes effect for webhooks at once in this process and within
    the provider cache's few seconds elsewhere (logistics/views.py). Raises
    django.core.exceptions.ValidationError for a refused value, ValueError for a field
    that is not a secret.
    """
    model_field = Provider._meta.get_field(field) if field in SECRET_FIELDS else None
    if not isinstance(model_field, EncryptedSecretField):
        raise ValueError(f"{field!r} is not a secret of a provider ({', '.join(SECRET_FIELDS)}).")
    if value:
        for validate in model_field.input_validators:
            validate(value)
    setattr(provider, field, value)
    provider.save(update_fields=[field, "updated_at"])
    return provider
