"""Inbound LSP webhooks: verify, store the raw body, answer fast; work happens in `tracking`."""

from __future__ import annotations

import logging
import time

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from core.json_input import json_body_problem
from logistics.adapters.registry import adapter_for
from logistics.models import Provider
from logistics.services.tracking import inbound_webhook_receive
from logistics.webhook_signing import WebhookVerificationError

logger = logging.getLogger(__name__)
security_log = logging.getLogger("consign.security")

# Every webhook needs its provider; a few seconds of per-process caching saves a
# database round trip per request (signals.provider_saved clears it on change).
PROVIDER_CACHE_SECONDS = 5.0
_providers: dict[str, tuple[float, Provider | None]] = {}


def provider_cache_clear() -> None:
    _providers.clear()


def _provider(code: str) -> Provider | None:
    now = time.monotonic()
    hit = _providers.get(code)
    if hit is not None and hit[0] > now:
        return hit[1]
    provider = Provider.objects.filter(code=code, is_active=True).first()
    _providers[code] = (now + PROVIDER_CACHE_SECONDS, provider)
    return provider


def _problem(status: int, title: str, detail: str) -> JsonResponse:
    return JsonResponse(
        {"type": "about:blank", "title": title, "status": status, "detail": detail},
        status=status,
        content_type="application/problem+json",
    )


@csrf_exempt
@require_POST
def lsp_webhook(request: HttpRequest, provider_code: str) -> JsonResponse:
    provider = _provider(provider_code)
    if provider is None:
        return _problem(404, "Unknown provider", f"No active provider {provider_code!r}.")
    limit = settings.LSP_WEBHOOK_MAX_BYTES
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        return _problem(413, "Payload too large", f"Webhook bodies are limited to {limit} bytes.")
    body = request.read(limit + 1)
    if len(body) > limit:
        return _problem(413, "Payload too large", f"Webhook bodies are limited to {limit} bytes.")
    try:
        webhook_id = adapter_for(provider).verify_webhook(headers=request.headers, body=body)
    except WebhookVerificationError as exc:
        security_log.warning(
            "Rejected LSP webhook for provider=%s reason=%s remote=%s webhook_id=%r",
            provider.code,
            exc.reason,
            request.META.get("REMOTE_ADDR"),
            request.headers.get("webhook-id", "")[:128],
        )
        return _problem(401, "Invalid webhook signature", exc.reason)
    unprocessable = json_body_problem(body)
    if unprocessable is not None:
        # Authentic but poison: it would fail every processing attempt (a parser's
        # recursion, text Postgres cannot store). Refused before anything is stored.
        logger.warning(
            "Refused LSP webhook for provider=%s webhook_id=%r: %s",
            provider.code,
            webhook_id[:128],
            unprocessable,
        )
        return _problem(400, "Unprocessable webhook body", unprocessable)
    inbound_id = inbound_webhook_receive(provider=provider, webhook_id=webhook_id, body=body)
    if inbound_id is None:
        # A redelivery of a webhook we already hold: acknowledge so the sender stops.
        return JsonResponse({"status": "duplicate"}, status=200)
    return JsonResponse({"status": "accepted", "id": inbound_id}, status=202)
