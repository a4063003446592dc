"""Applying tracking updates: dedup, shipment roll-up by event time, order roll-up.

One engine serves a single update (a poll, a retried webhook) and a batch of webhooks
(the drain). The rows are locked once - the orders, then the shipments, each in
primary-key order, the lock order used everywhere else - and every decision is taken
in memory, update by update in arrival order, exactly as if each update had been
applied in its own transaction. The writes then take a fixed number of statements per
batch (one INSERT of tracking events, one UPDATE of the shipments, ...) instead of
about 25 per update.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.utils import timezone

from logistics import order_events
from logistics.adapters.base import TrackingUpdate
from logistics.models import (
    PartnerWebhookDelivery,
    Provider,
    Shipment,
    ShipmentLine,
    ShipmentStatusGroups,
    TrackingEvent,
    TrackingStatus,
)
from logistics.services import partner_webhooks
from logistics.services.stock_handoff import shipments_stock_leave
from logistics.signals import return_shipment_tracked
from orders.events import events_record_many
from orders.models import Order, OrderEvent, OrderLine
from orders.transitions import can_transition, order_transition_deferred, orders_transitions_save

logger = logging.getLogger(__name__)

T = TrackingStatus
S = Shipment.Status
O = Order.Status  # noqa: E741

SHIPMENT_STATUS_FOR = {
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
PROGRESS_RANK = {
    O.IN_FULFILMENT: 0,
    O.PARTIALLY_SHIPPED: 1,
    O.SHIPPED: 2,
    O.PARTIALLY_DELIVERED: 3,
    O.DELIVERED: 4,
}
LSP_ACTOR = "system:tracking"
SHIPPED, DELIVERED = 0, 1  # indexes into the per-line [shipped, delivered] deltas


@dataclass
class _Batch:
    """What one application decided; written by `_flush` in a fixed number of statements."""

    now: dt.datetime
    # Order lines of the orders that may move: {order_id: {line_id: [ordered, shipped, delivered]}}.
    totals: dict[int, dict[int, list[int]]] = field(default_factory=dict)
    shipment_lines: dict[int, list[ShipmentLine]] = field(default_factory=dict)
    # The orders' shipments for partner payloads (None: partner_webhook_build queries).
    order_shipments: dict[int, list[Shipment]] | None = None
    events: list[OrderEvent] = field(default_factory=list)
    deliveries: list[PartnerWebhookDelivery] = field(default_factory=list)
    moved_orders: dict[int, Order] = field(default_factory=dict)
    dirty_shipments: dict[int, Shipment] = field(default_factory=dict)
    line_deltas: dict[int, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))
    leaving: list[tuple[Shipment, list[ShipmentLine]]] = field(default_factory=list)

    def notify(self, *, order: Order, event: str, extra: dict | None = None) -> None:
        if not partner_webhooks.partner_wants_webhooks(order=order):
            return
        shipments = None if self.order_shipments is None else self.order_shipments.get(order.pk)
        delivery = partner_webhooks.partner_webhook_build(
            order=order, event=event, extra=extra, shipments=shipments
        )
        if delivery is not None:
            self.deliveries.append(delivery)

    def lines_add(self, *, shipment: Shipment, index: int) -> None:
        totals = self.totals[shipment.order_id]
        for line in self.shipment_lines[shipment.pk]:
            self.line_deltas[line.order_line_id][index] += line.quantity
            if line.order_line_id in totals:
                totals[line.order_line_id][index + 1] += line.quantity


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
    orders = {
        order.pk: order
        for order in Order.objects.select_for_update(of=("self",))
        .select_related("channel")
        .filter(pk__in=Shipment.objects.filter(pk__in=shipment_ids).values("order_id"))
        .order_by("pk")
    }
    shipments = {
        shipment.pk: shipment
        for shipment in Shipment.objects.select_for_update(of=("self",))
        .select_related("provider")
        .filter(pk__in=shipment_ids)
        .order_by("pk")
    }
    for shipment in shipments.values():
        shipment.order = orders[shipment.order_id]
    events = _events_insert(items=items, shipments=shipments)
    batch = _Batch(now=timezone.now())
    _preload(batch=batch, items=items, events=events, shipments=shipments)
    for (shipment_id, update), event in zip(items, events, strict=True):
        if event is not None:
            _apply(batch=batch, shipment=shipments[shipment_id], update=update, event=event)
    _flush(batch)
    return events


def order_rollup(*, order: Order) -> Order:
    """Move the (locked) order forward to what its lines' shipped/delivered counts say.

    Never moves backwards; steps through the status machine so that every move is an
    OrderEvent (e.g. in_fulfilment → shipped → delivered). A move the machine does
    not allow (an order on hold or cancelled while its parcel ships) is logged.
    """
    batch = _Batch(now=timezone.now())
    batch.totals[order.pk] = {
        pk: [q, s, d]
        for pk, q, s, d in order.lines.values_list(
            "pk", "quantity", "quantity_shipped", "quantity_delivered"
        )
    }
    _rollup(batch=batch, order=order)
    _flush(batch)
    return order


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
    """Read, in a query each, what the decisions need: lines, order totals, payload rows."""
    may_move: set[int] = set()
    for (shipment_id, _), event in zip(items, events, strict=True):
        if event is None:
            continue
        shipment = shipments[shipment_id]
        if shipment.direction == Shipment.Direction.OUTBOUND and (
            event.status in MOVING or event.status == T.DELIVERED
        ):
            may_move.add(shipment_id)
    if may_move:
        for line in ShipmentLine.objects.filter(shipment_id__in=may_move).order_by(
            "shipment_id", "order_line_id"
        ):
            batch.shipment_lines.setdefault(line.shipment_id, []).append(line)
        for shipment_id in may_move:
            batch.shipment_lines.setdefault(shipment_id, [])
        order_ids = {shipments[pk].order_id for pk in may_move}
        for pk, order_id, q, s, d in OrderLine.objects.filter(order_id__in=order_ids).values_list(
            "pk", "order_id", "quantity", "quantity_shipped", "quantity_delivered"
        ):
            batch.totals.setdefault(order_id, {})[pk] = [q, s, d]
        for order_id in order_ids:
            batch.totals.setdefault(order_id, {})
    notified = {
        shipment.order_id
        for shipment in shipments.values()
        if partner_webhooks.partner_wants_webhooks(order=shipment.order)
    }
    if notified:
        # Payloads list every shipment of the order; the locked ones as they are in memory.
        batch.order_shipments = {order_id: [] for order_id in notified}
        for shipment in (
            Shipment.objects.select_related("provider").filter(order_id__in=notified).order_by("pk")
        ):
            batch.order_shipments[shipment.order_id].append(shipments.get(shipment.pk, shipment))


def _apply(
    *, batch: _Batch, shipment: Shipment, update: TrackingUpdate, event: TrackingEvent
) -> None:
    """One stored event, decided in memory (see tracking_update_apply's promises)."""
    order = shipment.order
    status_changed = False
    if shipment.last_event_at is None or event.occurred_at >= shipment.last_event_at:
        new_status = SHIPMENT_STATUS_FOR.get(event.status)
        if new_status is not None and shipment.status != new_status:
            shipment.status = new_status
            status_changed = True
        shipment.last_event_at = event.occurred_at
    if shipment.tracking_number == "" and update.tracking_number:
        shipment.tracking_number = update.tracking_number[:100]
    order_changed = False
    outbound = shipment.direction == Shipment.Direction.OUTBOUND
    if shipment.direction == Shipment.Direction.RETURN:
        # Goods coming back: no stock leaves, no shipped/delivered roll-up; the
        # returns app follows the return (and records the order events) instead.
        if event.status == T.DELIVERED and shipment.delivered_at is None:
            shipment.delivered_at = event.occurred_at
        if event.status in MOVING and shipment.shipped_at is None:
            shipment.shipped_at = event.occurred_at
        if status_changed:
            return_shipment_tracked.send(
                sender=Shipment,
                shipment=shipment,
                status=event.status,
                occurred_at=event.occurred_at,
            )
    elif event.status in MOVING:
        if shipment.shipped_at is None:
            shipment.shipped_at = event.occurred_at
            batch.leaving.append((shipment, batch.shipment_lines[shipment.pk]))
            batch.lines_add(shipment=shipment, index=SHIPPED)
            order_events.shipment_shipped_event(
                shipment=shipment, tracking_event=event, into=batch.events
            )
            order_changed = True
        elif event.occurred_at < shipment.shipped_at:
            shipment.shipped_at = event.occurred_at
    if event.status == T.DELIVERED and shipment.delivered_at is None and outbound:
        shipment.delivered_at = event.occurred_at
        batch.lines_add(shipment=shipment, index=DELIVERED)
        order_events.shipment_delivered_event(
            shipment=shipment, tracking_event=event, into=batch.events
        )
        order_changed = True
    if event.status in TROUBLE and outbound:
        order_events.tracking_exception_event(
            shipment=shipment,
            status=event.status,
            description=event.description,
            occurred_at=event.occurred_at,
            into=batch.events,
        )
        batch.notify(
            order=order,
            event=partner_webhooks.Event.ORDER_EXCEPTION,
            extra={"shipment_id": shipment.pk, "tracking_status": event.status},
        )
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
    if order_changed:
        _rollup(batch=batch, order=order)


def _first_poll_seconds(provider: Provider) -> int:
    if provider.supports_webhooks:
        return settings.TRACKING_SAFETY_POLL_SECONDS
    return settings.TRACKING_POLL_SECONDS


def _rollup(*, batch: _Batch, order: Order) -> None:
    totals = batch.totals[order.pk].values()
    ordered = sum(q for q, _, _ in totals)
    shipped = sum(min(s, q) for q, s, _ in totals)
    delivered = sum(min(d, q) for q, _, d in totals)
    targets = []
    if shipped:
        targets.append(O.SHIPPED if shipped >= ordered else O.PARTIALLY_SHIPPED)
    if delivered:
        targets.append(O.DELIVERED if delivered >= ordered else O.PARTIALLY_DELIVERED)
    for target in targets:
        if order.status not in PROGRESS_RANK:
            if not can_transition(order.status, O.IN_FULFILMENT):
                logger.warning(
                    "Order %s is %s; not rolling up to %s.", order.number, order.status, target
                )
                return
            order_transition_deferred(
                order=order,
                to=O.IN_FULFILMENT,
                reason="shipment moving",
                actor=LSP_ACTOR,
                into=batch.events,
            )
            batch.moved_orders[order.pk] = order
        if PROGRESS_RANK[target] <= PROGRESS_RANK[order.status]:
            continue
        if not can_transition(order.status, target):
            logger.warning("Order %s cannot go %s → %s.", order.number, order.status, target)
            continue
        order_transition_deferred(
            order=order, to=target, reason="tracking roll-up", actor=LSP_ACTOR, into=batch.events
        )
        batch.moved_orders[order.pk] = order
        if target == O.SHIPPED:
            batch.notify(order=order, event=partner_webhooks.Event.ORDER_SHIPPED)
        elif target == O.DELIVERED:
            batch.notify(order=order, event=partner_webhooks.Event.ORDER_DELIVERED)


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
    ids: dict[tuple[int, str], int] = {}
    table = TrackingEvent._meta.db_table
    with connection.cursor() as cursor:
        for start in range(0, len(new), 500):
            chunk = new[start : start + 500]
            values = ", ".join(["(%s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb)"] * len(chunk))
            cursor.execute(
                f"INSERT INTO {table} (shipment_id, status, provider_status, "  # noqa: S608
                "description, location, occurred_at, received_at, dedup_key, raw) "
                f"VALUES {values} "
                "ON CONFLICT (shipment_id, dedup_key) DO NOTHING "
                "RETURNING id, shipment_id, dedup_key",
                [
                    value
                    for e in chunk
                    for value in (
                        e.shipment_id,
                        e.status,
                        e.provider_status,
                        e.description,
                        e.location,
                        e.occurred_at,
                        e.received_at,
                        e.dedup_key,
                        json.dumps(e.raw, cls=DjangoJSONEncoder),
                    )
                ],
            )
            ids.update({(shipment_id, key): pk for pk, shipment_id, key in cursor.fetchall()})
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
    """Write what the batch decided: stock, lines, shipments, orders, events, webhooks."""
    shipments_stock_leave(items=batch.leaving)
    _order_lines_add(batch.line_deltas)
    _shipments_save(list(batch.dirty_shipments.values()))
    orders_transitions_save(orders=list(batch.moved_orders.values()))
    events_record_many(events=batch.events)
    partner_webhooks.partner_webhooks_enqueue_many(deliveries=batch.deliveries)


def _order_lines_add(deltas: dict[int, list[int]]) -> None:
    rows = [(pk, shipped, delivered) for pk, (shipped, delivered) in sorted(deltas.items())]
    if not rows:
        return
    values = ", ".join(["(%s, %s, %s)"] * len(rows))
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {OrderLine._meta.db_table} AS l "  # noqa: S608 - placeholders only
            "SET quantity_shipped = l.quantity_shipped + v.shipped::integer, "
            "quantity_delivered = l.quantity_delivered + v.delivered::integer "
            f"FROM (VALUES {values}) AS v(id, shipped, delivered) WHERE l.id = v.id::bigint",
            [value for row in rows for value in row],
        )


