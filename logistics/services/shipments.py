"""Shipment planning: one shipment per warehouse holding allocations not yet on a shipment."""

from __future__ import annotations

import logging
from collections import defaultdict
from functools import partial
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Sum
from django.utils import timezone

from core.inserts import insert_select_statement, insert_statement, inserted
from core.models import related_objects_set
from core.pipeline import prepared_cursor
from core.rows import from_row, select_columns
from inventory.models import Allocation, Warehouse
from logistics.models import (
    DispatchOutbox,
    Parcel,
    Provider,
    ServiceLevel,
    Shipment,
    ShipmentLine,
)
from logistics.services.customs import (
    customs_border_crossed,
    customs_declaration_build,
    customs_hold_note,
)
from orders import shipment_events
from orders.events import events_record_many
from orders.models import Order, OrderLine
from orders.transitions import order_transition

if TYPE_CHECKING:
    from inventory.services.stock import Reservation

logger = logging.getLogger(__name__)

# A backordered order waits until it is fully allocated (ship complete): shipping
# part of it would take it past `backordered`, and the backorder worker only
# completes orders that are still backordered.
PLANNABLE = frozenset({Order.Status.ALLOCATED, Order.Status.IN_FULFILMENT})


def shipment_provider_for(
    *, order: Order, warehouse: Warehouse
) -> tuple[Provider | None, ServiceLevel | None]:
    """Who ships from this warehouse: an LSP site's operator, else the order's service
    level provider, else the default provider. (None, None) when nobody can."""
    level = order.service_level
    if warehouse.provider_id is not None:
        provider = warehouse.provider
        if level is not None and level.provider_id != provider.pk:
            level = None
        return (provider if provider.is_active else None), level
    if level is not None and level.provider.is_active:
        return level.provider, level
    provider = Provider.objects.filter(
        code=settings.LOGISTICS_DEFAULT_PROVIDER, is_active=True
    ).first()
    return provider, None


def _unplanned_quantities(order: Order) -> dict[int, dict[int, int]]:
    """warehouse id -> order line id -> allocated quantity not yet on an open shipment."""
    allocated = (
        Allocation.objects.filter(order_line__order=order, status=Allocation.Status.ACTIVE)
        .values("warehouse_id", "order_line_id")
        .annotate(quantity=Sum("quantity"))
    )
    # Open shipments hold the active allocations they will ship; once shipped the
    # allocation is fulfilled and no longer counts on either side.
    on_shipments = (
        ShipmentLine.objects.filter(
            shipment__order=order,
            shipment__shipped_at__isnull=True,
        )
        .exclude(shipment__status=Shipment.Status.CANCELLED)
        .values("shipment__warehouse_id", "order_line_id")
        .annotate(quantity=Sum("quantity"))
    )
    planned = {
        (row["shipment__warehouse_id"], row["order_line_id"]): row["quantity"]
        for row in on_shipments
    }
    result: dict[int, dict[int, int]] = defaultdict(dict)
    for row in allocated:
        key = (row["warehouse_id"], row["order_line_id"])
        remaining = row["quantity"] - planned.get(key, 0)
        if remaining > 0:
            result[row["warehouse_id"]][row["order_line_id"]] = remaining
    return result


# No savepoint of its own when nested: an error aborts the caller's transaction anyway.
@transaction.atomic(savepoint=False)
def shipments_plan_for_order(
    *,
    order: Order,
    user=None,
    actor: str | None = None,
    new_order_reserved: list[Reservation] | None = None,
) -> list[Shipment]:
    """Create one Shipment (lines, parcel, outbox row) per warehouse with unplanned allocations.

    Runs inside the caller's transaction: the shipments and their outbox rows commit
    together with the allocation, and the dispatch task is enqueued only on commit.
    Moves the order to in_fulfilment when at least one shipment was created.
    Returns the new shipments (empty when nothing is allocated, the order is not
    allocated or in fulfilment (a backordered order ships once complete), or no provider can ship from the warehouse: that case is
    logged and left for staff). Raises IllegalTransition only on a status-machine bug.

    `new_order_reserved` says the order was created in the caller's still open
    transaction (order intake) and lists what allocation reserved for it there:
    no other transaction can see its row, so it is not locked again; it has no
    shipments yet (none held at customs, parked or open), so none are looked
    for; and those reservations are all of its allocations, so they are not
    read back.
    """
    if new_order_reserved is not None:
        created = []
        if order.status in PLANNABLE:
            unplanned: dict[int, dict[int, int]] = defaultdict(dict)
            for reservation in new_order_reserved:
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
            )
        # These are all of the new order's shipments: whoever shows it needs no query.
        related_objects_set(order, "shipments", created)
        return created
    locked = (
        Order.objects.select_for_update(of=("self",))
        .select_related("service_level__provider")
        .get(pk=order.pk)
    )
    if locked.status not in PLANNABLE:
        return []
    # Shipments held at the customs gate (no outbox row yet) get another look first:
    # after the product data was fixed and the hold released, they go out now.
    released, held = _customs_held_release(order=locked)
    # Shipments parked while the order was on hold go out again now.
    from logistics.services.dispatch import dispatch_resume_for_order

    resumed = dispatch_resume_for_order(order_id=locked.pk, user=user, actor=actor)
    has_shipments = (
        Shipment.objects.filter(order=locked).exclude(status=Shipment.Status.CANCELLED).exists()
    )
    if has_shipments and locked.status != Order.Status.IN_FULFILMENT:
        # Back from a hold: the shipments planned before it still count, and the
        # parcels the provider had already accepted may have moved meanwhile (the
        # tracking roll-up does not move an on-hold order).
        from orders.services.progress import order_rollup

        order_transition(
            order=locked,
            to=Order.Status.IN_FULFILMENT,
            reason=f"hold released; {resumed} parked shipment(s) resumed",
            user=user,
            actor=actor,
        )
        order_rollup(order=locked)
        if locked.status not in PLANNABLE:
            order.status = locked.status
            return []
    unplanned = _unplanned_quantities(locked)
    created = _plan(
        order=locked, unplanned=unplanned, released=released, held=held, user=user, actor=actor
    )
    order.status = locked.status
    return created


