"""Order timeline entries written by the returns app, all through orders.events.event_record."""

from __future__ import annotations

from typing import TYPE_CHECKING

from orders.events import event_record
from orders.models import OrderEvent

if TYPE_CHECKING:
    from datetime import datetime

    from core.users import ActingUser
    from logistics.models import Shipment
    from returns.models import ReturnRequest


def return_requested_event(
    *, return_request: ReturnRequest, user: ActingUser | None = None, actor: str | None = None
) -> OrderEvent:
    return event_record(
        order=return_request.order,
        type=OrderEvent.Type.RETURN_REQUESTED,
        user=user,
        actor=actor,
        return_number=return_request.number,
        return_id=return_request.pk,
        lines=[
            {
                "line": line.order_line.line_number,
                "sku": line.order_line.sku,
                "quantity": line.quantity,
                "reason": line.reason,
            }
            for line in return_request.lines.select_related("order_line")
        ],
        refund_amount_requested=str(return_request.refund_amount_requested),
    )


def _return_shipment(return_request: ReturnRequest) -> Shipment:
    shipment = return_request.return_shipment
    if shipment is None:
        raise ValueError(f"Return {return_request.number} has no return shipment.")
    return shipment


def return_label_issued_event(*, return_request: ReturnRequest) -> OrderEvent:
    shipment = _return_shipment(return_request)
    return event_record(
        order=return_request.order,
        type=OrderEvent.Type.SHIPMENT_CREATED,
        actor="system:returns",
        direction="return",
        return_number=return_request.number,
        shipment_id=shipment.pk,
        provider=shipment.provider.code,
        tracking_number=shipment.tracking_number,
        label_url=shipment.label_url,
    )


def return_label_failed_event(*, return_request: ReturnRequest, message: str) -> OrderEvent:
    return event_record(
        order=return_request.order,
        type=OrderEvent.Type.DISPATCH_FAILED,
        actor="system:returns",
        direction="return",
        return_number=return_request.number,
        reason="return_label_refused",
        message=message[:500],
    )


def return_delivered_event(*, return_request: ReturnRequest, occurred_at: datetime) -> OrderEvent:
    shipment = _return_shipment(return_request)
    return event_record(
        order=return_request.order,
        type=OrderEvent.Type.DELIVERED,
        actor="system:tracking",
        direction="return",
        return_number=return_request.number,
        shipment_id=shipment.pk,
        warehouse=return_request.warehouse.code,
        occurred_at=occurred_at.isoformat(),
    )


def return_received_event(
    *, return_request: ReturnRequest, user: ActingUser | None = None, actor: str | None = None
) -> OrderEvent:
    return event_record(
        order=return_request.order,
        type=OrderEvent.Type.RETURN_RECEIVED,
        user=user,
        actor=actor,
        return_number=return_request.number,
        return_id=return_request.pk,
        warehouse=return_request.warehouse.code,
        lines=[
            {
                "line": line.order_line.line_number,
                "sku": line.order_line.sku,
                "quantity_received": line.quantity_received,
                "condition": line.condition,
                "disposition": line.disposition,
                "refund_amount": str(line.refund_amount),
            }
            for line in return_request.lines.select_related("order_line")
        ],
        refund_amount_due=str(return_request.refund_amount_due),
        currency=return_request.currency,
    )
