"""Shipment planning: one shipment per warehouse holding allocations not yet on a shipment.

The order workflow decides here which shipments an order gets (from its active
allocations), moves the order to in_fulfilment, records the timeline and holds the
order at the customs gate; logistics writes the shipment and outbox rows
(logistics.services.shipments) and queues their dispatch.
"""

from __future__ import annotations

import datetime
import logging
from collections import defaultdict
from typing import TYPE_CHECKING

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from core.models import related_objects_set
from inventory.models import Allocation, Warehouse
from logistics.promise_tables import shipment_promise
from logistics.selectors import (
    shipment_quantities_open,
    shipments_exist_for_order,
    warehouses_with_providers,
)
from logistics.services.customs import (
    customs_border_crossed,
    customs_declaration_build,
    customs_hold_note,
)
from logistics.services.dispatch import dispatch_resume_for_order
from logistics.services.shipments import (
    PlannedLine,
    shipment_create,
    shipment_dispatch_queue,
    shipment_provider_for,
    shipments_customs_held_release,
)
from orders import events, shipment_events
from orders.models import Hold, Order, OrderEvent, OrderLine
from orders.services.holds import order_holds_place_automatic
from orders.services.partner_notifications import (
    order_notifications_send,
    shipment_created_event_build,
)
from orders.services.progress import order_rollup
from orders.services.promise import (
    order_promise_refresh,
    order_promise_save,
    order_promise_set,
)
from orders.transitions import order_transition

if TYPE_CHECKING:
    from core.users import ActingUser
    from inventory.services.stock import Reservation
    from logistics.models import Shipment

logger = logging.getLogger(__name__)

# A backordered order waits until it is fully allocated (ship complete): shipping
# part of it would take it past `backordered`, and the backorder worker only
# completes orders that are still backordered...
PLANNABLE = frozenset({Order.Status.ALLOCATED, Order.Status.IN_FULFILMENT})
# ...unless it ships partially (Order.ships_partial, the split policy "ship what is
# available now"): then what is allocated ships now, and the rest the backorder worker
# allocates later is planned while the first shipments move on.
PARTIAL_PLANNABLE = PLANNABLE | {
    Order.Status.BACKORDERED,
    Order.Status.PARTIALLY_SHIPPED,
    Order.Status.PARTIALLY_DELIVERED,
}
# Before any shipment: planning the first one moves the order to in_fulfilment.
_BEFORE_FULFILMENT = frozenset({Order.Status.ALLOCATED, Order.Status.BACKORDERED})


def order_plannable(order: Order) -> bool:
    """Whether shipments may be planned for the order's allocations in its status."""
    if order.ships_partial:
        return order.status in PARTIAL_PLANNABLE
    return order.status in PLANNABLE


# warehouse id -> order line id -> quantity to plan
Unplanned = dict[int, dict[int, int]]


