"""Applying tracking updates: dedup, shipment roll-up by event time, hand-off to orders.

One engine serves a single update (a poll, a retried webhook) and a batch of webhooks
(the drain). The rows are locked once - the orders (by orders, through the
logistics.hooks.shipment_progress port), then the shipments, each in primary-key
order, the lock order used everywhere else - and every decision is taken in memory,
update by update in arrival order, exactly as if each update had been applied in its
own transaction. The writes then take a fixed number of statements per batch (one
INSERT of tracking events, one UPDATE of the shipments, ...) instead of about 25 per
update. What the shipments' progress means for order lines, order statuses, the
order timeline and the partner is decided and written by orders
(orders.services.progress) in the same transaction.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from logistics import hooks, sql
from logistics.adapters.base import TrackingUpdate
from logistics.models import (
    Provider,
    Shipment,
    ShipmentLine,
    ShipmentStatusGroups,
    TrackingEvent,
    TrackingStatus,
)
from logistics.services.stock_handoff import shipments_stock_leave

T = TrackingStatus
S = Shipment.Status

SHIPMENT_STATUS_FOR: dict[str, str] = {
    T.PRE_TRANSIT: S.DISPATCHED,
    T.IN_TRANSIT: S.IN_TRANSIT,
    T.OUT_FOR_DELIVERY: S.OUT_FOR_DELIVERY,
    T.AVAILABLE_FOR_PICKUP: S.AVAILABLE_FOR_PICKUP,
    T.DELIVERED: S.DELIVERED,
    T.FAILED_ATTEMPT: S.FAILED_ATTEMPT,
    T.EXCEPTION: S.EXCEPTION,
    T.RETURN_TO_SENDER: S.RETURN_TO_SENDER,
    T.CANCELLED: S.CANCELLED,
}
# Events that prove the parcel has left the warehouse.
MOVING = frozenset(
    {
        T.IN_TRANSIT,
        T.OUT_FOR_DELIVERY,
        T.AVAILABLE_FOR_PICKUP,
        T.DELIVERED,
        T.FAILED_ATTEMPT,
        T.RETURN_TO_SENDER,
    }
)
TROUBLE = frozenset({T.FAILED_ATTEMPT, T.EXCEPTION, T.RETURN_TO_SENDER})


@dataclass
class _Batch:
    """What one application decided; written by `_flush` in a fixed number of statements."""

    now: dt.datetime
    progress: hooks.ShipmentProgressBatch
    shipment_lines: dict[int, list[ShipmentLine]] = field(default_factory=dict)
    dirty_shipments: dict[int, Shipment] = field(default_factory=dict)
    leaving: list[tuple[Shipment, list[ShipmentLine]]] = field(default_factory=list)


# --- Public entry points ------------------------------------------------------------
def tracking_update_apply(*, shipment_id: int, update: TrackingUpdate) -> TrackingEvent | None:
    """Store one tracking update (once) and roll shipment and order status up.

    Locks the order, then the shipment (the same order everywhere). The shipment's
    status follows the event with the latest occurrence time, so a late-arriving
    older event is kept in the timeline but changes nothing. Shipped and delivered
    milestones fire once each, whatever the arrival order. Returns the stored event,
    or None for a duplicate.
    """
    return tracking_updates_apply(items=[(shipment_id, update)])[0]


# No savepoint (two round trips): a failure must abort the caller's batch anyway.
@transaction.atomic(savepoint=False)
def tracking_updates_apply(
    *, items: Sequence[tuple[int, TrackingUpdate]]
) -> list[TrackingEvent | None]:
    """Apply many (shipment id, update) pairs in one transaction, in the given order.

    The result is the same as calling `tracking_update_apply` for each pair in turn:
    same stored events (duplicates, in the database or within `items`, are stored
    once), same shipment and order statuses, same OrderEvents in the same order, same
    stock movements and partner notifications. Returns, per pair, the stored event or
    None (a duplicate, or a shipment that does not exist). Raises what the stock
    hand-off raises (InsufficientStock, ValidationFailed); nothing is applied then.
    """
    if not items:
        return []
    shipment_ids = {shipment_id for shipment_id, _ in items}
    # Orders first (locked by orders), then the shipments: the lock order used everywhere.
    progress = hooks.shipment_progress.impl.batch_begin(shipment_ids=shipment_ids)
    shipments = {
        shipment.pk: shipment
        for shipment in Shipment.objects.select_for_update(of=("self",))
        .select_related("provider")
        .filter(pk__in=shipment_ids)
        .order_by("pk")
    }
    events = _events_insert(items=items, shipments=shipments)
    batch = _Batch(now=timezone.now(), progress=progress)
    _preload(batch=batch, items=items, events=events, shipments=shipments)
    for (shipment_id, update), event in zip(items, events, strict=True):
        if event is not None:
            _apply(batch=batch, shipment=shipments[shipment_id], update=update, event=event)
    _flush(batch)
    return events


def dedup_key_for(*, shipment: Shipment, update: TrackingUpdate) -> str:
    return _dedup_key(tracking_number=shipment.tracking_number, update=update)


# --- Deciding -------------------------------------------------------------------------
def _dedup_key(*, tracking_number: str, update: TrackingUpdate) -> str:
    if update.event_id:
        return update.event_id[:128]
    material = f"{update.tracking_number or tracking_number}|{update.status}|"
    material += update.occurred_at.isoformat()
    return "h:" + hashlib.sha256(material.encode()).hexdigest()


def _preload(
    *,
    batch: _Batch,
    items: Sequence[tuple[int, TrackingUpdate]],
    events: list[TrackingEvent | None],
    shipments: dict[int, Shipment],
) -> None:
    """Read, in a query each, what the decisions need: lines, then orders' totals and payloads."""
    may_move: set[int] = set()
    for (shipment_id, _), event in zip(items, events, strict=True):
        if event is None:
            continue
        shipment = shipments[shipment_id]
        if shipment.direction == Shipment.Direction.OUTBOUND and event.status in MOVING:
            may_move.add(shipment_id)
    if may_move:
        for line in ShipmentLine.objects.filter(shipment_id__in=may_move).order_by(
            "shipment_id", "order_line_id"
        ):
            batch.shipment_lines.setdefault(line.shipment_id, []).append(line)
        for shipment_id in may_move:
            batch.shipment_lines.setdefault(shipment_id, [])
    batch.progress.prepare(
        shipments=shipments, moving_order_ids={shipments[pk].order_id for pk in may_move}
    )


