"""One small function per order event type: the only way OrderEvent rows are written."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from core.inserts import insert_all
from core.users import ActingUser, recorded_user
from orders.models import Hold, Order, OrderEvent

if TYPE_CHECKING:
    import datetime as dt

    from django.contrib.auth.models import User

    from logistics.models import Shipment

SYSTEM = "system"


def _actor_label(user: ActingUser | None, actor: str | None) -> str:
    if actor:
        return actor
    if user is not None:
        return f"user:{user.get_username()}"
    return SYSTEM


def event_record(
    *,
    order: Order,
    type: OrderEvent.Type,
    user: ActingUser | None = None,
    actor: str | None = None,
    into: list[OrderEvent] | None = None,
    **parameters: Any,
) -> OrderEvent:
    """Append one event to the order's timeline. Call inside the transaction that made the change.

    With `into`, the event is built but not saved: it is appended to that list, which
    the caller writes with `events_record_many` in the same transaction (batch writers).
    """
    event = OrderEvent(
        order=order,
        type=type,
        user=recorded_user(user),
        actor=_actor_label(user, actor),
        parameters=parameters,
    )
    if into is not None:
        into.append(event)
    else:
        events_record_many(events=[event])
    return event


def events_record_many(*, events: list[OrderEvent]) -> list[OrderEvent]:
    """Write events built with `event_record(into=...)` in one INSERT, in list order.

    Ids ascend in list order, so a timeline reads as if the events had been
    recorded one by one. No model signal is sent: whatever an event should cause
    (a partner notification) is called by the service that records it.
    """
    if events:
        insert_all(*events)
    return events


def order_received_event(
    *,
    order: Order,
    actor: str | None = None,
    user: ActingUser | None = None,
    line_count: int | None = None,
    into: list[OrderEvent] | None = None,
) -> OrderEvent:
    return event_record(
        order=order,
        type=OrderEvent.Type.RECEIVED,
        user=user,
        actor=actor,
        into=into,
        channel=order.channel.code,
        external_reference=order.external_reference,
        lines=order.lines.count() if line_count is None else line_count,
    )


def status_changed_event(
    *,
    order: Order,
    old: str,
    new: str,
    reason: str = "",
    user: ActingUser | None = None,
    actor: str | None = None,
    into: list[OrderEvent] | None = None,
) -> OrderEvent:
    return event_record(
        order=order,
        type=OrderEvent.Type.STATUS_CHANGED,
        user=user,
        actor=actor,
        into=into,
        old_status=old,
        new_status=new,
        reason=reason,
    )


def note_added_event(
    *, order: Order, text: str, user: ActingUser | None = None, actor: str | None = None
) -> OrderEvent:
    return event_record(
        order=order, type=OrderEvent.Type.NOTE_ADDED, user=user, actor=actor, text=text
    )


# --- Shipment progress (written by orders.services.progress) ----------------------


def shipment_shipped_event(
    *, shipment: Shipment, occurred_at: dt.datetime, into: list[OrderEvent] | None = None
) -> OrderEvent:
    return _milestone(OrderEvent.Type.SHIPPED, shipment=shipment, at=occurred_at, into=into)


def shipment_delivered_event(
    *, shipment: Shipment, occurred_at: dt.datetime, into: list[OrderEvent] | None = None
) -> OrderEvent:
    return _milestone(OrderEvent.Type.DELIVERED, shipment=shipment, at=occurred_at, into=into)


def _milestone(
    type_: OrderEvent.Type, *, shipment: Shipment, at: dt.datetime, into: list[OrderEvent] | None
) -> OrderEvent:
    # A parcel milestone the provider reported: the provider is the actor.
    return event_record(
        order=shipment.order,
        into=into,
        type=type_,
        actor=f"lsp:{shipment.provider.code}",
        shipment_id=shipment.pk,
        tracking_number=shipment.tracking_number,
        occurred_at=at.isoformat(),
    )


def tracking_exception_event(
    *,
    shipment: Shipment,
    status: str,
    description: str = "",
    occurred_at: dt.datetime | None = None,
    into: list[OrderEvent] | None = None,
) -> OrderEvent:
    return event_record(
        order=shipment.order,
        into=into,
        type=OrderEvent.Type.TRACKING_EXCEPTION,
        actor=f"lsp:{shipment.provider.code}",
        shipment_id=shipment.pk,
        tracking_number=shipment.tracking_number,
        status=status,
        description=description,
        occurred_at=occurred_at.isoformat() if occurred_at else None,
    )


# --- Allocation (written by orders.services.allocation) -------------------


def stock_allocated_event(
    *,
    order: Order,
    strategy: str,
    reason: str,
    allocations: list[dict[str, Any]],
    routing: dict[str, Any] | None = None,
    user: ActingUser | None = None,
    actor: str | None = None,
    into: list[OrderEvent] | None = None,
) -> OrderEvent:
    """`allocations`: [{"line", "sku", "warehouse", "quantity"}]; `reason` is for a CS agent;
    `routing`: the router's explanation (rule, objective, chosen, alternatives)."""
    extra = {"routing": routing} if routing is not None else {}
    return event_record(
        order=order,
        type=OrderEvent.Type.ALLOCATED,
        user=user,
        actor=actor,
        into=into,
        strategy=strategy,
        reason=reason,
        allocations=allocations,
        **extra,
    )