# No savepoint of its own when nested: an error aborts the caller's transaction anyway.
@transaction.atomic(savepoint=False)
def shipments_plan_for_order(
    *,
    order: Order,
    user: ActingUser | None = None,
    actor: str | None = None,
    new_order_reserved: list[Reservation] | None = None,
) -> list[Shipment]:
    """Create one Shipment (lines, parcel, outbox row) per warehouse with unplanned allocations.

    Runs inside the caller's transaction: the shipments and their outbox rows commit
    together with the allocation, and the dispatch task is enqueued only on commit.
    Moves the order to in_fulfilment when at least one shipment was created.
    Returns the new shipments (empty when nothing is allocated, the order is not
    allocated or in fulfilment (a backordered order ships once complete), or no
    provider can ship from the warehouse: that case is logged and left for staff).
    Raises IllegalTransition only on a status-machine bug.

    `new_order_reserved` says the order was created in the caller's still open
    transaction (order intake) and lists what allocation reserved for it there:
    no other transaction can see its row, so it is not locked again; it has no
    shipments yet (none held at customs, parked or open), so none are looked
    for; and those reservations are all of its allocations, so they are not
    read back.
    """
    if new_order_reserved is not None:
        return _plan_new_order(order=order, reserved=new_order_reserved, user=user, actor=actor)
    locked = (
        Order.objects.select_for_update(of=("self",))
        .select_related("service_level__provider")
        .get(pk=order.pk)
    )
    if not order_plannable(locked):
        return []
    # Shipments held at the customs gate (no outbox row yet) get another look first:
    # after the product data was fixed and the hold released, they go out now.
    released, held = shipments_customs_held_release(order_id=locked.pk)
    # Shipments parked while the order was on hold go out again now.
    resumed = dispatch_resume_for_order(order_id=locked.pk, user=user, actor=actor)
    if locked.status in _BEFORE_FULFILMENT and shipments_exist_for_order(order_id=locked.pk):
        # Back from a hold: the shipments planned before it still count, and the
        # parcels the provider had already accepted may have moved meanwhile (the
        # tracking roll-up does not move an on-hold order).
        order_transition(
            order=locked,
            to=Order.Status.IN_FULFILMENT,
            reason=f"hold released; {resumed} parked shipment(s) resumed",
            user=user,
            actor=actor,
        )
        order_rollup(order=locked)
        if not order_plannable(locked):
            order.status = locked.status
            return []
    created = _plan(
        order=locked,
        unplanned=_unplanned_quantities(locked),
        released=released,
        held=held,
        user=user,
        actor=actor,
    )
    if created:
        order_promise_refresh(order=locked)
    order.status = locked.status
    order.ship_by, order.promised_delivery_date = locked.ship_by, locked.promised_delivery_date
    return created


def _plan_new_order(
    *,
    order: Order,
    reserved: list[Reservation],
    user: ActingUser | None,
    actor: str | None,
) -> list[Shipment]:
    """Plan an order created in the caller's transaction from what allocation reserved."""
    created: list[Shipment] = []
    if order_plannable(order):
        unplanned: Unplanned = defaultdict(dict)
        for reservation in reserved:
            per_line = unplanned[reservation.warehouse_id]
            per_line[reservation.order_line_id] = (
                per_line.get(reservation.order_line_id, 0) + reservation.quantity
            )
        created = _plan(
            order=order,
            unplanned=unplanned,
            released=[],
            held=[],
            user=user,
            actor=actor,
            all_shipments=True,
        )
    # These are all of the new order's shipments: whoever shows it needs no query.
    related_objects_set(order, "shipments", created)
    return created


def _unplanned_quantities(order: Order) -> Unplanned:
    """Allocated quantities not yet on an open shipment, per warehouse and order line."""
    allocated = (
        Allocation.objects.filter(order_line__order=order, status=Allocation.Status.ACTIVE)
        .values("warehouse_id", "order_line_id")
        .annotate(quantity=Sum("quantity"))
    )
    planned = shipment_quantities_open(order_id=order.pk)
    result: Unplanned = defaultdict(dict)
    for row in allocated:
        key = (row["warehouse_id"], row["order_line_id"])
        remaining = row["quantity"] - planned.get(key, 0)
        if remaining > 0:
            result[row["warehouse_id"]][row["order_line_id"]] = remaining
    return result


def _plan(
    *,
    order: Order,
    unplanned: Unplanned,
    released: list[Shipment],
    held: list[str],
    user: ActingUser | None,
    actor: str | None,
    all_shipments: bool = False,
) -> list[Shipment]:
    """The planning itself, on the order row the caller locked (or just created).

    `held` collects the customs hold notes (those of `released`'s siblings still
    incomplete come in with it). With `all_shipments` (a new order: what is planned
    here is all it has) the order's promise follows its shipments' in the statement
    that moves its status; otherwise the caller refreshes it.
    """
    if not unplanned and not released and not held:
        return []
    warehouses = warehouses_with_providers(ids=list(unplanned))
    lines = _order_lines(order=order, unplanned=unplanned)
    planned_at = timezone.now()
    created: list[Shipment] = list(released)
    explained: list[OrderEvent] = []  # shipment_created events, written with the status change
    new: list[Shipment] = []
    for warehouse_id in sorted(unplanned):
        shipment = _shipment_plan(
            order=order,
            warehouse=warehouses[warehouse_id],
            quantities=unplanned[warehouse_id],
            lines=lines,
            held=held,
            explained=explained,
            planned_at=planned_at,
            user=user,
            actor=actor,
        )
        if shipment is not None:
            created.append(shipment)
            new.append(shipment)
    # The partner's shipment.created, one per new shipment (released ones were announced).
    order_notifications_send(
        messages=[shipment_created_event_build(order=order, shipment=shipment) for shipment in new]
    )
    promised = all_shipments and order_promise_set(order=order, shipments=created)
    if created and order.status in _BEFORE_FULFILMENT:
        order_transition(
            order=order,
            to=Order.Status.IN_FULFILMENT,
            reason=f"{len(created)} shipment(s) planned",
            user=user,
            actor=actor,
            with_events=explained,
            with_promise=promised,
        )
    else:
        events.events_record_many(events=explained)
        if promised:
            order_promise_save(order=order)
    if held:
        # Customs gate: the held shipments have no outbox row, so nothing is parked here;
        # the order's other, already queued shipments are parked by the dispatch gate
        # when their task sees the order on hold.
        note = " ".join(held)
        order_holds_place_automatic(
            order=order,
            reasons=[(Hold.Reason.CUSTOMS_DATA_MISSING, note)],
            status_reason=note[:500],
            user=user,
            actor=actor or "system:customs",
        )
    return created


