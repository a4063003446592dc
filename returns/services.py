"""Returns (RMA): request with every refusal, return label, tracking, receipt and restock."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from decimal import Decimal
from functools import partial
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import transaction
from django.db.models import Max, Sum
from django.utils import timezone

from core.errors import Conflict, ValidationFailed
from core.users import recorded_user
from logistics.adapters.base import AdapterError, ProviderAdapter, ReturnLabel
from logistics.adapters.registry import adapter_for
from logistics.models import Shipment, TrackingStatus
from orders.models import Order, OrderLine
from orders.services.partner_notifications import (
    Event,
    order_notifications_send,
    order_notify,
    shipment_created_event_build,
)
from orders.services.progress import order_returns_apply
from returns import error_codes, order_events
from returns.models import ReturnLine, ReturnRequest

if TYPE_CHECKING:
    from core.users import ActingUser

logger = logging.getLogger(__name__)

FOUR_PLACES = Decimal("0.0001")
OPEN_STATUSES = frozenset(
    {
        ReturnRequest.Status.REQUESTED,
        ReturnRequest.Status.LABEL_ISSUED,
        ReturnRequest.Status.IN_TRANSIT,
        ReturnRequest.Status.DELIVERED,
    }
)
RECEIVABLE_STATUSES = OPEN_STATUSES | {ReturnRequest.Status.LABEL_FAILED}
RETURN_MOVING = frozenset(
    {
        TrackingStatus.IN_TRANSIT,
        TrackingStatus.OUT_FOR_DELIVERY,
        TrackingStatus.AVAILABLE_FOR_PICKUP,
    }
)


@dataclass(frozen=True)
class RequestedLine:
    line_number: int
    quantity: int
    reason: str
    note: str = ""


@dataclass(frozen=True)
class ReceivedLine:
    return_line_id: int
    quantity: int
    condition: str
    disposition: str


# --- Request ----------------------------------------------------------------------
def _field_error(index: int, field: str, message: str) -> dict[str, str]:
    return {"field": f"lines[{index}].{field}", "message": message}


def return_window_start(*, order: Order, lines: list[OrderLine]) -> dt.datetime | None:
    """When the return window of these lines opened: their latest delivery, else shipping."""
    shipments = Shipment.objects.filter(
        order=order,
        direction=Shipment.Direction.OUTBOUND,
        lines__order_line__in=lines,
        shipped_at__isnull=False,
    )
    times = shipments.aggregate(delivered=Max("delivered_at"), shipped=Max("shipped_at"))
    start: dt.datetime | None = times["delivered"] or times["shipped"]
    return start


def _open_quantities(order: Order) -> dict[int, int]:
    """order line id -> quantity on open (not yet received) returns."""
    rows = (
        ReturnLine.objects.filter(
            return_request__order=order, return_request__status__in=OPEN_STATUSES
        )
        .values("order_line_id")
        .annotate(quantity=Sum("quantity"))
    )
    return {row["order_line_id"]: row["quantity"] for row in rows}


def _original_shipment(*, order: Order, line: OrderLine) -> Shipment | None:
    return (
        Shipment.objects.select_related("provider", "warehouse", "service_level")
        .filter(
            order=order,
            direction=Shipment.Direction.OUTBOUND,
            lines__order_line=line,
            shipped_at__isnull=False,
        )
        .exclude(provider_reference="")
        .order_by("-delivered_at", "-shipped_at", "-pk")
        .first()
    )


def _requested_lines_check(
    *, order: Order, lines: list[RequestedLine], by_number: dict[int, OrderLine]
) -> None:
    """Each requested line names a line of the order once, with a known reason and a
    positive quantity; raises ValidationFailed for the first that does not."""
    seen: set[int] = set()
    for index, requested in enumerate(lines):
        if requested.line_number not in by_number:
            raise ValidationFailed(
                f"Order {order.number} has no line {requested.line_number}.",
                code=error_codes.RETURN_LINE_UNKNOWN,
                errors=[_field_error(index, "line_number", "No such line on this order.")],
            )
        if requested.line_number in seen:
            raise ValidationFailed(
                f"Line {requested.line_number} is given twice.",
                code=error_codes.RETURN_LINE_DUPLICATE,
                errors=[_field_error(index, "line_number", "Each line may appear once.")],
            )
        seen.add(requested.line_number)
        if requested.reason not in ReturnLine.Reason.values:
            raise ValidationFailed(
                f"Unknown return reason {requested.reason!r}.",
                code=error_codes.RETURN_REASON_UNKNOWN,
                errors=[
                    _field_error(
                        index, "reason", "One of: " + ", ".join(ReturnLine.Reason.values) + "."
                    )
                ],
            )
        if requested.quantity <= 0:
            raise ValidationFailed(
                "A returned quantity must be a positive whole number.",
                code=error_codes.RETURN_QUANTITY_INVALID,
                errors=[_field_error(index, "quantity", "Must be at least 1.")],
            )


def _requested_quantities_check(
    *,
    lines: list[RequestedLine],
    by_number: dict[int, OrderLine],
    open_quantities: dict[int, int],
) -> None:
    """No line asks for more than has shipped, minus what is returned or on open returns."""
    for index, requested in enumerate(lines):
        line = by_number[requested.line_number]
        if requested.quantity > line.quantity_shipped:
            raise ValidationFailed(
                f"Line {line.line_number} ({line.sku}): {requested.quantity} requested but only "
                f"{line.quantity_shipped} of {line.quantity} shipped; unshipped units cannot be "
                "returned.",
                code=error_codes.RETURN_QUANTITY_UNSHIPPED,
                errors=[
                    _field_error(
                        index, "quantity", f"At most {line.quantity_shipped} shipped unit(s)."
                    )
                ],
            )
        taken = line.quantity_returned + open_quantities.get(line.pk, 0)
        left = line.quantity_shipped - taken
        if requested.quantity > left:
            raise ValidationFailed(
                f"Line {line.line_number} ({line.sku}): {requested.quantity} requested but "
                f"{taken} of {line.quantity_shipped} shipped unit(s) are already returned or on "
                f"an open return; {left} can still be returned.",
                code=error_codes.RETURN_QUANTITY_ALREADY_RETURNED,
                errors=[_field_error(index, "quantity", f"At most {left} unit(s) left.")],
            )


@transaction.atomic
def return_request_create(
    *,
    order: Order,
    lines: list[RequestedLine],
    note: str = "",
    user: ActingUser | None = None,
    actor: str | None = None,
    now: dt.datetime | None = None,
) -> ReturnRequest:
    """Open a return (RMA) for shipped quantities and ask the provider for a return label.

    Promises: the return and its lines are stored with the refund amount requested
    (unit price × quantity), a return_requested OrderEvent is written, and the
    return-label task is enqueued after commit. Raises ValidationFailed with an
    `errors` entry per offending line for: no lines, an unknown line number, a line
    given twice, an unknown reason, a quantity that is not positive, more than was
    shipped (return_quantity_unshipped), more than is left after earlier returns
    (return_quantity_already_returned), or a request after the channel's return
    window closed (return_window_closed).
    """
    from returns.tasks import return_label_task

    now = now or timezone.now()
    if not lines:
        raise ValidationFailed(
            "A return needs at least one line.",
            code=error_codes.RETURN_LINES_REQUIRED,
            errors=[{"field": "lines", "message": "Give at least one line to return."}],
        )
    locked = Order.objects.select_for_update().select_related("channel").get(pk=order.pk)
    by_number = {
        line.line_number: line
        for line in OrderLine.objects.select_for_update().filter(order=locked)
    }
    _requested_lines_check(order=locked, lines=lines, by_number=by_number)
    _requested_quantities_check(
        lines=lines, by_number=by_number, open_quantities=_open_quantities(locked)
    )
    order_lines = [by_number[r.line_number] for r in lines]
    start = return_window_start(order=locked, lines=order_lines)
    original = _original_shipment(order=locked, line=order_lines[0])
    if start is None or original is None:
        raise ValidationFailed(
            f"Order {locked.number} has no shipment the goods could be returned from.",
            code=error_codes.RETURN_QUANTITY_UNSHIPPED,
            errors=[{"field": "lines", "message": "Nothing of these lines has shipped."}],
        )
    closes = start + dt.timedelta(days=locked.channel.return_window_days)
    if now > closes:
        raise ValidationFailed(
            f"The return window of {locked.channel.return_window_days} day(s) for order "
            f"{locked.number} closed on {closes:%Y-%m-%d %H:%M} UTC.",
            code=error_codes.RETURN_WINDOW_CLOSED,
            errors=[{"field": "lines", "message": f"Returns closed on {closes:%Y-%m-%d}."}],
            window_closed_at=closes.isoformat(),
        )
    requested_by = recorded_user(user)
    return_request = ReturnRequest.objects.create(
        order=locked,
        original_shipment=original,
        warehouse=original.warehouse,
        note=note.strip(),
        currency=locked.currency,
        refund_amount_requested=sum(
            (by_number[r.line_number].unit_price * r.quantity for r in lines), Decimal(0)
        ).quantize(FOUR_PLACES),
        requested_by=requested_by,
        requested_actor=actor
        or (f"user:{requested_by.get_username()}" if requested_by else "system"),
    )
    ReturnLine.objects.bulk_create(
        [
            ReturnLine(
                return_request=return_request,
                order_line=by_number[r.line_number],
                quantity=r.quantity,
                reason=r.reason,
                customer_note=r.note.strip()[:500],
            )
            for r in lines
        ]
    )
    order_events.return_requested_event(return_request=return_request, user=user, actor=actor)
    order_notify(
        order=locked,
        event=Event.RETURN_CREATED,
        extra={"return": return_payload(return_request=return_request)},
    )
    transaction.on_commit(partial(return_label_task.delay, return_id=return_request.pk))
    order.status = locked.status
    return return_request


# --- Return label -----------------------------------------------------------------
@dataclass(frozen=True)
class LabelResult:
    outcome: str  # issued | retry | failed | noop
    message: str = ""


def return_label_issue(*, return_id: int, adapter: ProviderAdapter | None = None) -> LabelResult:
    """Ask the original shipment's provider for a return label; record the return shipment.

    Safe to run twice and concurrently: the provider call carries the return's
    idempotency token, and the result is recorded once under the return's row lock.
    Returns `retry` for a provider that is unavailable (the caller retries with
    backoff), `failed` when the provider refuses (status label_failed, an event on
    the timeline), `noop` when there is nothing to do.
    """
    return_request = (
        ReturnRequest.objects.select_related("original_shipment__provider", "order")
        .filter(pk=return_id)
        .first()
    )
    if return_request is None or return_request.status != ReturnRequest.Status.REQUESTED:
        return LabelResult("noop")
    original = return_request.original_shipment
    adapter = adapter or adapter_for(original.provider)
    items = [
        {"sku": line.order_line.sku, "quantity": line.quantity}
        for line in return_request.lines.select_related("order_line")
    ]
    try:
        label = adapter.create_return_label(
            original, idempotency_key=str(return_request.idempotency_token), items=items
        )
    except AdapterError as exc:
        return _label_failure(return_id=return_id, error=exc)
    return _label_success(return_id=return_id, label=label)


def return_labels_sweep(*, limit: int = 200) -> int:
    """Re-enqueue the label task of returns still `requested` after the ack timeout.

    The task is enqueued on commit; a broker outage or a killed worker could lose it.
    Rows are claimed (updated_at bumped) under SKIP LOCKED so that concurrent sweeps
    do not enqueue the same return twice per timeout. Returns how many were enqueued.
    """
    from returns.tasks import return_label_task

    cutoff = timezone.now() - dt.timedelta(seconds=settings.LOGISTICS_ACK_TIMEOUT_SECONDS)
    with transaction.atomic():
        ids = list(
            ReturnRequest.objects.select_for_update(skip_locked=True)
            .filter(status=ReturnRequest.Status.REQUESTED, updated_at__lte=cutoff)
            .order_by("updated_at")
            .values_list("pk", flat=True)[:limit]
        )
        ReturnRequest.objects.filter(pk__in=ids).update(updated_at=timezone.now())
        for return_id in ids:
            transaction.on_commit(partial(return_label_task.delay, return_id=return_id))
    return len(ids)


@transaction.atomic
def _label_failure(*, return_id: int, error: AdapterError) -> LabelResult:
    return_request = ReturnRequest.objects.select_for_update().get(pk=return_id)
    if return_request.status != ReturnRequest.Status.REQUESTED:
        return LabelResult("noop")
    return_request.label_attempts += 1
    return_request.last_error = error.message[:2000]
    if error.retryable and return_request.label_attempts < settings.DISPATCH_MAX_ATTEMPTS:
        return_request.save(update_fields=["label_attempts", "last_error", "updated_at"])
        return LabelResult("retry", error.message)
    return_request.status = ReturnRequest.Status.LABEL_FAILED
    return_request.save(update_fields=["status", "label_attempts", "last_error", "updated_at"])
    order_events.return_label_failed_event(return_request=return_request, message=error.message)
    return LabelResult("failed", error.message)


@transaction.atomic
def _label_success(*, return_id: int, label: ReturnLabel) -> LabelResult:
    order_id = ReturnRequest.objects.values_list("order_id", flat=True).get(pk=return_id)
    Order.objects.select_for_update().filter(pk=order_id).first()
    return_request = (
        ReturnRequest.objects.select_for_update(of=("self",))
        .select_related("original_shipment__provider", "warehouse", "order")
        .get(pk=return_id)
    )
    if return_request.status != ReturnRequest.Status.REQUESTED:
        return LabelResult("noop")
    original = return_request.original_shipment
    now = timezone.now()
    poll = (
        settings.TRACKING_SAFETY_POLL_SECONDS
        if original.provider.supports_webhooks
        else settings.TRACKING_POLL_SECONDS
    )
    shipment = Shipment.objects.create(
        order=return_request.order,
        warehouse=return_request.warehouse,
        provider=original.provider,
        service_level=original.service_level,
        direction=Shipment.Direction.RETURN,
        status=Shipment.Status.DISPATCHED,
        provider_reference=label.provider_reference,
        tracking_number=label.tracking_number[:100],
        label_url=label.label_url[:500],
        dispatched_at=now,
        # Providers without a return shipment id cannot be polled; webhooks by
        # tracking number still reach it.
        next_poll_at=now + dt.timedelta(seconds=poll) if label.provider_reference else None,
        poll_interval_seconds=poll,
    )
    return_request.return_shipment = shipment
    return_request.status = ReturnRequest.Status.LABEL_ISSUED
    return_request.label_attempts += 1
    return_request.last_error = ""
    return_request.save(
        update_fields=["return_shipment", "status", "label_attempts", "last_error", "updated_at"]
    )
    order_events.return_label_issued_event(return_request=return_request)
    # The return parcel is a shipment (direction `return`) the partner can follow.
    order_notifications_send(
        messages=[shipment_created_event_build(order=return_request.order, shipment=shipment)]
    )
    return LabelResult("issued")


# --- Tracking of the return shipment ------------------------------------------------
class ReturnTrackingService:
    """What tracking ingestion calls for return parcels (logistics.hooks.ReturnTracking)."""

    def return_shipment_tracked(
        self, *, shipment: Shipment, status: str, occurred_at: dt.datetime
    ) -> None:
        return_shipment_follow(shipment=shipment, status=status, occurred_at=occurred_at)


# The one instance returns.apps registers in logistics.hooks.return_tracking.
return_tracking = ReturnTrackingService()


def return_shipment_follow(*, shipment: Shipment, status: str, occurred_at: dt.datetime) -> None:
    """Follow the return as its parcel moves (in transit, delivered to the warehouse).

    Called by tracking ingestion inside its transaction (order and shipment locked)
    when the return shipment gets a new latest status.
    """
    return_request = (
        ReturnRequest.objects.select_for_update()
        .select_related("order", "warehouse")
        .filter(return_shipment=shipment)
        .first()
    )
    if return_request is None:
        return
    return_request.return_shipment = shipment
    if status in RETURN_MOVING and return_request.status == ReturnRequest.Status.LABEL_ISSUED:
        return_request.status = ReturnRequest.Status.IN_TRANSIT
        return_request.save(update_fields=["status", "updated_at"])
    elif status == TrackingStatus.DELIVERED and return_request.status in (
        ReturnRequest.Status.LABEL_ISSUED,
        ReturnRequest.Status.IN_TRANSIT,
    ):
        return_request.status = ReturnRequest.Status.DELIVERED
        return_request.delivered_at = occurred_at
        return_request.save(update_fields=["status", "delivered_at", "updated_at"])
        order_events.return_delivered_event(return_request=return_request, occurred_at=occurred_at)


# --- Receipt --------------------------------------------------------------------------
def _receipt_errors(
    *, lines: list[ReceivedLine], return_lines: dict[int, ReturnLine]
) -> list[dict[str, str]]:
    """What is wrong with a receipt, one `errors` entry each (empty: it can be recorded)."""
    given = {line.return_line_id for line in lines}
    errors: list[dict[str, str]] = []
    for index, received in enumerate(lines):
        line = return_lines.get(received.return_line_id)
        prefix = f"lines[{index}]"
        if line is None:
            errors.append({"field": f"{prefix}.return_line_id", "message": "Not on this return."})
            continue
        if not 0 <= received.quantity <= line.quantity:
            errors.append(
                {"field": f"{prefix}.quantity", "message": f"Between 0 and {line.quantity}."}
            )
        if received.quantity and received.condition not in ReturnLine.Condition.values:
            errors.append({"field": f"{prefix}.condition", "message": "Choose a condition."})
        if received.quantity and received.disposition not in ReturnLine.Disposition.values:
            errors.append({"field": f"{prefix}.disposition", "message": "Choose a disposition."})
    if not errors and not any(received.quantity for received in lines):
        # Closing the return would record an empty parcel as a completed return (refund 0,
        # return.received sent to the partner); nothing came back, so it stays open.
        errors.append(
            {
                "field": "lines",
                "message": "Nothing was received: enter how many units came back "
                "on at least one line.",
            }
        )
    for line_id, line in return_lines.items():
        if line_id not in given:
            errors.append(
                {
                    "field": "lines",
                    "message": f"Line {line.order_line.line_number} ({line.order_line.sku}) "
                    "is missing from the receipt.",
                }
            )
    return errors


@transaction.atomic
def return_receive(
    *,
    return_request: ReturnRequest,
    lines: list[ReceivedLine],
    user: ActingUser | None = None,
    actor: str | None = None,
) -> ReturnRequest:
    """Record what came back, line by line, with its condition and disposition.

    Promises, in one transaction: restocked units go back on hand at the return's
    warehouse through inventory's ledger (movement type `return`; waiting backorders
    for those SKUs are allocated after commit); quarantined and disposed units are
    recorded on the line and change no sellable stock; OrderLine.quantity_returned
    grows by what was received; the order moves to partially_returned or returned;
    the refund amount due (unit price × quantity received) is recorded; a
    return_received OrderEvent is written and a `return.received` partner webhook is
    queued. Raises Conflict (return_not_receivable) for a return already received,
    ValidationFailed (return_receipt_invalid) when a line is missing, unknown, over
    its requested quantity, or lacks a valid condition or disposition, or when no
    unit at all was received (the return then stays open).
    """
    from inventory.services.stock import stock_return

    order = (
        Order.objects.select_for_update().select_related("channel").get(pk=return_request.order_id)
    )
    locked = (
        ReturnRequest.objects.select_for_update(of=("self",))
        .select_related("warehouse")
        .get(pk=return_request.pk)
    )
    if locked.status not in RECEIVABLE_STATUSES:
        raise Conflict(
            f"Return {locked.number} is {locked.get_status_display().lower()}; "
            "it cannot be received again.",
            code=error_codes.RETURN_NOT_RECEIVABLE,
            return_status=locked.status,
        )
    return_lines = {
        line.pk: line
        for line in ReturnLine.objects.select_for_update(of=("self",))
        .select_related("order_line__product")
        .filter(return_request=locked)
    }
    given = {line.return_line_id: line for line in lines}
    errors = _receipt_errors(lines=lines, return_lines=return_lines)
    if errors:
        raise ValidationFailed(
            f"The receipt of return {locked.number} is incomplete or invalid.",
            code=error_codes.RETURN_RECEIPT_INVALID,
            errors=errors,
        )
    total = Decimal(0)
    returned: list[tuple[int, int]] = []
    for line_id in sorted(return_lines):
        line = return_lines[line_id]
        received = given[line_id]
        line.quantity_received = received.quantity
        line.condition = received.condition if received.quantity else ""
        line.disposition = received.disposition if received.quantity else ""
        line.refund_amount = (line.order_line.unit_price * received.quantity).quantize(FOUR_PLACES)
        total += line.refund_amount
        line.save(update_fields=["quantity_received", "condition", "disposition", "refund_amount"])
        if not received.quantity:
            continue
        returned.append((line.order_line_id, received.quantity))
        if line.disposition == ReturnLine.Disposition.RESTOCK:
            stock_return(
                product=line.order_line.product,
                warehouse=locked.warehouse,
                quantity=received.quantity,
                order=order,
                reference=f"return:{locked.number}",
                user=user,
            )
    now = timezone.now()
    locked.status = ReturnRequest.Status.RECEIVED
    locked.received_at = now
    locked.received_by = recorded_user(user)
    locked.refund_amount_due = total.quantize(FOUR_PLACES)
    locked.save(
        update_fields=["status", "received_at", "received_by", "refund_amount_due", "updated_at"]
    )
    locked.order = order
    order_events.return_received_event(return_request=locked, user=user, actor=actor)
    order_returns_apply(order=order, returned=returned, user=user, actor=actor)
    order_notify(
        order=order,
        event=Event.RETURN_RECEIVED,
        extra={"return": return_payload(return_request=locked)},
    )
    return_request.status = locked.status
    return_request.refund_amount_due = locked.refund_amount_due
    return locked


def return_payload(*, return_request: ReturnRequest) -> dict[str, Any]:
    """The return as partners see it (API answers and the return.received webhook)."""
    shipment = return_request.return_shipment
    return {
        "number": return_request.number,
        "order": return_request.order.number,
        "status": return_request.status,
        "currency": return_request.currency,
        "refund_amount_requested": str(return_request.refund_amount_requested),
        "refund_amount_due": (
            str(return_request.refund_amount_due)
            if return_request.refund_amount_due is not None
            else None
        ),
        "warehouse": return_request.warehouse.code,
        "label": (
            {
                "tracking_number": shipment.tracking_number,
                "label_url": shipment.label_url,
                "tracking_url": shipment.tracking_url,
                "shipment_status": shipment.status,
            }
            if shipment is not None
            else None
        ),
        "lines": [
            {
                "id": line.pk,
                "line_number": line.order_line.line_number,
                "sku": line.order_line.sku,
                "quantity": line.quantity,
                "reason": line.reason,
                "quantity_received": line.quantity_received,
                "condition": line.condition,
                "disposition": line.disposition,
                "refund_amount": str(line.refund_amount)
                if line.refund_amount is not None
                else None,
            }
            for line in return_request.lines.select_related("order_line")
        ],
        "created_at": return_request.created_at.isoformat(),
        "received_at": return_request.received_at.isoformat()
        if return_request.received_at
        else None,
    }
