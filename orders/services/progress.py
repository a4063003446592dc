"""Shipment progress: how shipped, delivered and returned goods move order lines and orders.

The one writer of the order lines' progress counters (quantity_shipped,
quantity_delivered, quantity_returned) and of the progress statuses (partially_shipped
… returned), with their order events and partner notifications:
- tracking ingestion (logistics) reports a whole tracking batch through the
  `logistics.hooks.shipment_progress` port, filled in orders.apps with
  `shipment_progress` below: the order side is decided in memory, update by update,
  and written in a fixed number of statements per batch;
- shipment planning calls `order_rollup` when an order comes back from a hold;
- the returns receipt calls `order_returns_apply`.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from django.db.models import F, Q, Sum

from logistics.models import Shipment, ShipmentLine, TrackingEvent
from logistics.services.partner_events import PartnerEvent
from orders import events
from orders.models import Order, OrderEvent, OrderLine
from orders.services.partner_notifications import (
    Event,
    order_notifications_send,
    order_notify,
    partner_notification_build,
    shipment_tracked_event_build,
    status_changed_event_build,
)
from orders.sql import order_lines_progress_add
from orders.transitions import (
    can_transition,
    order_transition,
    order_transition_deferred,
    orders_transitions_save,
)

if TYPE_CHECKING:
    from core.users import ActingUser

logger = logging.getLogger(__name__)

O = Order.Status  # noqa: E741

PROGRESS_RANK: dict[str, int] = {
    O.IN_FULFILMENT: 0,
    O.PARTIALLY_SHIPPED: 1,
    O.SHIPPED: 2,
    O.PARTIALLY_DELIVERED: 3,
    O.DELIVERED: 4,
}
LSP_ACTOR = "system:tracking"
SHIPPED, DELIVERED = 0, 1  # indexes into the per-line [shipped, delivered] deltas
# The units of a line that are expected to ship: cancelled units (the unshipped rest of
# a partially shipped order, orders.services.cancellation.order_cancel_rest) never
# will, so "fully shipped" is shipped + cancelled == quantity, and so on.
EXPECTED = F("quantity") - F("quantity_cancelled")


class ProgressBatch:
    """The order side of one tracking batch (logistics.hooks.ShipmentProgressBatch)."""

    def __init__(self, *, orders: dict[int, Order]) -> None:
        # The locked orders of the batch's shipments.
        self.orders = orders
        # Lines of the orders that may move: {order_id: {line_id: [expected, shipped, delivered]}}.
        self.totals: dict[int, dict[int, list[int]]] = {}
        # The orders' shipments for partner payloads (None: partner_notification_build queries).
        self.order_shipments: dict[int, list[Shipment]] | None = None
        self.events: list[OrderEvent] = []
        # The partner events of the batch, in the order things happened: one publish.
        self.partner_events: list[PartnerEvent] = []
        self.moved_orders: dict[int, Order] = {}
        self.line_deltas: defaultdict[int, list[int]] = defaultdict(lambda: [0, 0])

    def prepare(
        self, *, shipments: Mapping[int, Shipment], moving_order_ids: Collection[int]
    ) -> None:
        """Attach the locked orders; read the moving orders' lines and the payload rows."""
        for shipment in shipments.values():
            shipment.order = self.orders[shipment.order_id]
        if moving_order_ids:
            for pk, order_id, q, s, d in (
                OrderLine.objects.filter(order_id__in=moving_order_ids)
                .annotate(expected=EXPECTED)
                .values_list("pk", "order_id", "expected", "quantity_shipped", "quantity_delivered")
            ):
                self.totals.setdefault(order_id, {})[pk] = [q, s, d]
            for order_id in moving_order_ids:
                self.totals.setdefault(order_id, {})
        # Which channel listens is the publisher's business (logistics.services.
        # partner_events): every order that may move gets its shipments for the payload.
        notified = {shipment.order_id for shipment in shipments.values()}
        if notified:
            # Payloads list every shipment of the order; the locked ones as they are in memory.
            self.order_shipments = {order_id: [] for order_id in notified}
            for shipment in (
                Shipment.objects.select_related("provider")
                .filter(order_id__in=notified)
                .order_by("pk")
            ):
                self.order_shipments[shipment.order_id].append(shipments.get(shipment.pk, shipment))

    def shipment_tracked(self, *, shipment: Shipment, tracking_event: TrackingEvent) -> None:
        """The partner's shipment.tracking_updated for a newly stored tracking event."""
        self.partner_events.append(
            shipment_tracked_event_build(
                order=shipment.order, shipment=shipment, tracking_event=tracking_event
            )
        )

    def shipment_progressed(
        self,
        *,
        shipment: Shipment,
        tracking_event: TrackingEvent,
        lines: Sequence[ShipmentLine],
        shipped: bool,
        delivered: bool,
        trouble: bool,
    ) -> None:
        """Count the shipment's lines, record its events, and roll its order forward."""
        if shipped:
            self._lines_add(shipment=shipment, lines=lines, index=SHIPPED)
            events.shipment_shipped_event(
                shipment=shipment, occurred_at=tracking_event.occurred_at, into=self.events
            )
        if delivered:
            self._lines_add(shipment=shipment, lines=lines, index=DELIVERED)
            events.shipment_delivered_event(
                shipment=shipment, occurred_at=tracking_event.occurred_at, into=self.events
            )
        if trouble:
            events.tracking_exception_event(
                shipment=shipment,
                status=tracking_event.status,
                description=tracking_event.description,
                occurred_at=tracking_event.occurred_at,
                into=self.events,
            )
            self._notify(
                order=shipment.order,
                event=Event.ORDER_EXCEPTION,
                extra={"shipment_id": shipment.pk, "tracking_status": tracking_event.status},
            )
        if shipped or delivered:
            self.rollup(order=shipment.order)

    def rollup(self, *, order: Order) -> None:
        """Move the order forward to what its lines' totals say (see `order_rollup`)."""
        totals = self.totals[order.pk].values()
        ordered = sum(q for q, _, _ in totals)
        shipped = sum(min(s, q) for q, s, _ in totals)
        delivered = sum(min(d, q) for q, _, d in totals)
        targets = []
        if shipped:
            targets.append(O.SHIPPED if shipped >= ordered else O.PARTIALLY_SHIPPED)
        if delivered:
            targets.append(O.DELIVERED if delivered >= ordered else O.PARTIALLY_DELIVERED)
        for target in targets:
            if order.status not in PROGRESS_RANK and not self._into_fulfilment(
                order=order, target=target
            ):
                return
            self._step(order=order, target=target)

    def flush(self) -> None:
        """Write lines, orders, events and notifications: one statement each at most."""
        order_lines_progress_add(
            deltas={
                pk: (shipped, delivered) for pk, (shipped, delivered) in self.line_deltas.items()
            }
        )
        orders_transitions_save(orders=list(self.moved_orders.values()))
        events.events_record_many(events=self.events)
        order_notifications_send(messages=self.partner_events)

    def _lines_add(self, *, shipment: Shipment, lines: Sequence[ShipmentLine], index: int) -> None:
        totals = self.totals[shipment.order_id]
        for line in lines:
            self.line_deltas[line.order_line_id][index] += line.quantity
            if line.order_line_id in totals:
                totals[line.order_line_id][index + 1] += line.quantity

    def _into_fulfilment(self, *, order: Order, target: str) -> bool:
        # An order whose parcel moves before it was marked in fulfilment (allocated,
        # backordered) gets there first; one on hold or cancelled does not move.
        if not can_transition(order.status, O.IN_FULFILMENT):
            logger.warning(
                "Order %s is %s; not rolling up to %s.", order.number, order.status, target
            )
            return False
        previous = order.status
        order_transition_deferred(
            order=order,
            to=O.IN_FULFILMENT,
            reason="shipment moving",
            actor=LSP_ACTOR,
            into=self.events,
        )
        self.moved_orders[order.pk] = order
        self.partner_events.append(
            status_changed_event_build(order=order, previous_status=previous)
        )
        return True

    def _step(self, *, order: Order, target: str) -> None:
        if PROGRESS_RANK[target] <= PROGRESS_RANK[order.status]:
            return
        if not can_transition(order.status, target):
            logger.warning("Order %s cannot go %s → %s.", order.number, order.status, target)
            return
        previous = order.status
        order_transition_deferred(
            order=order, to=target, reason="tracking roll-up", actor=LSP_ACTOR, into=self.events
        )
        self.moved_orders[order.pk] = order
        self.partner_events.append(
            status_changed_event_build(order=order, previous_status=previous)
        )
        if target == O.SHIPPED:
            self._notify(order=order, event=Event.ORDER_SHIPPED)
        elif target == O.DELIVERED:
            self._notify(order=order, event=Event.ORDER_DELIVERED)

    def _notify(self, *, order: Order, event: str, extra: dict[str, Any] | None = None) -> None:
        shipments = None if self.order_shipments is None else self.order_shipments.get(order.pk)
        self.partner_events.append(
            partner_notification_build(order=order, event=event, extra=extra, shipments=shipments)
        )


