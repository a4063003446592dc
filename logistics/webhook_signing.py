"""Standard Webhooks signing (https://www.standardwebhooks.com/), used both ways.

Inbound LSP webhooks are verified with the provider's secret; outbound partner
webhooks and the LSP sandbox sign with the same scheme, so a partner can use any
Standard Webhooks library to verify us.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import time
import uuid
from collections.abc import Mapping, Sequence

from django.core.exceptions import ValidationError

SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret
DEFAULT_TOLERANCE_SECONDS = 300
# The spec's recommended range for the key behind "whsec_" (192 to 512 bits).
SECRET_MIN_BYTES = 24
SECRET_MAX_BYTES = 64
SECRET_NEW_BYTES = 32


class WebhookVerificationError(Exception):
    """The request is not a validly signed, fresh webhook."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def secret_key(secret: str) -> bytes:
    """The HMAC key of a secret: `whsec_<base64>` per the spec, else the raw text."""
    if secret.startswith(SECRET_PREFIX):
        encoded = secret[len(SECRET_PREFIX) :]
        try:
            return base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            # Hand-typed secrets such as "whsec_demo" are not base64; use them as text
            # on both sides rather than refusing them.
            return encoded.encode()
    return secret.encode()


def secret_generate() -> str:
    """A new secret in the Standard Webhooks format: `whsec_` + base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_NEW_BYTES)).decode()


def secret_validate(value: str) -> None:
    """Refuse a secret that is not `whsec_` + base64 of 24 to 64 bytes (what partners'
    Standard Webhooks libraries accept). Raises django's ValidationError, never echoing it."""
    error = ValidationError(
        "Enter a Standard Webhooks secret: whsec_ followed by the base64 of "
        f"{SECRET_MIN_BYTES} to {SECRET_MAX_BYTES} random bytes (or generate one).",
        code="invalid_webhook_secret",
    )
    if not value.startswith(SECRET_PREFIX):
        raise error
    try:
        key = base64.b64decode(value[len(SECRET_PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        raise error from None
    if not SECRET_MIN_BYTES <= len(key) <= SECRET_MAX_BYTES:
        raise error


def signature(*, secret: str, msg_id: str, timestamp: int | str, body: bytes) -> str:
    """The `v1,<base64>` signature of one message."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def sign_headers(
    *,
    secret: str,
    body: bytes,
    msg_id: str | None = None,
    timestamp: int | None = None,
    also_secrets: Sequence[str] = (),
) -> dict[str, str]:
    """Headers for one signed delivery; reuse msg_id for a redelivery of the same message.

    `also_secrets` (a rotated-out secret still in its overlap) add their signatures after
    the first, space-separated, as the spec allows: a receiver holding any one verifies.
    """
    msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
    timestamp = int(time.time()) if timestamp is None else timestamp
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(
            signature(secret=key, msg_id=msg_id, timestamp=timestamp, body=body)
            for key in (secret, *also_secrets)
        ),
        "Content-Type": "application/json",
    }


def verify(
    *,
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> str:
    """Check signature and timestamp; return the webhook id.

    `headers` must be looked up case-insensitively by the caller's mapping (Django's
    request.headers is). Raises WebhookVerificationError naming the reason.
    """
    if not secret:
        raise WebhookVerificationError("no_secret_configured")
    msg_id = headers.get("webhook-id") or ""
    timestamp = headers.get("webhook-timestamp") or ""
    sent = headers.get("webhook-signature") or ""
    if not msg_id or not timestamp or not sent:
        raise WebhookVerificationError("missing_headers")
    try:
        ts = int(timestamp)
    except ValueError:
        raise WebhookVerificationError("bad_timestamp") from None
    now = time.time() if now is None else now
    if abs(now - ts) > tolerance_seconds:
        raise WebhookVerificationError("timestamp_outside_tolerance")
    expected = signature(secret=secret, msg_id=msg_id, timestamp=ts, body=body)
    # The header may carry several space-separated signatures (secret rotation).
    for candidate in sent.split():
        # Bytes: compare_digest refuses non-ASCII str, and a header may carry any byte.
        if hmac.compare_digest(candidate.encode("utf-8", "replace"), expected.encode()):
            return msg_id
    raise WebhookVerificationError("bad_signature")
