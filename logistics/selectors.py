"""Reads of logistics data for the layers above (the order workflow plans with them)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from django.conf import settings
from django.db.models import Q, QuerySet, Sum
from django.utils import timezone

from core.errors import NotFound
from inventory.models import Warehouse
from logistics import error_codes, sql
from logistics.models import (
    LabelPurchase,
    PartnerWebhookDelivery,
    Shipment,
    ShipmentLine,
    WebhookEndpoint,
)


def warehouses_with_providers(*, ids: Sequence[int]) -> dict[int, Warehouse]:
    """Warehouse id -> warehouse with its provider (one prepared statement, see logistics.sql)."""
    return sql.warehouses_with_providers(ids=ids)


def shipment_quantities_open(*, order_id: int) -> dict[tuple[int, int], int]:
    """(warehouse id, order line id) -> quantity on the order's open outbound shipments.

    Open: not shipped yet and not cancelled. Those shipments hold the active
    allocations they will ship; once shipped, the allocation is fulfilled and counts
    on neither side.
    """
    rows = (
        ShipmentLine.objects.filter(shipment__order_id=order_id, shipment__shipped_at__isnull=True)
        .exclude(shipment__status=Shipment.Status.CANCELLED)
        .values("shipment__warehouse_id", "order_line_id")
        .annotate(quantity=Sum("quantity"))
    )
    return {(row["shipment__warehouse_id"], row["order_line_id"]): row["quantity"] for row in rows}


def shipments_exist_for_order(*, order_id: int) -> bool:
    """True when the order has a shipment that is not cancelled."""
    return (
        Shipment.objects.filter(order_id=order_id)
        .exclude(status=Shipment.Status.CANCELLED)
        .exists()
    )


# --- Webhook endpoints and their delivery logs (the partner API) ---------------------------

# Ids are bigint: a larger number in a URL is no row, not a database error.
MAX_ID = 2**63


def webhook_endpoints_for_channel(*, channel_id: int) -> QuerySet[WebhookEndpoint]:
    """The channel's endpoints (the partner API pages them by created_at, id)."""
    return WebhookEndpoint.objects.filter(channel_id=channel_id)


def webhook_endpoint_for_channel(*, channel_id: int, endpoint_id: int) -> WebhookEndpoint:
    """The channel's endpoint, or NotFound (also for another channel's endpoint)."""
    endpoint = (
        WebhookEndpoint.objects.filter(channel_id=channel_id, pk=endpoint_id).first()
        if 0 < endpoint_id < MAX_ID
        else None
    )
    if endpoint is None:
        raise NotFound(
            f"No webhook endpoint {endpoint_id} in this channel.",
            code=error_codes.WEBHOOK_ENDPOINT_NOT_FOUND,
        )
    return endpoint


def webhook_deliveries_for_endpoint(
    *, endpoint: WebhookEndpoint, status: str | None = None, topic: str | None = None
) -> QuerySet[PartnerWebhookDelivery]:
    """The endpoint's delivery log, optionally one status or topic (index
    `partnerwebhook_endpoint`)."""
    deliveries = PartnerWebhookDelivery.objects.filter(endpoint=endpoint)
    if status:
        deliveries = deliveries.filter(status=status)
    if topic:
        deliveries = deliveries.filter(event=topic)
    return deliveries


def webhook_delivery_for_endpoint(
    *, endpoint: WebhookEndpoint, delivery_id: int
) -> PartnerWebhookDelivery:
    """One delivery of the endpoint, or NotFound."""
    delivery = (
        PartnerWebhookDelivery.objects.filter(endpoint=endpoint, pk=delivery_id).first()
        if 0 < delivery_id < MAX_ID
        else None
    )
    if delivery is None:
        raise NotFound(
            f"No delivery {delivery_id} for webhook endpoint {endpoint.pk}.",
            code=error_codes.WEBHOOK_DELIVERY_NOT_FOUND,
        )
    return delivery


def label_purchases_unsettled() -> QuerySet[LabelPurchase]:
    """Label purchases a person must settle (exception queue kind `label_unknown`): outcome
    unknown, or in flight for longer than any call can take (its worker died)."""
    stale = timezone.now() - label_stale_after()
    return (
        LabelPurchase.objects.filter(
            Q(state=LabelPurchase.State.UNKNOWN)
            | Q(state=LabelPurchase.State.IN_FLIGHT, started_at__lt=stale)
        )
        .select_related("shipment__order", "carrier_account")
        .defer("label_pdf", "label_zpl")
        .order_by("started_at", "id")
    )


def label_stale_after() -> timedelta:
    """An `in_flight` label purchase older than this lost its worker: treated as unknown.

    Twice the HTTP timeout (an OAuth token request may precede the purchase) and a margin.
    """
    return timedelta(seconds=2 * float(settings.LSP_HTTP_TIMEOUT_SECONDS) + 60)
