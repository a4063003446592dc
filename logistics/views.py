"""Inbound LSP webhooks: verify, store the raw body, answer fast; work happens in `tracking`."""

from __future__ import annotations

import logging

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from logistics.adapters.registry import adapter_for
from logistics.models import Provider
from logistics.services.tracking import inbound_webhook_receive
from logistics.webhook_signing import WebhookVerificationError

security_log = logging.getLogger("consign.security")


def _problem(status: int, title: str, detail: str) -> JsonResponse:
    return JsonResponse(
        {"type": "about:blank", "title": title, "status": status, "detail": detail},
        status=status,
        content_type="application/problem+json",
    )


@csrf_exempt
@require_POST
def lsp_webhook(request: HttpRequest, provider_code: str) -> JsonResponse:
    provider = Provider.objects.filter(code=provider_code, is_active=True).first()
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
    inbound_id = inbound_webhook_receive(provider=provider, webhook_id=webhook_id, body=body)
    if inbound_id is None:
        # A redelivery of a webhook we already hold: acknowledge so the sender stops.
        return JsonResponse({"status": "duplicate"}, status=200)
    return JsonResponse({"status": "accepted", "id": inbound_id}, status=202)
