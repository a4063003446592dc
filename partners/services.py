"""Writes of the partners domain: API keys and idempotency records."""

from __future__ import annotations

import hashlib
import json
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.utils import timezone

from core.errors import Conflict, DomainError
from core.inserts import insert_statement, inserted
from core.pipeline import one_row, pipelined, prepared_cursor
from core.security_log import security_event
from partners import error_codes
from partners import sql as partners_sql
from partners.models import ApiKey, IdempotencyRecord

if TYPE_CHECKING:
    from orders.models import Channel

KEY_PREFIX = "csk_"
PREFIX_LENGTH = 12


def api_key_hash(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode()).hexdigest()


GENERATION_CACHE_KEY = "partners:api_keys:generation"


def api_keys_generation() -> str | None:
    """The current generation of API-key state, or None when the cache is unreachable.

    A random token rather than a counter: a Redis flush or eviction then starts a
    generation no process has cached anything under.
    """
    generation = cache.get(GENERATION_CACHE_KEY)
    if generation is None:
        cache.add(GENERATION_CACHE_KEY, uuid.uuid4().hex, timeout=None)
        generation = cache.get(GENERATION_CACHE_KEY)
    return None if generation is None else str(generation)


def api_keys_changed() -> None:
    """Start a new generation now and again once the current transaction commits: keys
    remembered by web processes (partners.selectors) are read again from the database.
    (A request between the two may remember the row as it was before the commit; the
    second renewal forgets it again.)"""
    _generation_renew()
    transaction.on_commit(_generation_renew)


def _generation_renew() -> None:
    cache.set(GENERATION_CACHE_KEY, uuid.uuid4().hex, timeout=None)


@transaction.atomic
def api_key_create(*, channel: Channel, name: str = "", actor: str = "") -> tuple[ApiKey, str]:
    """Create a key for `channel` and return it with the raw secret.

    The raw key exists only in the return value: it is shown once and cannot be
    recovered later.
    """
    raw = KEY_PREFIX + secrets.token_urlsafe(32)
    api_key = ApiKey(
        channel=channel, name=name, prefix=raw[:PREFIX_LENGTH], key_hash=api_key_hash(raw)
    )
    api_key.full_clean()
    api_key.save()
    security_event(
        "api_key.created", key_prefix=api_key.prefix, channel=channel.code, actor=actor or ""
    )
    return api_key, raw


@transaction.atomic
def api_key_revoke(*, api_key: ApiKey, actor: str = "") -> ApiKey:
    """Revoke the key from now on (idempotent: a revoked key keeps its first revocation time)."""
    revoked = ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now(), updated_at=timezone.now()
    )
    api_key.refresh_from_db(fields=["revoked_at", "updated_at"])
    if revoked:
        api_keys_changed()
        security_event(
            "api_key.revoked",
            key_prefix=api_key.prefix,
            channel_id=api_key.channel_id,
            actor=actor or "",
        )
    return api_key


def api_key_touch(*, api_key: ApiKey) -> None:
    """Record use of the key, at most once a minute, so busy partners do not write on every call."""
    now = timezone.now()
    if api_key.last_used_at is not None and now - api_key.last_used_at < timedelta(seconds=60):
        return
    ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
    api_key.last_used_at = now


# --- Idempotency ------------------------------------------------------------------


def request_fingerprint(*, method: str, path: str, body: bytes) -> str:
    """Hash of what makes two requests "the same": method, path and the JSON body.

    Bodies that parse as JSON are canonicalised (sorted keys, no whitespace) so
    that a client re-serialising the same payload is not told it differs.
    """
    try:
        canonical = json.dumps(
            json.loads(body or b"null"), sort_keys=True, separators=(",", ":"), ensure_ascii=True
        ).encode()
    except (ValueError, RecursionError):
        canonical = body
    digest = hashlib.sha256()
    for part in (method.upper().encode(), path.encode(), canonical):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


# The claim on a key is a transaction-level advisory lock on a 64-bit hash of
# (API key, Idempotency-Key), taken inside the request's own transaction: it is
# held exactly while the request runs and goes with its commit or rollback, or
# with its connection when a worker dies, so a crashed request never leaves a
# key blocked. A new statement after the lock sees whatever an earlier holder
# committed (READ COMMITTED takes a new snapshot per statement).
@dataclass
class IdempotencyClaim:
    """What a request with an Idempotency-Key does: execute (`replay` None), or replay
    `replay`, the response stored by the first request with this key and body."""

    fingerprint: str
    replay: IdempotencyRecord | None = None


