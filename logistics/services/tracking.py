"""Tracking ingestion: raw webhook log, dedup, shipment and order roll-up, polling, lateness."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import uuid
from functools import partial

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from logistics import broker, order_events
from logistics.adapters.base import AdapterError, TrackingUpdate
from logistics.adapters.registry import adapter_for
from logistics.models import (
    InboundWebhook,
    Provider,
    Shipment,
    ShipmentStatusGroups,
    TrackingEvent,
    TrackingStatus,
)
from logistics.services import partner_webhooks
from logistics.services.stock_handoff import shipment_stock_leave
from logistics.signals import return_shipment_tracked
from orders.models import Order, OrderLine
from orders.transitions import can_transition, order_transition

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


# --- Receiving ------------------------------------------------------------------
def inbound_webhook_receive(*, provider: Provider, webhook_id: str, body: bytes) -> int | None:
    """Store a verified webhook's raw body and enqueue its processing on commit.

    Returns the new row id, or None when this provider already sent this webhook id
    (a redelivery: nothing is stored or processed again).
    """
    from logistics.tasks import tracking_process_webhook_task

    table = InboundWebhook._meta.db_table
    with transaction.atomic(), connection.cursor() as cursor:
        # One round trip; ON CONFLICT makes concurrent redeliveries safe without a savepoint.
        cursor.execute(
            f"INSERT INTO {table} (provider_id, webhook_id, body, status, received_at, "  # noqa: S608
            "attempts, error) VALUES (%s, %s, %s, 'pending', now(), 0, '') "
            "ON CONFLICT (provider_id, webhook_id) DO NOTHING RETURNING id",
            [provider.pk, webhook_id[:128], body.decode("utf-8", errors="replace")],
        )
        row = cursor.fetchone()
        if row is None:
            return None
        transaction.on_commit(partial(tracking_process_webhook_task.delay, inbound_id=row[0]))
    return row[0]


def inbound_webhook_process(*, inbound_id: int) -> str:
    """Parse a stored webhook and apply its events; safe to run any number of times.

    Returns the row's resulting status. A webhook none of whose events names a known
    shipment is marked `unmatched` (kept, retried by the sweeper for a while).
    Database errors propagate (the transaction rolls back and the caller retries).
    """
    with transaction.atomic():
        row = (
            # of=self: with the provider row locked too, concurrent webhooks of one
            # provider would skip each other.
            InboundWebhook.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("provider")
            .filter(
                pk=inbound_id,
                status__in=[InboundWebhook.Status.PENDING, InboundWebhook.Status.UNMATCHED],
            )
            .first()
        )
        if row is None:
            return "skipped"
        updates = adapter_for(row.provider).parse_webhook(row.body.encode())
        matched = 0
        for update in updates:
            shipment_id = shipment_id_for_update(provider=row.provider, update=update)
            if shipment_id is None:
                continue
            matched += 1
            tracking_update_apply(shipment_id=shipment_id, update=update)
        row.attempts += 1
        row.processed_at = timezone.now()
        row.status = (
            InboundWebhook.Status.PROCESSED
            if matched or not updates
            else InboundWebhook.Status.UNMATCHED
        )
        row.save(update_fields=["status", "attempts", "processed_at"])
        return row.status


def inbound_webhook_failed(*, inbound_id: int, error: str) -> None:
    InboundWebhook.objects.filter(pk=inbound_id).update(
        attempts=F("attempts") + 1, error=error[:2000]
    )


def shipment_id_for_update(*, provider: Provider, update: TrackingUpdate) -> int | None:
    """Our shipment an update is about: by our reference, the provider's id, or tracking no."""
    shipments = Shipment.objects.filter(provider=provider)
    if update.client_reference:
        try:
            token = uuid.UUID(update.client_reference)
        except ValueError:
            token = None
        if token is not None:
            found = shipments.filter(idempotency_token=token).values_list("pk", flat=True).first()
            if found:
                return found
    if update.provider_reference:
        found = (
            shipments.filter(provider_reference=update.provider_reference)
            .values_list("pk", flat=True)
            .first()
        )
        if found:
            return found
    if update.tracking_number:
        return (
            shipments.filter(tracking_number=update.tracking_number)
            .order_by("-pk")
            .values_list("pk", flat=True)
            .first()
        )
    return None


def dedup_key_for(*, shipment: Shipment, update: TrackingUpdate) -> str:
    if update.event_id:
        return update.event_id[:128]
    material = f"{update.tracking_number or shipment.tracking_number}|{update.status}|"
    material += update.occurred_at.isoformat()
    return "h:" + hashlib.sha256(material.encode()).hexdigest()


