"""Order timeline entries written by logistics, all through orders.events.event_record."""

from __future__ import annotations

from typing import TYPE_CHECKING

from orders.events import event_record
from orders.models import OrderEvent

if TYPE_CHECKING:
    from logistics.models import Shipment, TrackingEvent


def shipment_created_event(*, shipment: Shipment, user=None, actor: str | None = None):
    return event_record(
        order=shipment.order,
        type=OrderEvent.Type.SHIPMENT_CREATED,
        user=user,
        actor=actor,
        shipment_id=shipment.pk,
        warehouse=shipment.warehouse.code,
        provider=shipment.provider.code,
        lines=[
            {"sku": line.order_line.sku, "quantity": line.quantity}
            for line in shipment.lines.select_related("order_line")
        ],
    )


def shipment_dispatched_event(*, shipment: Shipment, attempts: int):
    return event_record(
        order=shipment.order,
        type=OrderEvent.Type.SHIPMENT_DISPATCHED,
        actor="system:dispatch",
        shipment_id=shipment.pk,
        provider=shipment.provider.code,
        provider_reference=shipment.provider_reference,
        tracking_number=shipment.tracking_number,
        attempts=attempts,
    )


def dispatch_failed_event(*, shipment: Shipment, reason: str, message: str, attempts: int):
    return event_record(
        order=shipment.order,
        type=OrderEvent.Type.DISPATCH_FAILED,
        actor="system:dispatch",
        shipment_id=shipment.pk,
        provider=shipment.provider.code,
        reason=reason,
        message=message[:500],
        attempts=attempts,
    )


def dispatch_retry_requested_event(*, shipment: Shipment, user=None, actor: str | None = None):
    return event_record(
        order=shipment.order,
        type=OrderEvent.Type.NOTE_ADDED,
        user=user,
        actor=actor,
        text=f"Dispatch of shipment {shipment.pk} retried by staff.",
        shipment_id=shipment.pk,
        kind="dispatch_retry",
    )


def shipment_shipped_event(*, shipment: Shipment, tracking_event: TrackingEvent):
    return event_record(
        order=shipment.order,
        type=OrderEvent.Type.SHIPPED,
        actor=f"lsp:{shipment.provider.code}",
        shipment_id=shipment.pk,
        tracking_number=shipment.tracking_number,
        occurred_at=tracking_event.occurred_at.isoformat(),
    )


def shipment_delivered_event(*, shipment: Shipment, tracking_event: TrackingEvent):
    return event_record(
        order=shipment.order,
        type=OrderEvent.Type.DELIVERED,
        actor=f"lsp:{shipment.provider.code}",
        shipment_id=shipment.pk,
        tracking_number=shipment.tracking_number,
        occurred_at=tracking_event.occurred_at.isoformat(),
    )


def tracking_exception_event(
    *, shipment: Shipment, status: str, description: str = "", occurred_at=None
):
    return event_record(
        order=shipment.order,
        type=OrderEvent.Type.TRACKING_EXCEPTION,
        actor=f"lsp:{shipment.provider.code}",
        shipment_id=shipment.pk,
        tracking_number=shipment.tracking_number,
        status=status,
        description=description,
        occurred_at=occurred_at.isoformat() if occurred_at else None,
    )
