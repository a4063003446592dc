"""Idempotency-Key handling for partner API POSTs (Stripe semantics, see DESIGN.md).

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
from partners.services import idempotency_begin, idempotency_complete, idempotency_release

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
    response[REPLAYED_HEADER] = "true"
    return response


def _storable(status: int) -> bool:
    return status < 500 and status not in _NOT_STORED


def idempotent(handler):
    """Decorate an APIView's `post`: runs it in a transaction, honouring Idempotency-Key."""

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
        outcome = idempotency_begin(
            api_key=request.auth, key=key, method=request.method, path=request.path, body=body
        )
        if outcome.replay is not None:
            return replay_response(outcome.replay)
        record = outcome.record

        def attempt():
            with transaction.atomic():
                response = handler(view, request, *args, **kwargs)
                if not _storable(response.status_code):
                    raise _Release(response)
                frozen = _frozen(response)
                idempotency_complete(
                    record=record,
                    status=frozen.status_code,
                    content_type=frozen["Content-Type"],
                    body=frozen.content,
                )
                return frozen

        try:
            # A deadlock or serialization failure reruns the whole transaction.
            return db_retry(attempt)
        except _Release as release:
            idempotency_release(record=record)
            return release.response
        except Exception as exc:
            try:
                response = view.handle_exception(exc)
            except Exception:
                idempotency_release(record=record)
                raise
            if not _storable(response.status_code):
                idempotency_release(record=record)
                return response
            frozen = _frozen(response)
            with transaction.atomic():
                idempotency_complete(
                    record=record,
                    status=frozen.status_code,
                    content_type=frozen["Content-Type"],
                    body=frozen.content,
                )
            return frozen

    return wrapper


def _atomic_call(handler, view, request, *args, **kwargs):
    with transaction.atomic():
        return handler(view, request, *args, **kwargs)


class _Release(Exception):  # noqa: N818 - control flow, not an error
    """Roll back the handler's transaction and hand its response back unstored."""

    def __init__(self, response):
        super().__init__("release")
        self.response = response
