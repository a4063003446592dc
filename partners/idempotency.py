"""Idempotency-Key handling for partner API POSTs and PATCHes (Stripe semantics, see DESIGN.md).

The stored response commits in the same transaction as the request's own
changes, so a crash can never leave an order without its idempotency record
(or the reverse).
"""

from __future__ import annotations

import re
from functools import partial, wraps

from django.db import transaction
from django.http import HttpResponse
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from core.db_retry import db_retry
from core.errors import DomainError
from partners import error_codes
from partners.models import IdempotencyRecord
from partners.services import idempotency_claim, idempotency_store

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
_VALID_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
# Responses to requests that never started executing are not stored, so the
# client may fix the request and retry with the same key (as Stripe does).
_NOT_STORED = frozenset({400, 401, 403, 413, 415, 422, 429})
_COPIED_HEADERS = ("Location", "Retry-After")


class InvalidIdempotencyKey(DomainError):
    status = 400
    title = "Invalid Idempotency-Key header"
    code = error_codes.IDEMPOTENCY_KEY_INVALID


def _frozen(response: HttpResponse) -> HttpResponse:
    """The response as bytes, exactly as it will be stored and replayed."""
    if not isinstance(response, Response):  # rendered already (json_text_response)
        return response
    content_type = response.content_type or "application/json"
    body = JSONRenderer().render(response.data) if response.data is not None else b""
    frozen = HttpResponse(body, status=response.status_code, content_type=content_type)
    for name in _COPIED_HEADERS:
        if name in response:
            frozen[name] = response[name]
    return frozen


def replay_response(record: IdempotencyRecord) -> HttpResponse:
    response = HttpResponse(
        record.response_body.encode("utf-8"),
        status=record.response_status,
        content_type=record.response_content_type or "application/json",
    )
    if record.response_location:
        response["Location"] = record.response_location
    response[REPLAYED_HEADER] = "true"
    return response


def _storable(status: int) -> bool:
    return status < 500 and status not in _NOT_STORED


def idempotent(handler):
    """Decorate an APIView's `post` or `patch`: runs it in a transaction, honouring
    Idempotency-Key (the fingerprint covers method, path and body, so a key used for one
    request is 422 for any other)."""

    @wraps(handler)
    def wrapper(view, request, *args, **kwargs):
        key = request.headers.get(HEADER)
        if key is None:
            return db_retry(partial(_atomic_call, handler, view, request, *args, **kwargs))
        if not _VALID_KEY.match(key):
            raise InvalidIdempotencyKey(
                "Idempotency-Key must be 1 to 255 printable ASCII characters without spaces."
            )
        # Read the raw body before DRF parses it: the fingerprint covers the bytes sent.
        body = request._request.body
        method, path, api_key = request.method, request.path, request.auth
        claims = []

        def attempt():
            claims.clear()
            with transaction.atomic():
                # The claim is the transaction's own: a rollback (or a dead worker's
                # lost connection) frees the key, so an unstored failure can be retried.
                claim = idempotency_claim(
                    api_key=api_key, key=key, method=method, path=path, body=body
                )
                if claim.replay is not None:
                    return replay_response(claim.replay)
                claims.append(claim)
                response = handler(view, request, *args, **kwargs)
                if not _storable(response.status_code):
                    raise _Release(response)
                frozen = _frozen(response)
                _store(api_key, key, method, path, claim, frozen)
                return frozen

        try:
            # A deadlock or serialization failure reruns the whole transaction.
            return db_retry(attempt)
        except _Release as release:
            return release.response
        except Exception as exc:
            if not claims:  # the key was in flight or reused: nothing ran, nothing to store
                raise
            # The handler failed and its transaction rolled back; a storable answer
            # (a 409 conflict, say) is kept for the key like a success.
            response = view.handle_exception(exc)
            if not _storable(response.status_code):
                return response
            frozen = _frozen(response)
            with transaction.atomic():
                _store(api_key, key, method, path, claims[-1], frozen)
            return frozen

    return wrapper


def _store(api_key, key, method, path, claim, frozen: HttpResponse) -> None:
    idempotency_store(
        api_key=api_key,
        key=key,
        method=method,
        path=path,
        fingerprint=claim.fingerprint,
        status=frozen.status_code,
        content_type=frozen["Content-Type"],
        body=frozen.content,
        location=frozen.get("Location", ""),
    )


def _atomic_call(handler, view, request, *args, **kwargs):
    with transaction.atomic():
        return handler(view, request, *args, **kwargs)


class _Release(Exception):  # noqa: N818 - control flow, not an error
    """Roll back the handler's transaction and hand its response back unstored."""

    def __init__(self, response):
        super().__init__("release")
        self.response = response