# --- Applying -------------------------------------------------------------------
@transaction.atomic
def tracking_update_apply(*, shipment_id: int, update: TrackingUpdate) -> TrackingEvent | None:
    """Store one tracking update (once) and roll shipment and order status up.

    Locks the order, then the shipment (the same order everywhere). The shipment's
    status follows the event with the latest occurrence time, so a late-arriving
    older event is kept in the timeline but changes nothing. Shipped and delivered
    milestones fire once each, whatever the arrival order. Returns the stored event,
    or None for a duplicate.
    """
    # Round trips are the cost of this function under load: one query locks the order
    # (found through the shipment), one the shipment, one inserts the event.
    order = (
        Order.objects.select_for_update(of=("self",))
        .select_related("channel")
        .get(shipments__id=shipment_id)
    )
    shipment = (
        Shipment.objects.select_for_update(of=("self",))
        .select_related("provider")
        .get(pk=shipment_id)
    )
    shipment.order = order
    event = _event_insert(shipment=shipment, update=update)
    if event is None:
        return None
    now = timezone.now()
    fields = {"updated_at"}
    if shipment.last_event_at is None or event.occurred_at >= shipment.last_event_at:
        new_status = SHIPMENT_STATUS_FOR.get(event.status)
        if new_status is not None and shipment.status != new_status:
            shipment.status = new_status
            fields.add("status")
        shipment.last_event_at = event.occurred_at
        fields.add("last_event_at")
    if shipment.tracking_number == "" and update.tracking_number:
        shipment.tracking_number = update.tracking_number[:100]
        fields.add("tracking_number")
    order_changed = False
    lines: list | None = None
    if shipment.direction == Shipment.Direction.RETURN:
        # Goods coming back: no stock leaves, no shipped/delivered roll-up; the
        # returns app follows the return (and records the order events) instead.
        if event.status == T.DELIVERED and shipment.delivered_at is None:
            shipment.delivered_at = event.occurred_at
            fields.add("delivered_at")
        if event.status in MOVING and shipment.shipped_at is None:
            shipment.shipped_at = event.occurred_at
            fields.add("shipped_at")
        if "status" in fields:
            return_shipment_tracked.send(
                sender=Shipment,
                shipment=shipment,
                status=event.status,
                occurred_at=event.occurred_at,
            )
    elif event.status in MOVING:
        if shipment.shipped_at is None:
            shipment.shipped_at = event.occurred_at
            lines = list(shipment.lines.order_by("order_line_id"))
            shipment_stock_leave(shipment=shipment, lines=lines)
            _lines_add(lines=lines, field="quantity_shipped")
            order_events.shipment_shipped_event(shipment=shipment, tracking_event=event)
            order_changed = True
        elif event.occurred_at < shipment.shipped_at:
            shipment.shipped_at = event.occurred_at
        fields.add("shipped_at")
    if (
        event.status == T.DELIVERED
        and shipment.delivered_at is None
        and shipment.direction == Shipment.Direction.OUTBOUND
    ):
        shipment.delivered_at = event.occurred_at
        fields.add("delivered_at")
        if lines is None:
            lines = list(shipment.lines.order_by("order_line_id"))
        _lines_add(lines=lines, field="quantity_delivered")
        order_events.shipment_delivered_event(shipment=shipment, tracking_event=event)
        order_changed = True
    if event.status in TROUBLE and shipment.direction == Shipment.Direction.OUTBOUND:
        order_events.tracking_exception_event(
            shipment=shipment,
            status=event.status,
            description=event.description,
            occurred_at=event.occurred_at,
        )
        partner_webhooks.partner_webhook_enqueue(
            order=order,
            event=partner_webhooks.Event.ORDER_EXCEPTION,
            extra={"shipment_id": shipment.pk, "tracking_status": event.status},
        )
    # Any news resets the polling backoff. A shipment that has just finished gets one
    # last reconciliation poll, which fills in events whose webhooks were lost.
    if shipment.status in ShipmentStatusGroups.FINAL:
        if "status" in fields:
            shipment.next_poll_at = now + dt.timedelta(
                seconds=settings.TRACKING_SAFETY_POLL_SECONDS
            )
    elif shipment.dispatched_at is not None or shipment.provider_reference:
        first = _first_poll_seconds(shipment.provider)
        shipment.poll_interval_seconds = first
        shipment.next_poll_at = now + dt.timedelta(seconds=first)
    if shipment.late_flagged_at is not None and shipment.status != S.EXCEPTION:
        shipment.late_flagged_at = None
    fields |= {"next_poll_at", "poll_interval_seconds", "late_flagged_at"}
    shipment.save(update_fields=sorted(fields))
    if order_changed:
        order_rollup(order=order)
    return event