_SHIPMENT_COLUMNS = (
    ("status", "text"),
    ("last_event_at", "timestamptz"),
    ("shipped_at", "timestamptz"),
    ("delivered_at", "timestamptz"),
    ("tracking_number", "text"),
    ("next_poll_at", "timestamptz"),
    ("poll_interval_seconds", "integer"),
    ("late_flagged_at", "timestamptz"),
    ("updated_at", "timestamptz"),
)


def _shipments_save(shipments: list[Shipment]) -> None:
    """Write the roll-up fields of every touched shipment in one UPDATE ... FROM (VALUES)."""
    if not shipments:
        return
    columns = ", ".join(name for name, _ in _SHIPMENT_COLUMNS)
    assignments = ", ".join(f"{name} = v.{name}::{kind}" for name, kind in _SHIPMENT_COLUMNS)
    row = "(" + ", ".join(["%s"] * (len(_SHIPMENT_COLUMNS) + 1)) + ")"
    shipments = sorted(shipments, key=lambda s: s.pk)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {Shipment._meta.db_table} AS s SET {assignments} "  # noqa: S608
            f"FROM (VALUES {', '.join([row] * len(shipments))}) AS v(id, {columns}) "
            "WHERE s.id = v.id::bigint",
            [
                value
                for s in shipments
                for value in (s.pk, *(getattr(s, name) for name, _ in _SHIPMENT_COLUMNS))
            ],
        )
