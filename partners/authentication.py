"""`Authorization: Bearer <api key>` for the partner API."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import NoReturn

from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from core.security_log import client_ip, security_event
from partners.models import ApiKey
from partners.selectors import api_key_for_raw_key
from partners.services import PREFIX_LENGTH, api_key_touch
from partners.throttling import auth_failure_throttle


@dataclass(frozen=True)
class Partner:
    """The authenticated principal of a partner API request: a key and its channel."""

    api_key: ApiKey

    is_authenticated = True
    is_anonymous = False

    @property
    def channel(self):
        return self.api_key.channel

    @property
    def actor(self) -> str:
        """How order events name this caller: never the secret, only its prefix."""
        return f"api:{self.api_key.prefix}"

    def get_username(self) -> str:
        return self.actor


class ApiKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request)
        if not header:
            # No credentials: the view's permission check answers 401 (and counts it,
            # PartnerApiView.handle_exception).
            return None
        parts = header.split()
        if len(parts) != 2 or parts[0].lower() != self.keyword.lower().encode():
            _refuse(request, "Send the API key as 'Authorization: Bearer <key>'.")
        try:
            raw = parts[1].decode("ascii")
        except UnicodeDecodeError:
            _refuse(request, "Invalid API key.")
        api_key = api_key_for_raw_key(raw_key=raw)
        if api_key is None:
            # Same answer for unknown and revoked keys: no oracle for key state. Only the
            # public-length prefix of what was sent is logged: never a (possibly valid) secret.
            _refuse(request, "Invalid or revoked API key.", key_prefix=raw[:PREFIX_LENGTH])
        if not api_key.channel.is_active:
            _refuse(
                request,
                "The channel of this API key is inactive.",
                key_prefix=api_key.prefix,
                reason="channel_inactive",
            )
        _log_use(request, api_key)
        api_key_touch(api_key=api_key)
        return Partner(api_key=api_key), api_key

    def authenticate_header(self, request) -> str:
        # Makes DRF answer 401 (not 403) with a WWW-Authenticate challenge.
        return f'{self.keyword} realm="api"'


def refusal_throttled(request) -> exceptions.Throttled | None:
    """The 429 for a request without a valid key, when its IP is over API_AUTH_FAILURE_RATE."""
    wait = auth_failure_throttle(request=request)
    if wait is None:
        return None
    return exceptions.Throttled(
        wait=wait,
        detail="Too many requests without a valid API key from this address. "
        f"Expected available in {wait} seconds.",
    )


def _refuse(request, message: str, key_prefix: str | None = None, **fields) -> NoReturn:
    throttled = refusal_throttled(request)
    if throttled is not None:
        raise throttled
    if key_prefix is not None:
        security_event(
            "api_key.rejected",
            request=request,
            level=logging.WARNING,
            key_prefix=key_prefix,
            **fields,
        )
    raise exceptions.AuthenticationFailed(message)


# (key id, client IP) -> [monotonic time of the last api_key.used line, uses since then]
_uses: dict[tuple[int, str], list] = {}
_uses_lock = threading.Lock()
_USES_MAX = 10_000


def _log_use(request, api_key: ApiKey) -> None:
    """`api_key.used` once per key and client IP per API_KEY_USE_LOG_SECONDS (per process).

    A line per request cost a JSON line on every call of a busy partner and said
    nothing new; the first use from a new address still logs at once, and each
    line counts the uses folded into it since the previous one (`uses`).
    """
    interval = settings.API_KEY_USE_LOG_SECONDS
    ident = (api_key.pk, client_ip(getattr(request, "_request", request)))
    now = time.monotonic()
    with _uses_lock:
        seen = _uses.get(ident)
        if seen is not None and now - seen[0] < interval:
            seen[1] += 1
            return
        if len(_uses) >= _USES_MAX:
            _uses.clear()
        _uses[ident] = [now, 0]
    security_event(
        "api_key.used",
        request=request,
        key_prefix=api_key.prefix,
        channel=api_key.channel.code,
        uses=1 + (seen[1] if seen is not None else 0),
    )


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "partners.authentication.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A channel's API key: `Authorization: Bearer csk_…`.",
        }
