"""The order's delivery promise as its shipments make it (docs/routing.md, "The delivery promise").

Allocation gives an order its first promise from the routing decision; once shipments are
planned, each carries its own (logistics.promise), and the order's must agree with them:
it ships by the earliest day one of its shipments still waiting at a site must leave, and
arrives by the latest day one of them is promised.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from typing import TYPE_CHECKING

from django.utils import timezone

from logistics.models import Shipment, ShipmentStatusGroups
from orders.models import Order

if TYPE_CHECKING:
    from collections.abc import Iterable

_Dates = tuple[datetime.date | None, datetime.date | None]


def order_promise_of(shipments: Iterable[Shipment]) -> _Dates | None:
    """(ship_by, promised_delivery_date) the shipments make, or None when they make none.

    Cancelled and return shipments do not count. ship_by is the earliest of those still
    waiting for their provider (pending, dispatch failed), or of all when every one has
    left (a dispatched parcel's ship-by is history, not a deadline); the delivery date is
    the latest of all.
    """
    counted = [
        s
        for s in shipments
        if s.direction == Shipment.Direction.OUTBOUND
        and s.status != Shipment.Status.CANCELLED
        and s.ship_by is not None
        and s.promised_delivery_date is not None
    ]
    if not counted:
        return None
    waiting = [s for s in counted if s.status in ShipmentStatusGroups.AWAITING_PROVIDER]
    ship_by = min(s.ship_by for s in (waiting or counted) if s.ship_by is not None)
    promised = max(s.promised_delivery_date for s in counted if s.promised_delivery_date)
    # A late re-plan can promise a ship-by after an older shipment's delivery date; the
    # order then arrives by the later of the two (the database holds ship_by <= delivery).
    return ship_by, max(promised, ship_by)


def order_promise_refresh(*, order: Order, shipments: Sequence[Shipment] | None = None) -> bool:
    """Make the order's ship_by and promised_delivery_date those of its shipments.

    `shipments` are all the order's shipments when the caller has them (order intake);
    otherwise they are read (one query). An order without shipments that promise
    anything keeps its own promise. Writes (one UPDATE, in the caller's transaction) only
    when something changed; returns whether it did.
    """
    if shipments is None:
        shipments = list(
            Shipment.objects.filter(order_id=order.pk).only(
                "id", "order_id", "direction", "status", "ship_by", "promised_delivery_date"
            )
        )
    if not order_promise_set(order=order, shipments=shipments):
        return False
    order_promise_save(order=order)
    return True


def order_promise_set(*, order: Order, shipments: Iterable[Shipment]) -> bool:
    """order_promise_refresh in memory only: returns whether the order's dates changed (the
    caller writes them, e.g. with its status: orders.transitions.order_transition's
    `with_promise`, or order_promise_save)."""
    dates = order_promise_of(shipments)
    if dates is None or dates == (order.ship_by, order.promised_delivery_date):
        return False
    order.ship_by, order.promised_delivery_date = dates
    return True


def order_promise_save(*, order: Order) -> None:
    """Write the order's ship_by and promised_delivery_date as they are on `order`."""
    order.updated_at = timezone.now()
    Order.objects.filter(pk=order.pk).update(
        ship_by=order.ship_by,
        promised_delivery_date=order.promised_delivery_date,
        updated_at=order.updated_at,
    )


def orders_promise_refresh_many(
    *, shipments_of: Sequence[tuple[Order, Sequence[Shipment]]]
) -> None:
    """order_promise_refresh for many new orders whose shipments the caller holds (batch
    intake): one UPDATE for those that changed."""
    changed: list[Order] = []
    now = timezone.now()
    for order, shipments in shipments_of:
        if order_promise_set(order=order, shipments=shipments):
            order.updated_at = now
            changed.append(order)
    if changed:
        Order.objects.bulk_update(
            changed, ["ship_by", "promised_delivery_date", "updated_at"], batch_size=2000
        )