_WAREHOUSES_SQL = (
    f"SELECT {select_columns(Warehouse, 'w')}, {select_columns(Provider, 'p')} "  # noqa: S608
    "FROM inventory_warehouse w LEFT JOIN logistics_provider p ON p.id = w.provider_id "
    "WHERE w.id = ANY(%s)"
)


def _warehouses_with_providers(ids: list[int]) -> dict[int, Warehouse]:
    """Warehouse id -> warehouse with its provider (the ORM's select_related, prepared:
    planning runs in every order intake)."""
    with prepared_cursor() as cursor:
        cursor.execute(_WAREHOUSES_SQL, [ids], prepare=True)
        rows = cursor.fetchall()
    found = {}
    for row in rows:
        warehouse, end = from_row(Warehouse, row)
        warehouse.provider = (
            from_row(Provider, row, end)[0] if warehouse.provider_id is not None else None
        )
        found[warehouse.pk] = warehouse
    return found


def _plan(
    *,
    order: Order,
    unplanned: dict[int, dict[int, int]],
    released: list[Shipment],
    held: list[str],
    user,
    actor,
) -> list[Shipment]:
    """The planning itself, on the order row the caller locked (or just created)."""
    from logistics.tasks import dispatch_shipment_task

    locked = order
    if not unplanned and not released and not held:
        return []
    warehouses = _warehouses_with_providers(list(unplanned))
    # Order intake hands over the new order's lines with their products (see
    # core.models.related_objects_set); anyone else's order reads them.
    known = getattr(locked, "_prefetched_objects_cache", {}).get("lines")
    if known is not None and all(OrderLine.product.is_cached(line) for line in known):
        lines = {line.pk: line for line in known}
    else:
        lines = OrderLine.objects.select_related("product").in_bulk(
            [line_id for per_wh in unplanned.values() for line_id in per_wh]
        )
    now = timezone.now()
    created: list[Shipment] = list(released)
    explained: list = []  # shipment_created events, written with the status change
    for warehouse_id in sorted(unplanned):
        warehouse = warehouses[warehouse_id]
        provider, level = shipment_provider_for(order=locked, warehouse=warehouse)
        if provider is None:
            logger.warning(
                "No active provider can ship order %s from %s; left unplanned.",
                locked.number,
                warehouse.code,
            )
            continue
        shipment = Shipment(
            order=locked, warehouse=warehouse, provider=provider, service_level=level
        )
        ship_lines = [
            ShipmentLine(shipment=shipment, order_line=lines[line_id], quantity=quantity)
            for line_id, quantity in sorted(unplanned[warehouse_id].items())
        ]
        parcel = Parcel(
            shipment=shipment,
            weight_grams=sum(
                line.order_line.product.weight_grams * line.quantity for line in ship_lines
            ),
        )
        # Across a customs border the declaration decides whether the shipment may go.
        crossed = customs_border_crossed(
            origin=warehouse.country, destination=locked.shipping_country
        )
        dispatch = not crossed
        _shipment_insert(
            shipment=shipment,
            lines=ship_lines,
            parcel=parcel,
            outbox=DispatchOutbox(shipment=shipment, next_attempt_at=now) if dispatch else None,
        )
        # The new shipment's complete relations, for whoever shows it in this request.
        related_objects_set(shipment, "lines", ship_lines)
        related_objects_set(shipment, "parcels", [parcel])
        related_objects_set(shipment, "tracking_events", [])
        shipment_events.shipment_created_event(
            shipment=shipment, user=user, actor=actor, lines=ship_lines, into=explained
        )
        if crossed:
            # A new shipment has no old declaration to replace.
            declaration = customs_declaration_build(shipment=shipment, new=True)
            if declaration is not None and not declaration.is_complete:
                # Customs gate: an incomplete declaration is never sent; the order is
                # held with the precise reason and the shipment waits without an outbox row.
                held.append(customs_hold_note(shipment=shipment, declaration=declaration))
            else:
                DispatchOutbox.objects.create(shipment=shipment, next_attempt_at=now)
                dispatch = True
        if dispatch:
            transaction.on_commit(partial(dispatch_shipment_task.delay, shipment_id=shipment.pk))
        created.append(shipment)
    if created and locked.status != Order.Status.IN_FULFILMENT:
        order_transition(
            order=locked,
            to=Order.Status.IN_FULFILMENT,
            reason=f"{len(created)} shipment(s) planned",
            user=user,
            actor=actor,
            with_events=explained,
        )
    else:
        events_record_many(events=explained)
    if held:
        _customs_hold_place(order=locked, note=" ".join(held), user=user, actor=actor)
    return created


