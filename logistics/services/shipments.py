"""Writing the shipments the order workflow planned (orders.services.shipment_planning).

Which shipments an order gets, its status change, its timeline and the customs hold
are decided in orders; logistics writes the shipment rows and their dispatch outbox
rows here, from plain inputs, and queues the dispatch on commit.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core.inserts import insert_all
from core.models import related_objects_set
from inventory.models import Warehouse
from logistics import sql
from logistics.models import (
    DispatchOutbox,
    Parcel,
    Provider,
    ServiceLevel,
    Shipment,
    ShipmentLine,
)
from logistics.promise import Promise
from logistics.services.customs import customs_declaration_build, customs_hold_note

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PlannedLine:
    """One line of a planned shipment: how many units of an order line, and their weight."""

    order_line_id: int
    quantity: int
    unit_weight_grams: int


def shipment_provider_for(
    *, warehouse: Warehouse, service_level: ServiceLevel | None
) -> tuple[Provider | None, ServiceLevel | None]:
    """Who ships from this warehouse: an LSP site's operator, else the provider of the
    order's service level, else the default provider. (None, None) when nobody can.

    `warehouse` has its provider loaded (logistics.selectors.warehouses_with_providers);
    `service_level` is the order's, with its provider."""
    level = service_level
    operator = warehouse.provider
    if operator is not None:
        if level is not None and level.provider_id != operator.pk:
            level = None
        return (operator if operator.is_active else None), level
    if level is not None and level.provider.is_active:
        return level.provider, level
    provider = Provider.objects.filter(
        code=settings.LOGISTICS_DEFAULT_PROVIDER, is_active=True
    ).first()
    return provider, None


def dispatches_through_outbox(warehouse: Warehouse) -> bool:
    """THE rule of which shipments the dispatch outbox sends to a provider's API.

    An LSP site's shipments are handed to its operator right after planning. An own
    site picks and packs them itself (logistics.services.picking, then the pack
    station buys the carrier label): they never get an outbox row and wait `pending`
    for a pick wave.
    """
    return warehouse.kind != Warehouse.Kind.OWN


def shipment_create(
    *,
    order_id: int,
    warehouse: Warehouse,
    provider: Provider,
    service_level: ServiceLevel | None,
    lines: Sequence[PlannedLine],
    queue_dispatch: bool,
    promise: Promise | None = None,
) -> Shipment:
    """Write a new outbound shipment with its lines and one parcel, in the caller's transaction.

    `promise` (logistics.promise) is the ship-by and delivery date it carries.

    With `queue_dispatch` (and a site that dispatches through the outbox, see
    `dispatches_through_outbox`) its outbox row is written in the same statement and the
    dispatch task is enqueued on commit; without (a customs declaration must be
    checked first) the shipment waits until `shipment_dispatch_queue`. The returned
    shipment carries its lines, parcels and (no) tracking events, so whoever shows it
    in this request reads nothing more.
    """
    queue_dispatch = queue_dispatch and dispatches_through_outbox(warehouse)
    shipment = Shipment(
        order_id=order_id,
        warehouse=warehouse,
        provider=provider,
        service_level=service_level,
        ship_by=promise.ship_by if promise else None,
        promised_delivery_date=promise.promised_delivery_date if promise else None,
    )
    ship_lines = [
        ShipmentLine(shipment=shipment, order_line_id=line.order_line_id, quantity=line.quantity)
        for line in lines
    ]
    parcel = Parcel(
        shipment=shipment,
        weight_grams=sum(line.unit_weight_grams * line.quantity for line in lines),
    )
    outbox = (
        DispatchOutbox(shipment=shipment, next_attempt_at=timezone.now())
        if queue_dispatch
        else None
    )
    sql.shipment_insert(shipment=shipment, lines=ship_lines, parcel=parcel, outbox=outbox)
    related_objects_set(shipment, "lines", ship_lines)
    related_objects_set(shipment, "parcels", [parcel])
    related_objects_set(shipment, "tracking_events", [])
    if queue_dispatch:
        _dispatch_enqueue_on_commit(shipment_id=shipment.pk)
    return shipment


@dataclass(frozen=True)
class PlannedShipment:
    """One shipment of a batch for `shipments_create_many`: shipment_create's arguments."""

    order_id: int
    warehouse: Warehouse
    provider: Provider
    service_level: ServiceLevel | None
    lines: Sequence[PlannedLine]
    queue_dispatch: bool
    promise: Promise | None = None


# Rows per INSERT in shipments_create_many (Postgres takes 65,535 parameters a statement).
_MANY_CHUNK = 2000


