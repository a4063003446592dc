"""Reads of the partners domain."""

from __future__ import annotations

import hmac
import time

from django.conf import settings

from partners.models import ApiKey
from partners.services import api_key_hash, api_keys_generation

# digest -> (active key with its channel, generation it was read under, monotonic time)
_cached: dict[str, tuple[ApiKey, str, float]] = {}
_CACHED_MAX = 1000


def api_key_for_raw_key(*, raw_key: str) -> ApiKey | None:
    """The active key whose secret is `raw_key` (with its channel), or None.

    Active keys are remembered per process for API_KEY_CACHE_SECONDS, but only
    while the shared generation in Redis is the one they were read under: every
    revocation, key or channel change sets a new generation (on commit), so it
    takes effect on the next request in every process. Without Redis nothing is
    remembered and every request reads the database.
    """
    if not raw_key or len(raw_key) > 200:
        return None
    digest = api_key_hash(raw_key)
    generation = api_keys_generation() if settings.API_KEY_CACHE_SECONDS > 0 else None
    if generation is not None:
        hit = _cached.get(digest)
        if (
            hit is not None
            and hit[1] == generation
            and time.monotonic() - hit[2] < settings.API_KEY_CACHE_SECONDS
            and hmac.compare_digest(hit[0].key_hash, digest)
        ):
            return hit[0]
    api_key = _api_key_read(digest)
    if generation is not None and api_key is not None:
        if len(_cached) >= _CACHED_MAX:
            _cached.clear()
        _cached[digest] = (api_key, generation, time.monotonic())
    return api_key


def _api_key_read(digest: str) -> ApiKey | None:
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