def _apply(
    *, batch: _Batch, shipment: Shipment, update: TrackingUpdate, event: TrackingEvent
) -> None:
    """One stored event, decided in memory (see tracking_update_apply's promises)."""
    status_changed = _follow(shipment=shipment, update=update, event=event)
    batch.progress.shipment_tracked(shipment=shipment, tracking_event=event)
    if shipment.direction == Shipment.Direction.RETURN:
        _return_follow(shipment=shipment, event=event, status_changed=status_changed)
        _poll_schedule(batch=batch, shipment=shipment, status_changed=status_changed)
        return
    shipped, delivered = _outbound_follow(batch=batch, shipment=shipment, event=event)
    _poll_schedule(batch=batch, shipment=shipment, status_changed=status_changed)
    batch.progress.shipment_progressed(
        shipment=shipment,
        tracking_event=event,
        lines=batch.shipment_lines.get(shipment.pk, []),
        shipped=shipped,
        delivered=delivered,
        trouble=event.status in TROUBLE,
    )


def _follow(*, shipment: Shipment, update: TrackingUpdate, event: TrackingEvent) -> bool:
    """The shipment's status follows its latest event; True when the status changed."""
    status_changed = False
    if shipment.last_event_at is None or event.occurred_at >= shipment.last_event_at:
        new_status = SHIPMENT_STATUS_FOR.get(event.status)
        if new_status is not None and shipment.status != new_status:
            shipment.status = new_status
            status_changed = True
        shipment.last_event_at = event.occurred_at
    if shipment.tracking_number == "" and update.tracking_number:
        shipment.tracking_number = update.tracking_number[:100]
    return status_changed


def _return_follow(*, shipment: Shipment, event: TrackingEvent, status_changed: bool) -> None:
    # Goods coming back: no stock leaves, no shipped/delivered roll-up; the returns
    # app follows the return (and records the order events) instead.
    if event.status == T.DELIVERED and shipment.delivered_at is None:
        shipment.delivered_at = event.occurred_at
    if event.status in MOVING and shipment.shipped_at is None:
        shipment.shipped_at = event.occurred_at
    if status_changed:
        hooks.return_tracking.impl.return_shipment_tracked(
            shipment=shipment, status=event.status, occurred_at=event.occurred_at
        )