def shipments_create_many(*, planned: Sequence[PlannedShipment]) -> list[Shipment]:
    """`shipment_create` for many shipments at once (batch order intake): the same rows,
    one INSERT per table instead of one statement per shipment; returned in `planned`
    order, carrying their lines, parcels and (no) tracking events, with the dispatch of
    each queued one enqueued on commit (all in one callback)."""
    if not planned:
        return []
    now = timezone.now()
    shipments = [
        Shipment(
            order_id=p.order_id,
            warehouse=p.warehouse,
            provider=p.provider,
            service_level=p.service_level,
            ship_by=p.promise.ship_by if p.promise else None,
            promised_delivery_date=p.promise.promised_delivery_date if p.promise else None,
        )
        for p in planned
    ]
    _insert_chunked(shipments)
    lines: list[ShipmentLine] = []
    parcels: list[Parcel] = []
    outboxes: list[DispatchOutbox] = []
    for shipment, p in zip(shipments, planned, strict=True):
        ship_lines = [
            ShipmentLine(
                shipment=shipment, order_line_id=line.order_line_id, quantity=line.quantity
            )
            for line in p.lines
        ]
        parcel = Parcel(
            shipment=shipment,
            weight_grams=sum(line.unit_weight_grams * line.quantity for line in p.lines),
        )
        lines += ship_lines
        parcels.append(parcel)
        if p.queue_dispatch and dispatches_through_outbox(p.warehouse):
            outboxes.append(DispatchOutbox(shipment=shipment, next_attempt_at=now))
        related_objects_set(shipment, "lines", ship_lines)
        related_objects_set(shipment, "parcels", [parcel])
        related_objects_set(shipment, "tracking_events", [])
    _insert_chunked(lines)
    _insert_chunked(parcels)
    _insert_chunked(outboxes)
    queued = [o.shipment.pk for o in outboxes]
    if queued:
        transaction.on_commit(partial(_dispatch_enqueue_many, shipment_ids=queued))
    return shipments


def _dispatch_enqueue_many(*, shipment_ids: list[int]) -> None:
    """The shipments' dispatch tasks, from one on-commit callback.

    Many shipments go as ONE message whose worker publishes a task per shipment: each
    publish costs the request about 6 ms, a batch of 100 orders 0.6 s. A lost message
    loses nothing (GuardedTask logs a broker that is down; the outbox rows are the
    record the dispatch sweeper re-sends), and one delivered twice sends nothing twice
    (the outbox claim).
    """
    from logistics.tasks import dispatch_fanout_task, dispatch_shipment_task

    if len(shipment_ids) == 1:
        dispatch_shipment_task.delay(shipment_id=shipment_ids[0])
    elif shipment_ids:
        dispatch_fanout_task.delay(shipment_ids=shipment_ids)


def _insert_chunked(objs: Sequence[Shipment | ShipmentLine | Parcel | DispatchOutbox]) -> None:
    for start in range(0, len(objs), _MANY_CHUNK):
        insert_all(*objs[start : start + _MANY_CHUNK])


def shipment_dispatch_queue(*, shipment: Shipment) -> None:
    """Give a shipment that waited (customs) its outbox row and enqueue its dispatch on commit.

    An own site's shipment gets none: it waits for picking (`dispatches_through_outbox`).
    """
    if not dispatches_through_outbox(shipment.warehouse):
        return
    DispatchOutbox.objects.create(shipment=shipment, next_attempt_at=timezone.now())
    _dispatch_enqueue_on_commit(shipment_id=shipment.pk)


def _dispatch_enqueue_on_commit(*, shipment_id: int) -> None:
    from logistics.tasks import dispatch_shipment_task

    transaction.on_commit(partial(dispatch_shipment_task.delay, shipment_id=shipment_id))


def shipments_customs_held_release(*, order_id: int) -> tuple[list[Shipment], list[str]]:
    """Send the order's customs-held shipments whose declaration is now complete.

    Held: outbound, pending, without an outbox row (the customs gate of planning kept
    it back). Each declaration is rebuilt from the current product data; a complete
    one gets its outbox row and dispatch. Runs in the caller's transaction, which holds
    the order's lock; locks the held shipments. Returns (released shipments, the hold
    notes of those still incomplete).
    """
    held = list(
        Shipment.objects.select_for_update(of=("self",))
        .select_related("warehouse", "order__channel")
        .filter(
            order_id=order_id,
            direction=Shipment.Direction.OUTBOUND,
            status=Shipment.Status.PENDING,
            outbox__isnull=True,
        )
        .order_by("pk")
    )
    released: list[Shipment] = []
    notes: list[str] = []
    for shipment in held:
        declaration = customs_declaration_build(shipment=shipment)
        if declaration is not None and not declaration.is_complete:
            notes.append(customs_hold_note(shipment=shipment, declaration=declaration))
            continue
        shipment_dispatch_queue(shipment=shipment)
        released.append(shipment)
    return released, notes


def shipment_line_shrink(*, shipment_line: ShipmentLine, quantity: int) -> int:
    """Take `quantity` units off a shipment line (a short pick the shipment goes on
    without); a line left with none is deleted. The caller holds the shipment's lock.
    Returns the line's new quantity."""
    left = max(shipment_line.quantity - quantity, 0)
    if left:
        ShipmentLine.objects.filter(pk=shipment_line.pk).update(quantity=left)
    else:
        ShipmentLine.objects.filter(pk=shipment_line.pk).delete()
    shipment_line.quantity = left
    return left
