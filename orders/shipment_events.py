"""Order timeline entries about shipments: planning, dispatch, cancellation, re-routing.

Orders records `shipment_created_event` itself when it plans shipments
(orders.services.shipment_planning). The others happen inside logistics services
(dispatch, re-route, provider cancellation), which may not import orders: they call
them through the `logistics.hooks.order_timeline` port, which this module fills
(orders/apps.py). Each writes through orders.events.event_record, in the caller's
transaction. The shipment passed in has its order loaded (the dispatch services lock
the order and set it on the shipment), so no builder reads the order again.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from orders.events import event_record
from orders.models import OrderEvent
from orders.services.promise import order_promise_refresh

if TYPE_CHECKING:
    from core.users import ActingUser
    from logistics.models import Shipment, ShipmentLine


def shipment_created_event(
    *,
    shipment: Shipment,
    user: ActingUser | None = None,
    actor: str | None = None,
    lines: Iterable[ShipmentLine] | None = None,
    into: list[OrderEvent] | None = None,
) -> OrderEvent:
    """`lines`: the shipment's lines with their order lines, when the caller has them."""
    if lines is None:
        lines = shipment.lines.select_related("order_line")
    return event_record(
        order=shipment.order,
        type=OrderEvent.Type.SHIPMENT_CREATED,
        into=into,
        user=user,
        actor=actor,
        shipment_id=shipment.pk,
        warehouse=shipment.warehouse.code,
        provider=shipment.provider.code,
        lines=[{"sku": line.order_line.sku, "quantity": line.quantity} for line in lines],
    )


def shipment_dispatched_event(*, shipment: Shipment, attempts: int) -> OrderEvent:
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


def dispatch_failed_event(
    *, shipment: Shipment, reason: str, message: str, attempts: int
) -> OrderEvent:
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


def dispatch_retry_requested_event(
    *, shipment: Shipment, user: ActingUser | None = None, actor: str | None = None
) -> OrderEvent:
    return event_record(
        order=shipment.order,
        type=OrderEvent.Type.NOTE_ADDED,
        user=user,
        actor=actor,
        text=f"Dispatch of shipment {shipment.pk} retried by staff.",
        shipment_id=shipment.pk,
        kind="dispatch_retry",
    )


def _note(
    *,
    shipment: Shipment,
    kind: str,
    text: str,
    user: ActingUser | None = None,
    actor: str | None = None,
    **extra: Any,
) -> OrderEvent:
    return event_record(
        order=shipment.order,
        type=OrderEvent.Type.NOTE_ADDED,
        user=user,
        actor=actor,
        text=text,
        shipment_id=shipment.pk,
        provider=shipment.provider.code,
        kind=kind,
        **extra,
    )


def dispatch_parked_event(
    *, shipment: Shipment, user: ActingUser | None = None, actor: str | None = None
) -> OrderEvent:
    return _note(
        shipment=shipment,
        kind="dispatch_parked",
        text=f"Dispatch of shipment {shipment.pk} parked: the order is on hold.",
        user=user,
        actor=actor,
    )


def dispatch_resumed_event(
    *, shipment: Shipment, user: ActingUser | None = None, actor: str | None = None
) -> OrderEvent:
    return _note(
        shipment=shipment,
        kind="dispatch_resumed",
        text=f"Dispatch of shipment {shipment.pk} resumed: the last hold was released.",
        user=user,
        actor=actor,
    )


def shipment_cancelled_event(
    *,
    shipment: Shipment,
    at_provider: bool,
    user: ActingUser | None = None,
    actor: str | None = None,
) -> OrderEvent:
    where = "cancelled by the provider" if at_provider else "cancelled before dispatch"
    return _note(
        shipment=shipment,
        kind="shipment_cancelled",
        text=f"Shipment {shipment.pk} {where}.",
        user=user,
        actor=actor,
        at_provider=at_provider,
    )


def provider_cancel_requested_event(
    *, shipment: Shipment, user: ActingUser | None = None, actor: str | None = None
) -> OrderEvent:
    return _note(
        shipment=shipment,
        kind="provider_cancel_requested",
        text=(
            f"Shipment {shipment.pk} was already accepted by {shipment.provider.code} "
            f"({shipment.provider_reference}); cancellation requested from the provider."
        ),
        user=user,
        actor=actor,
        provider_reference=shipment.provider_reference,
    )


def provider_cancel_refused_event(*, shipment: Shipment, message: str) -> OrderEvent:
    return _note(
        shipment=shipment,
        kind="provider_cancel_refused",
        text=(
            f"{shipment.provider.code} refused to cancel shipment {shipment.pk}: the parcel "
            f"already moved ({message[:300]}). Intercept it or request a return."
        ),
        actor=f"lsp:{shipment.provider.code}",
        message=message[:500],
    )


def dispatch_rerouted_event(
    *,
    shipment: Shipment,
    previous_provider: str,
    user: ActingUser | None = None,
    actor: str | None = None,
) -> OrderEvent:
    # The new provider's transit time made the shipment a new promise: the order's follows.
    order_promise_refresh(order=shipment.order)
    return _note(
        shipment=shipment,
        kind="dispatch_rerouted",
        text=(
            f"Shipment {shipment.pk} re-routed from {previous_provider} (which refused it) "
            f"to {shipment.provider.code}."
        ),
        user=user,
        actor=actor,
        previous_provider=previous_provider,
    )