def _order_lines(*, order: Order, unplanned: Unplanned) -> dict[int, OrderLine]:
    """The order lines to plan, with their products.

    Order intake hands over the new order's lines with their products (see
    core.models.related_objects_set); anyone else's order reads them.
    """
    known = getattr(order, "_prefetched_objects_cache", {}).get("lines")
    if known is not None and all(OrderLine.product.is_cached(line) for line in known):
        return {line.pk: line for line in known}
    return OrderLine.objects.select_related("product").in_bulk(
        [line_id for per_wh in unplanned.values() for line_id in per_wh]
    )


def _shipment_plan(
    *,
    order: Order,
    warehouse: Warehouse,
    quantities: dict[int, int],
    lines: dict[int, OrderLine],
    held: list[str],
    explained: list[OrderEvent],
    planned_at: datetime.datetime,
    user: ActingUser | None,
    actor: str | None,
) -> Shipment | None:
    """One warehouse's shipment, or None (logged) when no active provider ships from it.

    Across a customs border the declaration decides whether the shipment may go: an
    incomplete one is never sent; its hold note goes to `held` and the shipment
    waits without an outbox row. The shipment's promise is made at `planned_at` from the
    site's calendar and the provider's transit time to the order's country.
    """
    provider, level = shipment_provider_for(warehouse=warehouse, service_level=order.service_level)
    if provider is None:
        logger.warning(
            "No active provider can ship order %s from %s; left unplanned.",
            order.number,
            warehouse.code,
        )
        return None
    crossed = customs_border_crossed(origin=warehouse.country, destination=order.shipping_country)
    shipment = shipment_create(
        order_id=order.pk,
        warehouse=warehouse,
        provider=provider,
        service_level=level,
        lines=[
            PlannedLine(
                order_line_id=line_id,
                quantity=quantity,
                unit_weight_grams=lines[line_id].product.weight_grams,
            )
            for line_id, quantity in sorted(quantities.items())
        ],
        queue_dispatch=not crossed,
        promise=shipment_promise(
            warehouse_id=warehouse.pk,
            provider_id=provider.pk,
            service_level_id=level.pk if level is not None else None,
            country=order.shipping_country,
            at=planned_at,
        ),
    )
    # The new shipment's order and order lines are the instances in hand: whoever shows
    # it in this request (and its timeline entry, its declaration) reads nothing more.
    shipment.order = order
    ship_lines = list(shipment.lines.all())
    for ship_line in ship_lines:
        ship_line.order_line = lines[ship_line.order_line_id]
    shipment_events.shipment_created_event(
        shipment=shipment, user=user, actor=actor, lines=ship_lines, into=explained
    )
    if crossed:
        # A new shipment has no old declaration to replace.
        declaration = customs_declaration_build(shipment=shipment, new=True)
        if declaration is not None and not declaration.is_complete:
            held.append(customs_hold_note(shipment=shipment, declaration=declaration))
        else:
            shipment_dispatch_queue(shipment=shipment)
    return shipment
