"""Webhook endpoints: a partner's URLs subscribed by topic, their secrets and their health.

The only writer of WebhookEndpoint. The partner API (partners/api/webhook_endpoints.py),
the admin and the back office's exception queue call these; deliveries are queued by
logistics.services.partner_events and sent by logistics.services.partner_webhooks.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from functools import partial
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from core.errors import Conflict, NotFound, ValidationFailed
from core.ssrf import listed_destination, url_validate_public
from logistics import error_codes, webhook_signing
from logistics.models import PartnerWebhookDelivery, WebhookEndpoint
from logistics.webhook_topics import Topic

# Stripe's limit; a partner with more URLs than this has a fan-out problem of its own.
MAX_ENDPOINTS_PER_CHANNEL = 16
# How long a rotated-out secret keeps signing beside the new one.
SECRET_OVERLAP = dt.timedelta(hours=24)


@dataclass(frozen=True)
class EndpointWithSecret:
    """An endpoint and its secret in clear: returned once, on create and on rotation."""

    endpoint: WebhookEndpoint
    secret: str


def _field_error(field: str, message: str, *, code: str) -> ValidationFailed:
    return ValidationFailed(
        f"{field}: {message}", code=code, errors=[{"field": field, "message": message}]
    )


def webhook_url_validate(*, url: str) -> str:
    """The URL if deliveries may go there, else ValidationFailed (`invalid_webhook_url`).

    https only, except for a destination named in OUTBOUND_ALLOW_HOSTS (a receiver in
    the operator's own network, the tests' local one); never an internal address
    (core/ssrf.py, checked again when each delivery connects).
    """
    code = error_codes.INVALID_WEBHOOK_URL
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise _field_error("url", "Enter a valid URL.", code=code) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _field_error("url", "Enter an https URL.", code=code)
    if parts.scheme != "https" and not listed_destination(parts.hostname, port):
        raise _field_error("url", "Webhook URLs must use https.", code=code)
    try:
        url_validate_public(url)
    except ValidationError as exc:
        raise _field_error("url", " ".join(exc.messages), code=code) from None
    return url


def webhook_topics_validate(*, topics: Iterable[str]) -> list[str]:
    """The topics, deduplicated in the order given; ValidationFailed if empty or unknown."""
    code = error_codes.INVALID_WEBHOOK_TOPICS
    chosen = list(dict.fromkeys(topics))
    if not chosen:
        raise _field_error("topics", "Subscribe to at least one topic.", code=code)
    unknown = [topic for topic in chosen if topic not in Topic.values]
    if unknown:
        raise _field_error(
            "topics",
            f"Unknown topic(s): {', '.join(map(repr, unknown))}. Known: {', '.join(Topic.values)}.",
            code=code,
        )
    return chosen


def _lock_channel(channel_id: int) -> None:
    # Serialises creates per channel so the per-channel limit holds (a read lock on the
    # channel row; nothing of it is written here).
    channel_model: Any = WebhookEndpoint._meta.get_field("channel").related_model
    channel_model._default_manager.select_for_update().filter(pk=channel_id).first()


@transaction.atomic
def webhook_endpoint_create(
    *, channel_id: int, url: str, topics: Iterable[str], description: str = "", active: bool = True
) -> EndpointWithSecret:
    """Subscribe `url` to `topics` for the channel, with a new generated secret.

    Raises ValidationFailed (bad URL, no or unknown topics, more than
    MAX_ENDPOINTS_PER_CHANNEL endpoints).
    """
    url = webhook_url_validate(url=url)
    chosen = webhook_topics_validate(topics=topics)
    _lock_channel(channel_id)
    if WebhookEndpoint.objects.filter(channel_id=channel_id).count() >= MAX_ENDPOINTS_PER_CHANNEL:
        raise ValidationFailed(
            f"A channel may have at most {MAX_ENDPOINTS_PER_CHANNEL} webhook endpoints; "
            "delete one first.",
            code=error_codes.WEBHOOK_ENDPOINT_LIMIT,
        )
    secret = webhook_signing.secret_generate()
    endpoint = WebhookEndpoint.objects.create(
        channel_id=channel_id,
        url=url,
        topics=chosen,
        description=description,
        active=active,
        secret=secret,
    )
    return EndpointWithSecret(endpoint=endpoint, secret=secret)


def _locked(endpoint: WebhookEndpoint) -> WebhookEndpoint:
    locked = WebhookEndpoint.objects.select_for_update().filter(pk=endpoint.pk).first()
    if locked is None:
        raise NotFound(
            f"No webhook endpoint {endpoint.pk} in this channel.",
            code=error_codes.WEBHOOK_ENDPOINT_NOT_FOUND,
        )
    return locked


@transaction.atomic
def webhook_endpoint_update(
    *,
    endpoint: WebhookEndpoint,
    url: str | None = None,
    topics: Iterable[str] | None = None,
    description: str | None = None,
    active: bool | None = None,
    reason: str = "",
) -> WebhookEndpoint:
    """Change what is given (None: unchanged). `active=True` re-enables a disabled endpoint
    and restarts its failure clock; `active=False` pauses it (`reason` says who did).
    Raises ValidationFailed, NotFound."""
    endpoint = _locked(endpoint)
    fields = ["updated_at"]
    if url is not None:
        endpoint.url = webhook_url_validate(url=url)
        fields.append("url")
    if topics is not None:
        endpoint.topics = webhook_topics_validate(topics=topics)
        fields.append("topics")
    if description is not None:
        endpoint.description = description
        fields.append("description")
    if active is not None:
        if active and not endpoint.active:
            endpoint.disabled_at = None
            endpoint.disabled_reason = ""
            endpoint.failing_since = None
            fields += ["disabled_at", "disabled_reason", "failing_since"]
        elif not active and endpoint.active:
            # Switched off on purpose: no failure clock, and not an operations exception.
            endpoint.disabled_at = timezone.now()
            endpoint.disabled_reason = reason or "Disabled by the partner."
            endpoint.failing_since = None
            fields += ["disabled_at", "disabled_reason", "failing_since"]
        endpoint.active = active
        fields.append("active")
    endpoint.save(update_fields=fields)
    return endpoint


@transaction.atomic
def webhook_endpoint_delete(*, endpoint: WebhookEndpoint) -> None:
    """Delete the endpoint and its delivery log; pending deliveries are not sent."""
    _locked(endpoint).delete()


@transaction.atomic
def webhook_endpoint_secret_rotate(
    *, endpoint: WebhookEndpoint, now: dt.datetime | None = None
) -> EndpointWithSecret:
    """Give the endpoint a new secret; the current one keeps signing beside it for 24 h.

    Deliveries in the overlap carry two signatures (Standard Webhooks allows several),
    so a receiver holding either secret verifies them. Rotating again within the
    overlap drops the oldest secret at once.
    """
    endpoint = _locked(endpoint)
    now = now or timezone.now()
    secret = webhook_signing.secret_generate()
    endpoint.previous_secret = endpoint.secret
    endpoint.previous_secret_until = now + SECRET_OVERLAP
    endpoint.secret = secret
    endpoint.save(
        update_fields=["previous_secret", "previous_secret_until", "secret", "updated_at"]
    )
    return EndpointWithSecret(endpoint=endpoint, secret=secret)


def webhook_endpoint_signing_secrets(
    *, endpoint: WebhookEndpoint, now: dt.datetime | None = None
) -> list[str]:
    """The secrets a delivery is signed with now: the current one, then the rotated-out
    one while its overlap lasts."""
    now = now or timezone.now()
    secrets = [endpoint.secret]
    if (
        endpoint.previous_secret
        and endpoint.previous_secret_until is not None
        and now < endpoint.previous_secret_until
    ):
        secrets.append(endpoint.previous_secret)
    return secrets


def webhook_endpoint_attempt_recorded(*, endpoint_id: int, succeeded: bool) -> None:
    """Keep the failure clock: started by the first failed attempt after a success,
    stopped by the next success. One guarded UPDATE that changes nothing in the
    common case (a healthy endpoint staying healthy)."""
    if succeeded:
        WebhookEndpoint.objects.filter(pk=endpoint_id, failing_since__isnull=False).update(
            failing_since=None
        )
    else:
        WebhookEndpoint.objects.filter(pk=endpoint_id, failing_since__isnull=True).update(
            failing_since=timezone.now()
        )


def webhook_endpoints_disable_failing(*, now: dt.datetime | None = None) -> list[int]:
    """Disable active endpoints whose deliveries have failed continuously for
    PARTNER_WEBHOOK_DISABLE_AFTER_HOURS; returns their ids.

    A disabled endpoint receives nothing (its pending deliveries are given up when
    their turn comes) and shows in the operations exception queue until the partner
    (PATCH active=true) or staff re-enable it.
    """
    now = now or timezone.now()
    hours = settings.PARTNER_WEBHOOK_DISABLE_AFTER_HOURS
    cutoff = now - dt.timedelta(hours=hours)
    with transaction.atomic():
        endpoints = list(
            WebhookEndpoint.objects.select_for_update(skip_locked=True)
            .filter(active=True, failing_since__lte=cutoff)
            .order_by("pk")
        )
        for endpoint in endpoints:
            endpoint.active = False
            endpoint.disabled_at = now
            endpoint.disabled_reason = (
                f"Every delivery failed for {hours:g} hours (since "
                f"{endpoint.failing_since:%Y-%m-%d %H:%M} UTC)."
            )
        WebhookEndpoint.objects.bulk_update(
            endpoints, ["active", "disabled_at", "disabled_reason", "updated_at"]
        )
    return [endpoint.pk for endpoint in endpoints]


@transaction.atomic
def webhook_delivery_retry(*, delivery: PartnerWebhookDelivery) -> PartnerWebhookDelivery:
    """Send a delivered or given-up delivery again, with the same webhook-id and body.

    Raises Conflict (`webhook_delivery_pending`) while it is still being tried, and
    Conflict (`webhook_endpoint_disabled`) when its endpoint is disabled.
    """
    from logistics.tasks import partner_webhook_send_task

    locked = (
        PartnerWebhookDelivery.objects.select_for_update(of=("self",))
        .select_related("endpoint")
        .filter(pk=delivery.pk)
        .first()
    )
    if locked is None:
        raise NotFound(
            f"No delivery {delivery.pk} for this endpoint.",
            code=error_codes.WEBHOOK_DELIVERY_NOT_FOUND,
        )
    if locked.status == PartnerWebhookDelivery.Status.PENDING:
        raise Conflict(
            "This delivery is still being tried; retry it once it is delivered or given up.",
            code=error_codes.WEBHOOK_DELIVERY_PENDING,
        )
    if locked.endpoint is None or not locked.endpoint.active:
        raise Conflict(
            "The endpoint is disabled: re-enable it (PATCH active=true) first.",
            code=error_codes.WEBHOOK_ENDPOINT_DISABLED,
        )
    locked.status = PartnerWebhookDelivery.Status.PENDING
    # Attempts keep counting: a given-up delivery gets one more try, a delivered one
    # the tries it has left.
    locked.next_attempt_at = timezone.now()
    locked.save(update_fields=["status", "next_attempt_at", "updated_at"])
    transaction.on_commit(partial(partner_webhook_send_task.delay, delivery_id=locked.pk))
    return locked