def _shipment_insert(
    *,
    shipment: Shipment,
    lines: list[ShipmentLine],
    parcel: Parcel,
    outbox: DispatchOutbox | None,
) -> None:
    """Write a new shipment with its lines, parcel and outbox row in one statement.

    Planning runs inside order intake, where one ORM save per row was a round
    trip each; chained in one `WITH` they cost one. Sets the instances' primary keys.
    """
    s_sql, params = insert_statement(shipment, returning=True)
    p_sql, p_params = insert_select_statement(
        parcel, source="s", columns={"shipment_id": "s.id"}, returning=True
    )
    l_sql, l_params = insert_select_statement(
        lines[0],
        source="s, unnest(%s::bigint[], %s::int[]) AS x(order_line_id, quantity)",
        columns={
            "shipment_id": "s.id",
            "order_line_id": "x.order_line_id",
            "quantity": "x.quantity",
        },
    )
    parts = [f"s AS ({s_sql})", f"p AS ({p_sql})", f"l AS ({l_sql} RETURNING id, order_line_id)"]
    params += p_params + l_params
    params += [[line.order_line_id for line in lines], [line.quantity for line in lines]]
    if outbox is not None:
        o_sql, o_params = insert_select_statement(
            outbox, source="s", columns={"shipment_id": "s.id"}, returning=True
        )
        parts.append(f"o AS ({o_sql})")
        params += o_params
    sql = (
        f"WITH {', '.join(parts)} "  # noqa: S608 - statements from core.inserts
        "SELECT s.id, (SELECT id FROM p), "
        "(SELECT json_agg(json_build_array(order_line_id, id)) FROM l), "
        + ("(SELECT id FROM o) " if outbox is not None else "NULL ")
        + "FROM s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        shipment_id, parcel_id, line_ids, outbox_id = cursor.fetchone()
    line_ids = dict(line_ids)
    for obj, pk in [(shipment, shipment_id), (parcel, parcel_id), (outbox, outbox_id)] + [
        (line, line_ids[line.order_line_id]) for line in lines
    ]:
        if obj is not None:
            inserted(obj, pk)
    # The instances were built before the shipment had a key.
    for obj in [parcel, outbox, *lines]:
        if obj is not None:
            obj.shipment = shipment


def _customs_held_release(*, order: Order) -> tuple[list[Shipment], list[str]]:
    """Send the order's customs-held shipments whose declaration is now complete.

    Returns (released shipments, hold notes of those still incomplete).
    """
    from logistics.tasks import dispatch_shipment_task

    held = list(
        Shipment.objects.select_for_update(of=("self",))
        .select_related("warehouse", "order__channel")
        .filter(
            order=order,
            direction=Shipment.Direction.OUTBOUND,
            status=Shipment.Status.PENDING,
            outbox__isnull=True,
        )
        .order_by("pk")
    )
    released, notes = [], []
    for shipment in held:
        declaration = customs_declaration_build(shipment=shipment)
        if declaration is not None and not declaration.is_complete:
            notes.append(customs_hold_note(shipment=shipment, declaration=declaration))
            continue
        DispatchOutbox.objects.create(shipment=shipment, next_attempt_at=timezone.now())
        transaction.on_commit(partial(dispatch_shipment_task.delay, shipment_id=shipment.pk))
        released.append(shipment)
    return released, notes


def _customs_hold_place(*, order: Order, note: str, user, actor) -> None:
    """Hold the (locked) order for missing customs data; nothing was sent to the provider.

    Not through the desk's order_hold_place: the customs gate itself keeps this
    shipment from being queued. The order's other, already queued shipments are
    parked by the dispatch gate when their task sees the order on hold.
    """
    from orders import events
    from orders.models import Hold

    actor = actor or "system:customs"
    _, created = Hold.objects.get_or_create(
        order=order,
        reason=Hold.Reason.CUSTOMS_DATA_MISSING,
        released_at__isnull=True,
        defaults={"note": note},
    )
    if created:
        events.allocation_hold_placed_event(
            order=order,
            hold_reason=Hold.Reason.CUSTOMS_DATA_MISSING,
            detail=note,
            user=user,
            actor=actor,
        )
    if order.status != Order.Status.ON_HOLD:
        order_transition(
            order=order, to=Order.Status.ON_HOLD, reason=note[:500], user=user, actor=actor
        )