class ShipmentProgressService:
    """What logistics' tracking ingestion calls (the logistics.hooks.ShipmentProgress port)."""

    def batch_begin(self, *, shipment_ids: Collection[int]) -> ProgressBatch:
        """Lock the orders of these shipments (pk order) and start a batch on them."""
        orders = {
            order.pk: order
            for order in Order.objects.select_for_update(of=("self",))
            .select_related("channel")
            .filter(pk__in=Shipment.objects.filter(pk__in=shipment_ids).values("order_id"))
            .order_by("pk")
        }
        return ProgressBatch(orders=orders)

    def shipment_trouble_record(self, *, shipment: Shipment, status: str, description: str) -> None:
        """A tracking_exception order event and the partner's order.exception, written now."""
        events.tracking_exception_event(shipment=shipment, status=status, description=description)
        order_notify(
            order=shipment.order,
            event=Event.ORDER_EXCEPTION,
            extra={"shipment_id": shipment.pk, "tracking_status": status},
        )


# The one instance orders.apps registers in logistics.hooks.shipment_progress.
shipment_progress = ShipmentProgressService()


def order_rollup(*, order: Order) -> Order:
    """Move the (locked) order forward to what its lines' shipped/delivered counts say.

    Cancelled units are not expected: a line is fully shipped when shipped + cancelled
    reaches its quantity.

    Never moves backwards; steps through the status machine so that every move is an
    OrderEvent (e.g. in_fulfilment → shipped → delivered), and notifies the partner of
    shipped and delivered. A move the machine does not allow (an order on hold or
    cancelled while its parcel ships) is logged, not raised.
    """
    batch = ProgressBatch(orders={order.pk: order})
    batch.totals[order.pk] = {
        pk: [q, s, d]
        for pk, q, s, d in order.lines.annotate(expected=EXPECTED).values_list(
            "pk", "expected", "quantity_shipped", "quantity_delivered"
        )
    }
    batch.rollup(order=order)
    batch.flush()
    return order


def order_returns_apply(
    *,
    order: Order,
    returned: Sequence[tuple[int, int]],
    user: ActingUser | None = None,
    actor: str | None = None,
) -> Order:
    """Count returned units on their order lines and move the (locked) order to
    partially_returned or returned.

    `returned`: (order line id, quantity received) pairs, written in the given order.
    Cancelled units never shipped, so the order is `returned` once every unit that
    was not cancelled came back.
    The status moves only as far as the machine allows (a move it refuses is logged),
    with a status_changed event (reason "return received").
    """
    for order_line_id, quantity in returned:
        OrderLine.objects.filter(pk=order_line_id).update(
            quantity_returned=F("quantity_returned") + quantity
        )
    totals = order.lines.aggregate(
        ordered=Sum(EXPECTED),
        returned=Sum("quantity_returned", filter=Q(quantity_returned__gt=0)),
    )
    returned_total = totals["returned"] or 0
    if not returned_total:
        return order
    target = O.RETURNED if returned_total >= totals["ordered"] else O.PARTIALLY_RETURNED
    if not can_transition(order.status, target):
        logger.warning("Order %s cannot go %s → %s.", order.number, order.status, target)
        return order
    order_transition(order=order, to=target, reason="return received", user=user, actor=actor)
    return order