def _first_poll_seconds(provider: Provider) -> int:
    if provider.supports_webhooks:
        return settings.TRACKING_SAFETY_POLL_SECONDS
    return settings.TRACKING_POLL_SECONDS


def _lines_add(*, lines: list, field: str) -> None:
    for line in lines:
        OrderLine.objects.filter(pk=line.order_line_id).update(**{field: F(field) + line.quantity})


def _event_insert(*, shipment: Shipment, update: TrackingUpdate) -> TrackingEvent | None:
    """Insert the event unless (shipment, dedup_key) exists, in one round trip."""
    event = TrackingEvent(
        shipment=shipment,
        status=update.status,
        provider_status=update.provider_status[:100],
        description=update.description[:500],
        location=update.location[:200],
        occurred_at=update.occurred_at,
        received_at=timezone.now(),
        dedup_key=dedup_key_for(shipment=shipment, update=update),
        raw=dict(update.raw),
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {TrackingEvent._meta.db_table} (shipment_id, status, "  # noqa: S608
            "provider_status, description, location, occurred_at, received_at, dedup_key, raw) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (shipment_id, dedup_key) DO NOTHING RETURNING id",
            [
                shipment.pk,
                event.status,
                event.provider_status,
                event.description,
                event.location,
                event.occurred_at,
                event.received_at,
                event.dedup_key,
                json.dumps(event.raw, cls=DjangoJSONEncoder),
            ],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    event.pk = row[0]
    event._state.adding = False
    return event


def order_rollup(*, order: Order) -> Order:
    """Move the (locked) order forward to what its lines' shipped/delivered counts say.

    Never moves backwards; steps through the status machine so that every move is an
    OrderEvent (e.g. in_fulfilment → shipped → delivered). A move the machine does
    not allow (an order on hold or cancelled while its parcel ships) is logged.
    """
    totals = list(order.lines.values_list("quantity", "quantity_shipped", "quantity_delivered"))
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
                return order
            order_transition(
                order=order, to=O.IN_FULFILMENT, reason="shipment moving", actor=LSP_ACTOR
            )
        if PROGRESS_RANK[target] <= PROGRESS_RANK[order.status]:
            continue
        if not can_transition(order.status, target):
            logger.warning("Order %s cannot go %s → %s.", order.number, order.status, target)
            continue
        order_transition(order=order, to=target, reason="tracking roll-up", actor=LSP_ACTOR)
        if target == O.SHIPPED:
            partner_webhooks.partner_webhook_enqueue(
                order=order, event=partner_webhooks.Event.ORDER_SHIPPED
            )
        elif target == O.DELIVERED:
            partner_webhooks.partner_webhook_enqueue(
                order=order, event=partner_webhooks.Event.ORDER_DELIVERED
            )
    return order


# --- Polling, sweeping, lateness ------------------------------------------------
def shipment_poll(*, shipment_id: int) -> int:
    """Ask the provider for the shipment's tracking and apply what is new.

    Returns the number of new events. With nothing new, the poll interval doubles (up
    to TRACKING_POLL_MAX_SECONDS) so that parcels that do not move cost little; a
    finished shipment is polled this once more (reconciliation) and then no longer.
    Provider errors are logged and the next poll is scheduled with the same backoff.
    """
    shipment = Shipment.objects.select_related("provider").get(pk=shipment_id)
    if not shipment.provider_reference:
        Shipment.objects.filter(pk=shipment_id).update(next_poll_at=None)
        return 0
    try:
        updates = adapter_for(shipment.provider).fetch_tracking(shipment)
    except AdapterError as exc:
        # Keep the shipment scheduled (a finished one too: its reconciliation poll
        # has not happened yet) and try again after the backoff.
        logger.info("Tracking poll of shipment %s failed: %s", shipment_id, exc.message)
        _poll_backoff(shipment, include_final=True)
        return 0
    new = 0
    for update in sorted(updates, key=lambda u: u.occurred_at):
        if tracking_update_apply(shipment_id=shipment_id, update=update) is not None:
            new += 1
    # A finished shipment has had its reconciliation poll: no more polls.
    Shipment.objects.filter(pk=shipment_id, status__in=ShipmentStatusGroups.FINAL).update(
        next_poll_at=None
    )
    if not new:
        _poll_backoff(shipment, include_final=False)
    return new


def _poll_backoff(shipment: Shipment, *, include_final: bool) -> None:
    interval = min(max(shipment.poll_interval_seconds, 1) * 2, settings.TRACKING_POLL_MAX_SECONDS)
    rows = Shipment.objects.filter(pk=shipment.pk, next_poll_at__isnull=False)
    if not include_final:
        rows = rows.exclude(status__in=ShipmentStatusGroups.FINAL)
    rows.update(
        poll_interval_seconds=interval,
        next_poll_at=timezone.now() + dt.timedelta(seconds=interval),
    )


def tracking_polls_due(*, limit: int = 200) -> list[int]:
    """Claim shipments whose poll is due (pushing their next poll out) and return their ids.

    Polls wait while the tracking queue holds more than a sweep's worth of messages:
    a poll is never urgent, and claiming polls that cannot run in time would only
    claim them again.
    """
    if broker.queue_backlog("tracking") > limit:
        return []
    now = timezone.now()
    with transaction.atomic():
        rows = list(
            Shipment.objects.select_for_update(skip_locked=True)
            .filter(next_poll_at__lte=now)
            .order_by("next_poll_at")
            .values_list("pk", "poll_interval_seconds")[:limit]
        )
        for pk, interval in rows:
            # Claimed: not due again until this poll had time to run and reschedule.
            Shipment.objects.filter(pk=pk).update(
                next_poll_at=now
                + dt.timedelta(seconds=max(interval, settings.LOGISTICS_ACK_TIMEOUT_SECONDS))
            )
    return [pk for pk, _ in rows]


def tracking_sweep(*, limit: int = 500) -> list[int]:
    """Claim inbound webhooks still unprocessed after a while (lost message, killed worker).

    Each row is handed out at most once per LOGISTICS_ACK_TIMEOUT_SECONDS (swept_at),
    and only while the tracking queue is drained (see logistics.broker), so a backlog
    that is merely queued is not flooded with duplicate tasks.
    """
    if broker.queue_backlog("tracking"):
        return []
    now = timezone.now()
    cutoff = now - dt.timedelta(seconds=settings.LOGISTICS_ACK_TIMEOUT_SECONDS)
    day_ago = now - dt.timedelta(days=1)
    with transaction.atomic():
        ids = list(
            InboundWebhook.objects.select_for_update(skip_locked=True)
            .filter(
                # An unmatched webhook is retried a few times (its shipment may not be
                # committed yet); a pending one until it is processed.
                Q(status=InboundWebhook.Status.PENDING, attempts__lt=20)
                | Q(
                    status=InboundWebhook.Status.UNMATCHED,
                    received_at__gte=day_ago,
                    attempts__lt=5,
                ),
                Q(swept_at__isnull=True) | Q(swept_at__lte=cutoff),
                received_at__lte=cutoff,
            )
            .order_by("received_at")
            .values_list("pk", flat=True)[:limit]
        )
        InboundWebhook.objects.filter(pk__in=ids).update(swept_at=now)
    return ids


@transaction.atomic
def shipments_flag_late(*, now: dt.datetime | None = None) -> int:
    """Flag moving shipments with no event for longer than their service level allows.

    Records a tracking_exception OrderEvent (reason late) once per lateness spell and
    notifies the channel. Returns the number of shipments flagged.
    """
    now = now or timezone.now()
    default_hours = 72
    candidates = (
        Shipment.objects.select_for_update(skip_locked=True, of=("self",))
        .select_related("service_level", "provider", "order__channel")
        .filter(late_flagged_at__isnull=True, dispatched_at__isnull=False)
        # A return label may wait days for the customer to drop the parcel off.
        .exclude(direction=Shipment.Direction.RETURN)
        .exclude(status__in=ShipmentStatusGroups.FINAL)
        .exclude(status__in=ShipmentStatusGroups.AWAITING_PROVIDER)
    )
    flagged = 0
    for shipment in candidates:
        hours = (
            shipment.service_level.max_transit_hours if shipment.service_level else default_hours
        )
        last = shipment.last_event_at or shipment.dispatched_at
        if last > now - dt.timedelta(hours=hours):
            continue
        shipment.late_flagged_at = now
        shipment.save(update_fields=["late_flagged_at", "updated_at"])
        order_events.tracking_exception_event(
            shipment=shipment, status="late", description=f"No tracking event for {hours} h."
        )
        partner_webhooks.partner_webhook_enqueue(
            order=shipment.order,
            event=partner_webhooks.Event.ORDER_EXCEPTION,
            extra={"shipment_id": shipment.pk, "tracking_status": "late"},
        )
        flagged += 1
    return flagged