def _outbound_follow(
    *, batch: _Batch, shipment: Shipment, event: TrackingEvent
) -> tuple[bool, bool]:
    """Shipped and delivered milestones, once each: (shipped now, delivered now)."""
    shipped = delivered = False
    if event.status in MOVING:
        if shipment.shipped_at is None:
            shipment.shipped_at = event.occurred_at
            batch.leaving.append((shipment, batch.shipment_lines[shipment.pk]))
            shipped = True
        elif event.occurred_at < shipment.shipped_at:
            shipment.shipped_at = event.occurred_at
    if event.status == T.DELIVERED and shipment.delivered_at is None:
        shipment.delivered_at = event.occurred_at
        delivered = True
    return shipped, delivered


def _poll_schedule(*, batch: _Batch, shipment: Shipment, status_changed: bool) -> None:
    # Any news resets the polling backoff. A shipment that has just finished gets one
    # last reconciliation poll, which fills in events whose webhooks were lost.
    if shipment.status in ShipmentStatusGroups.FINAL:
        if status_changed:
            shipment.next_poll_at = batch.now + dt.timedelta(
                seconds=settings.TRACKING_SAFETY_POLL_SECONDS
            )
    elif shipment.dispatched_at is not None or shipment.provider_reference:
        first = _first_poll_seconds(shipment.provider)
        shipment.poll_interval_seconds = first
        shipment.next_poll_at = batch.now + dt.timedelta(seconds=first)
    if shipment.late_flagged_at is not None and shipment.status != S.EXCEPTION:
        shipment.late_flagged_at = None
    shipment.updated_at = batch.now
    batch.dirty_shipments[shipment.pk] = shipment


def _first_poll_seconds(provider: Provider) -> int:
    if provider.supports_webhooks:
        return int(settings.TRACKING_SAFETY_POLL_SECONDS)
    return int(settings.TRACKING_POLL_SECONDS)


# --- Writing --------------------------------------------------------------------------
def _events_insert(
    *, items: Sequence[tuple[int, TrackingUpdate]], shipments: dict[int, Shipment]
) -> list[TrackingEvent | None]:
    """Insert every new event in one statement; None for duplicates (stored or in `items`)."""
    received_at = timezone.now()
    # The hash key uses the shipment's tracking number, which an earlier update of the
    # same batch may fill in: follow it as the one-by-one application would.
    numbers = {pk: shipment.tracking_number for pk, shipment in shipments.items()}
    seen: set[tuple[int, str]] = set()
    built: list[TrackingEvent | None] = []
    for shipment_id, update in items:
        shipment = shipments.get(shipment_id)
        if shipment is None:
            built.append(None)
            continue
        key = _dedup_key(tracking_number=numbers[shipment_id], update=update)
        if numbers[shipment_id] == "" and update.tracking_number:
            numbers[shipment_id] = update.tracking_number[:100]
        if (shipment_id, key) in seen:
            built.append(None)
            continue
        seen.add((shipment_id, key))
        built.append(
            TrackingEvent(
                shipment=shipment,
                status=update.status,
                provider_status=update.provider_status[:100],
                description=update.description[:500],
                location=update.location[:200],
                occurred_at=update.occurred_at,
                received_at=received_at,
                dedup_key=key,
                raw=dict(update.raw),
            )
        )
    new = [event for event in built if event is not None]
    if not new:
        return built
    ids = sql.tracking_events_insert(events=new)
    for index, event in enumerate(built):
        if event is None:
            continue
        pk = ids.get((event.shipment_id, event.dedup_key))
        if pk is None:
            built[index] = None
            continue
        event.pk = pk
        event._state.adding = False
    return built


def _flush(batch: _Batch) -> None:
    """Write what the batch decided: stock, shipments, then orders' lines, statuses, events."""
    shipments_stock_leave(items=batch.leaving)
    sql.shipments_tracking_update(shipments=list(batch.dirty_shipments.values()))
    batch.progress.flush()