def _record(api_key: ApiKey, key: str, row: Sequence[Any]) -> IdempotencyRecord:
    record = IdempotencyRecord.from_db(
        connection.alias, partners_sql.IDEMPOTENCY_RECORD_FIELDS, row
    )
    record.api_key, record.key = api_key, key
    return record


def idempotency_claim(
    *, api_key: ApiKey, key: str, method: str, path: str, body: bytes
) -> IdempotencyClaim:
    """Hold `key` for this request until its transaction ends, or find the earlier
    request that used it. Call first thing inside the request's transaction.

    Returns a claim to execute, or the completed record to replay. Raises
    Conflict (409) while another request with the key is running, and
    DomainError (422) when the key was used for a different request.
    """
    fingerprint = request_fingerprint(method=method, path=path, body=body)
    with pipelined(), prepared_cursor() as claim, prepared_cursor() as read:
        claim.execute(partners_sql.IDEMPOTENCY_CLAIM_SQL, [f"{api_key.pk}:{key}"], prepare=True)
        read.execute(partners_sql.IDEMPOTENCY_RECORD_SQL, [api_key.pk, key], prepare=True)
        (held,) = one_row(claim)
        row = read.fetchone()
    if not held:
        raise Conflict(
            "A request with this Idempotency-Key is still being processed. "
            "Retry after it completes.",
            code=error_codes.IDEMPOTENCY_KEY_IN_USE,
        )
    if row is None:
        return IdempotencyClaim(fingerprint=fingerprint)
    existing = _record(api_key, key, row)
    if existing.request_hash != fingerprint:
        raise _KeyReused(
            "This Idempotency-Key was already used with a different request "
            f"({existing.request_method} {existing.request_path} with another body). "
            "Use a new key for a new request.",
            code=error_codes.IDEMPOTENCY_KEY_REUSED,
        )
    return IdempotencyClaim(fingerprint=fingerprint, replay=existing)


class _KeyReused(DomainError):
    status = 422
    title = "Idempotency-Key reused with a different request"
    code = error_codes.IDEMPOTENCY_KEY_REUSED


def idempotency_store(
    *,
    api_key: ApiKey,
    key: str,
    method: str,
    path: str,
    fingerprint: str,
    status: int,
    content_type: str,
    body: bytes,
    location: str = "",
) -> IdempotencyRecord | None:
    """Store the response of the request that used `key`; None if a response is
    already stored for the key (that one stands).

    Inside the transaction that holds the claim, so that the request's changes
    and its stored response commit together or not at all. After a failed
    request's rollback (the claim went with it) it runs in a transaction of its
    own: the insert then waits for, and yields to, a request with the same key
    that ran in between (which, the failed one having changed nothing, had the
    same starting point).
    """
    now = timezone.now()
    record = IdempotencyRecord(
        api_key=api_key,
        key=key,
        request_method=method.upper(),
        request_path=path[:500],
        request_hash=fingerprint,
        response_status=status,
        response_content_type=content_type,
        response_body=body.decode("utf-8"),
        response_location=location,
        created_at=now,
        completed_at=now,
    )
    sql, params = insert_statement(
        record, returning=True, suffix="ON CONFLICT (api_key_id, key) DO NOTHING"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    inserted(record, row[0])
    return record


def idempotency_records_purge(*, older_than: timedelta | None = None) -> int:
    """Delete records older than the retention (IDEMPOTENCY_KEY_TTL_HOURS, at least 24 h).

    Returns how many were deleted. Deletes in batches to keep transactions short.
    """
    if older_than is None:
        older_than = timedelta(hours=max(24, settings.IDEMPOTENCY_KEY_TTL_HOURS))
    cutoff = timezone.now() - older_than
    deleted_total = 0
    while True:
        batch = list(
            IdempotencyRecord.objects.filter(created_at__lt=cutoff).values_list("pk", flat=True)[
                :5000
            ]
        )
        if not batch:
            return deleted_total
        deleted, _ = IdempotencyRecord.objects.filter(pk__in=batch).delete()
        deleted_total += deleted
