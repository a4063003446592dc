"""Outbound, signed notifications to each channel's webhook endpoint: queue and delivery.

What is sent, and when, is decided by the services that cause it (orders.services.
partner_notifications builds the payloads); this module stores the deliveries (the
PartnerWebhookDelivery table), signs and sends them, and retries with backoff.
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

logger = logging.getLogger(__name__)

Event = PartnerWebhookDelivery.Event


@dataclass(frozen=True)
class PartnerWebhookMessage:
    """One notification to send, as plain data (built by orders' partner notifications)."""

    channel_id: int
    order_id: int
    event: str
    url: str
    payload: dict[str, Any]


def _delivery(message: PartnerWebhookMessage) -> PartnerWebhookDelivery:
    return PartnerWebhookDelivery(
        channel_id=message.channel_id,
        order_id=message.order_id,
        event=message.event,
        webhook_id=f"msg_{uuid.uuid4().hex}",
        url=message.url,
        payload=message.payload,
        next_attempt_at=timezone.now(),
    )


def partner_webhook_enqueue(*, message: PartnerWebhookMessage) -> PartnerWebhookDelivery:
    """Queue one signed notification to the message's channel; sent after commit."""
    from logistics.tasks import partner_webhook_send_task

    delivery = _delivery(message)
    delivery.save(force_insert=True)
    transaction.on_commit(partial(partner_webhook_send_task.delay, delivery_id=delivery.pk))
    return delivery


def partner_webhooks_enqueue_many(*, messages: Sequence[PartnerWebhookMessage]) -> None:
    """Queue many notifications in one INSERT, in list order; each is sent after commit.

    Batch writers build the messages as things happen (the payload is a snapshot of
    that moment) and queue them together.
    """
    if not messages:
        return
    deliveries = PartnerWebhookDelivery.objects.bulk_create(
        [_delivery(message) for message in messages]
    )
    transaction.on_commit(
        partial(_send_after_commit, delivery_ids=[delivery.pk for delivery in deliveries])
    )


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
            .select_related("channel")
            .filter(pk=delivery_id, status=PartnerWebhookDelivery.Status.PENDING)
            .first()
        )
        if delivery is None:
            return None
        delivery.attempts += 1
        # Claim: nobody else sends this one until this attempt had time to finish.
        delivery.next_attempt_at = timezone.now() + dt.timedelta(
            seconds=settings.PARTNER_WEBHOOK_TIMEOUT_SECONDS + 30
        )
        delivery.save(update_fields=["attempts", "next_attempt_at", "updated_at"])
    body = json.dumps(delivery.payload, separators=(",", ":")).encode()
    headers = webhook_signing.sign_headers(
        secret=delivery.channel.webhook_secret, body=body, msg_id=delivery.webhook_id
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
            "next_attempt_at",
            "updated_at",
        ]
    )
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