def stock_backordered_event(
    *,
    order: Order,
    reason: str,
    lines: list[dict[str, Any]],
    user: ActingUser | None = None,
    actor: str | None = None,
    into: list[OrderEvent] | None = None,
) -> OrderEvent:
    """`lines`: [{"line", "sku", "ordered", "allocated", "backordered"}]."""
    return event_record(
        order=order,
        type=OrderEvent.Type.BACKORDERED,
        user=user,
        actor=actor,
        into=into,
        reason=reason,
        lines=lines,
    )


def stock_deallocated_event(
    *,
    order: Order,
    reason: str,
    allocations: list[dict[str, Any]],
    user: ActingUser | None = None,
    actor: str | None = None,
) -> OrderEvent:
    return event_record(
        order=order,
        type=OrderEvent.Type.DEALLOCATED,
        user=user,
        actor=actor,
        reason=reason,
        allocations=allocations,
    )


def allocation_hold_placed_event(
    *,
    order: Order,
    hold_reason: str,
    detail: str,
    user: ActingUser | None = None,
    actor: str | None = None,
) -> OrderEvent:
    """A hold placed automatically when allocation found a reason to stop."""
    return event_record(
        order=order,
        type=OrderEvent.Type.HOLD_PLACED,
        user=user,
        actor=actor,
        reason=hold_reason,
        detail=detail,
        automatic=True,
    )


def order_cancelled_event(
    *,
    order: Order,
    reason: str = "",
    previous_status: str,
    user: ActingUser | None = None,
    actor: str | None = None,
) -> OrderEvent:
    return event_record(
        order=order,
        type=OrderEvent.Type.CANCELLED,
        user=user,
        actor=actor,
        reason=reason,
        previous_status=previous_status,
    )


def rest_cancelled_event(
    *,
    order: Order,
    lines: list[dict[str, Any]],
    reason: str = "",
    previous_status: str,
    user: ActingUser | None = None,
    actor: str | None = None,
) -> OrderEvent:
    """`lines`: [{"line", "sku", "quantity"}] for each line whose unshipped units were cancelled."""
    return event_record(
        order=order,
        type=OrderEvent.Type.REST_CANCELLED,
        user=user,
        actor=actor,
        reason=reason,
        previous_status=previous_status,
        lines=lines,
    )


def hold_placed_event(
    *, order: Order, hold: Hold, user: ActingUser | None = None, actor: str | None = None
) -> OrderEvent:
    return event_record(
        order=order,
        type=OrderEvent.Type.HOLD_PLACED,
        user=user,
        actor=actor,
        hold_id=hold.pk,
        reason=hold.reason,
        note=hold.note,
    )


def hold_released_event(
    *, order: Order, hold: Hold, user: ActingUser | None = None, actor: str | None = None
) -> OrderEvent:
    return event_record(
        order=order,
        type=OrderEvent.Type.HOLD_RELEASED,
        user=user,
        actor=actor,
        hold_id=hold.pk,
        reason=hold.reason,
        note=hold.release_note,
    )


def hold_assigned_event(
    *,
    order: Order,
    hold: Hold,
    previous_owner: User | None,
    user: ActingUser | None = None,
    actor: str | None = None,
) -> OrderEvent:
    return event_record(
        order=order,
        type=OrderEvent.Type.HOLD_ASSIGNED,
        user=user,
        actor=actor,
        hold_id=hold.pk,
        reason=hold.reason,
        owner=hold.owner.get_username() if hold.owner else "",
        previous_owner=previous_owner.get_username() if previous_owner else "",
    )


def address_changed_event(
    *,
    order: Order,
    old: dict[str, Any],
    new: dict[str, Any],
    user: ActingUser | None = None,
    actor: str | None = None,
) -> OrderEvent:
    return event_record(
        order=order, type=OrderEvent.Type.ADDRESS_CHANGED, user=user, actor=actor, old=old, new=new
    )


def order_edited_event(
    *,
    order: Order,
    changes: dict[str, Any],
    user: ActingUser | None = None,
    actor: str | None = None,
) -> OrderEvent:
    """`changes`: what orders.services.edits.order_edit changed (its `changes` summary)."""
    return event_record(
        order=order, type=OrderEvent.Type.EDITED, user=user, actor=actor, changes=changes
    )


def order_rerouted_event(
    *,
    order: Order,
    reason: str,
    before_sites: list[str],
    after_sites: list[str],
    excluded_sites: list[str],
    cancelled_shipments: list[int],
    user: ActingUser | None = None,
    actor: str | None = None,
) -> OrderEvent:
    """orders.services.reroute.order_reroute: the sites the order's stock was reserved at
    before and after (warehouse codes), the sites it was told to avoid, the unsent
    shipments it cancelled and the reason a person gave."""
    return event_record(
        order=order,
        type=OrderEvent.Type.REROUTED,
        user=user,
        actor=actor,
        reason=reason,
        before_sites=before_sites,
        after_sites=after_sites,
        excluded_sites=excluded_sites,
        cancelled_shipments=cancelled_shipments,
    )
