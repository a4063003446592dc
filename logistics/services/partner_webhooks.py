"""Outbound, signed notifications to partners' webhook endpoints: queue and delivery.

What is sent, and when, is decided by the services that cause it; they publish through
logistics.services.partner_events, which picks the endpoints subscribed to the topic.
This module stores the deliveries (the PartnerWebhookDelivery table, one per event and
endpoint), signs them with the endpoint's secret(s), sends them and retries with
backoff; every attempt moves the endpoint's failure clock (auto-disable).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import httpx
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core.ssrf import public_post
from logistics import broker, webhook_signing
from logistics.models import PartnerWebhookDelivery
from logistics.services.dispatch import backoff_seconds
from logistics.services.webhook_endpoints import (
    webhook_endpoint_attempt_recorded,
    webhook_endpoint_signing_secrets,
)

logger = logging.getLogger(__name__)

Event = PartnerWebhookDelivery.Event


@dataclass(frozen=True)
class PartnerWebhookMessage:
    """One notification to one endpoint, as plain data (built by partner_events' fan-out)."""

    channel_id: int
    endpoint_id: int
    order_id: int | None
    event: str
    url: str
    payload: dict[str, Any]


def _delivery(message: PartnerWebhookMessage) -> PartnerWebhookDelivery:
    return PartnerWebhookDelivery(
        channel_id=message.channel_id,
        endpoint_id=message.endpoint_id,
        order_id=message.order_id,
        event=message.event,
        webhook_id=f"msg_{uuid.uuid4().hex}",
        url=message.url,
        payload=message.payload,
        next_attempt_at=timezone.now(),
    )


def partner_webhooks_enqueue_many(
    *, messages: Sequence[PartnerWebhookMessage]
) -> list[PartnerWebhookDelivery]:
    """Queue many notifications in one INSERT, in list order; each is sent after commit."""
    if not messages:
        return []
    deliveries = PartnerWebhookDelivery.objects.bulk_create(
        [_delivery(message) for message in messages]
    )
    transaction.on_commit(
        partial(_send_after_commit, delivery_ids=[delivery.pk for delivery in deliveries])
    )
    return deliveries


def _send_after_commit(*, delivery_ids: list[int]) -> None:
    from logistics.tasks import partner_webhook_send_task

    for delivery_id in delivery_ids:
        partner_webhook_send_task.delay(delivery_id=delivery_id)


def partner_webhook_send(*, delivery_id: int, client: httpx.Client | None = None) -> float | None:
    """Try one delivery; returns seconds until the next try, or None when finished.

    The same webhook-id is used on every attempt so the partner can deduplicate;
    the timestamp and signature are fresh each time. Gives up (status failed) after
    PARTNER_WEBHOOK_MAX_ATTEMPTS.
    """
    with transaction.atomic():
        delivery = (
            # of=self: locking the joined channel row would serialise all its deliveries.
            PartnerWebhookDelivery.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("endpoint")
            .filter(pk=delivery_id, status=PartnerWebhookDelivery.Status.PENDING)
            .first()
        )
        if delivery is None:
            return None
        endpoint = delivery.endpoint
        if endpoint is None or not endpoint.active:
            # A disabled endpoint receives nothing; the partner may retry the delivery
            # (same webhook-id) once the endpoint is enabled again.
            delivery.status = PartnerWebhookDelivery.Status.FAILED
            delivery.last_error = "Not sent: the endpoint is disabled."
            delivery.save(update_fields=["status", "last_error", "updated_at"])
            return None
        delivery.attempts += 1
        delivery.url = endpoint.url
        # Claim: nobody else sends this one until this attempt had time to finish.
        delivery.next_attempt_at = timezone.now() + dt.timedelta(
            seconds=settings.PARTNER_WEBHOOK_TIMEOUT_SECONDS + 30
        )
        delivery.save(update_fields=["attempts", "url", "next_attempt_at", "updated_at"])
    body = json.dumps(delivery.payload, separators=(",", ":")).encode()
    current, *overlapping = webhook_endpoint_signing_secrets(endpoint=endpoint)
    headers = webhook_signing.sign_headers(
        secret=current, body=body, msg_id=delivery.webhook_id, also_secrets=overlapping
    )
    status_code: int | None = None
    error = ""
    try:
        if client is None:
            # Checked again at connect time, pinned to the checked address, no redirects.
            response = public_post(
                delivery.url,
                content=body,
                headers=headers,
                timeout=settings.PARTNER_WEBHOOK_TIMEOUT_SECONDS,
            )
        else:
            response = client.post(delivery.url, content=body, headers=headers)
        status_code = response.status_code
        if not 200 <= status_code < 300:
            error = f"HTTP {status_code}: {response.text[:300]}"
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"
    now = timezone.now()
    delivery.last_status_code = status_code
    delivery.last_error = error
    delivery.last_attempt_at = now
    retry_in: float | None = None
    if not error:
        delivery.status = PartnerWebhookDelivery.Status.DELIVERED
        delivery.delivered_at = now
    elif delivery.attempts >= settings.PARTNER_WEBHOOK_MAX_ATTEMPTS:
        delivery.status = PartnerWebhookDelivery.Status.FAILED
        logger.warning("Partner webhook %s gave up: %s", delivery.pk, error)
    else:
        retry_in = backoff_seconds(
            attempt=delivery.attempts,
            base=settings.PARTNER_WEBHOOK_RETRY_BASE_SECONDS,
            cap=settings.PARTNER_WEBHOOK_RETRY_MAX_SECONDS,
        )
        delivery.next_attempt_at = now + dt.timedelta(seconds=retry_in)
    delivery.save(
        update_fields=[
            "status",
            "delivered_at",
            "last_status_code",
            "last_error",
            "last_attempt_at",
            "next_attempt_at",
            "updated_at",
        ]
    )
    webhook_endpoint_attempt_recorded(endpoint_id=endpoint.pk, succeeded=not error)
    return retry_in


def partner_webhooks_due(*, limit: int = 500) -> list[int]:
    """Claim pending deliveries whose retry is overdue (their task message was lost).

    Pushes each claimed row's next_attempt_at to now, so it is handed out again only
    if it is still not done one ack timeout later.
    """
    if broker.queue_backlog("default"):
        return []
    now = timezone.now()
    cutoff = now - dt.timedelta(seconds=settings.LOGISTICS_ACK_TIMEOUT_SECONDS)
    with transaction.atomic():
        ids = list(
            PartnerWebhookDelivery.objects.select_for_update(skip_locked=True)
            .filter(status=PartnerWebhookDelivery.Status.PENDING, next_attempt_at__lte=cutoff)
            .order_by("next_attempt_at")
            .values_list("pk", flat=True)[:limit]
        )
        PartnerWebhookDelivery.objects.filter(pk__in=ids).update(next_attempt_at=now)
    return ids
