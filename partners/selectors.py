"""Reads of the partners domain."""

from __future__ import annotations

import hmac

from django.db.models import QuerySet

from partners.models import ApiKey
from partners.services import api_key_hash


def api_key_for_raw_key(*, raw_key: str) -> ApiKey | None:
    """The active key whose secret is `raw_key` (with its channel), or None."""
    if not raw_key or len(raw_key) > 200:
        return None
    digest = api_key_hash(raw_key)
    api_key = (
        ApiKey.objects.select_related("channel")
        .filter(key_hash=digest, revoked_at__isnull=True)
        .first()
    )
    # The index lookup compares hashes the caller cannot steer; the final check is
    # constant-time anyway, so no code path compares key material with `==`.
    if api_key is None or not hmac.compare_digest(api_key.key_hash, digest):
        return None
    return api_key


def api_keys_for_channel(*, channel) -> QuerySet[ApiKey]:
    return ApiKey.objects.filter(channel=channel).order_by("-created_at")
