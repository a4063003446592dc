"""Writes of the partners domain: API keys and idempotency records."""

from __future__ import annotations

import hashlib
import json
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.utils import timezone

from core.errors import Conflict, DomainError
from core.security_log import security_event
from partners import error_codes
from partners.models import ApiKey, IdempotencyRecord

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
    return generation


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
def api_key_create(*, channel, name: str = "", actor: str = "") -> tuple[ApiKey, str]:
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


@dataclass
class IdempotencyOutcome:
    """Either `record` is ours to execute, or `replay` is the stored first response."""

    record: IdempotencyRecord | None = None
    replay: IdempotencyRecord | None = None


def _lock_timeout() -> timedelta:
    return timedelta(seconds=settings.IDEMPOTENCY_LOCK_TIMEOUT_SECONDS)


def idempotency_begin(
    *, api_key: ApiKey, key: str, method: str, path: str, body: bytes
) -> IdempotencyOutcome:
    """Claim `key` for this request, or find the earlier request that used it.

    Call it outside any transaction (the API runs without ATOMIC_REQUESTS) so
    that the claim commits at once and concurrent requests see it.
    Returns the new in-flight record (the caller executes the request), or the
    completed record to replay. Raises Conflict (409) while another request with
    the key is in flight, and DomainError (422) when the key was used for a
    different request.
    """
    fingerprint = request_fingerprint(method=method, path=path, body=body)
    now = timezone.now()
    with connection.cursor() as cursor:
        # ON CONFLICT DO NOTHING: of N simultaneous requests exactly one inserts.
        cursor.execute(
            """
            INSERT INTO partners_idempotencyrecord
                (api_key_id, key, request_method, request_path, request_hash, state,
                 locked_at, response_content_type, response_body, created_at)
            VALUES (%s, %s, %s, %s, %s, 'in_flight', %s, '', '', %s)
            ON CONFLICT (api_key_id, key) DO NOTHING
            RETURNING id
            """,
            [api_key.pk, key, method.upper(), path[:500], fingerprint, now, now],
        )
        row = cursor.fetchone()
    if row is not None:
        return IdempotencyOutcome(
            record=IdempotencyRecord(
                pk=row[0],
                api_key=api_key,
                key=key,
                request_method=method.upper(),
                request_path=path[:500],
                request_hash=fingerprint,
                state=IdempotencyRecord.State.IN_FLIGHT,
                locked_at=now,
                created_at=now,
            )
        )

    existing = IdempotencyRecord.objects.filter(api_key=api_key, key=key).first()
    if existing is None:
        # Purged or released between our insert and this read: the caller may retry.
        raise Conflict(
            "A request with this Idempotency-Key was just completed or released; retry.",
            code=error_codes.IDEMPOTENCY_KEY_IN_USE,
        )
    if existing.request_hash != fingerprint:
        raise _KeyReused(
            "This Idempotency-Key was already used with a different request "
            f"({existing.request_method} {existing.request_path} with another body). "
            "Use a new key for a new request.",
            code=error_codes.IDEMPOTENCY_KEY_REUSED,
        )
    if existing.state == IdempotencyRecord.State.COMPLETED:
        return IdempotencyOutcome(replay=existing)
    # In flight. A lock older than the timeout belongs to a process that died
    # mid-request (its transaction rolled back): take it over atomically.
    taken = IdempotencyRecord.objects.filter(
        pk=existing.pk,
        state=IdempotencyRecord.State.IN_FLIGHT,
        locked_at__lt=now - _lock_timeout(),
    ).update(locked_at=now)
    if taken:
        existing.locked_at = now
        return IdempotencyOutcome(record=existing)
    raise Conflict(
        "A request with this Idempotency-Key is still being processed. Retry after it completes.",
        code=error_codes.IDEMPOTENCY_KEY_IN_USE,
    )


class _KeyReused(DomainError):
    status = 422
    title = "Idempotency-Key reused with a different request"
    code = error_codes.IDEMPOTENCY_KEY_REUSED


def idempotency_complete(
    *, record: IdempotencyRecord, status: int, content_type: str, body: bytes
) -> None:
    """Store the response of the request that owns `record`.

    Call inside the transaction that made the request's changes: the changes and
    the stored response commit together or not at all.
    """
    updated = IdempotencyRecord.objects.filter(
        pk=record.pk, state=IdempotencyRecord.State.IN_FLIGHT, locked_at=record.locked_at
    ).update(
        state=IdempotencyRecord.State.COMPLETED,
        response_status=status,
        response_content_type=content_type,
        response_body=body.decode("utf-8"),
        completed_at=timezone.now(),
        locked_at=None,
    )
    if not updated:
        # Our lock was taken over after a timeout: another request now owns the key.
        raise Conflict(
            "The Idempotency-Key lock expired while this request was processed.",
            code=error_codes.IDEMPOTENCY_KEY_IN_USE,
        )


def idempotency_release(*, record: IdempotencyRecord) -> None:
    """Forget the claim of a request that did not execute (invalid input, server error),
    so that the client may retry with the same key, as Stripe does."""
    IdempotencyRecord.objects.filter(
        pk=record.pk, state=IdempotencyRecord.State.IN_FLIGHT, locked_at=record.locked_at
    ).delete()


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
