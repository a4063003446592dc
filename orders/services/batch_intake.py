"""Batch order intake: up to 500 partner orders in one transaction, set-based.

Each item ends as N single creates (`orders.services.intake.order_create`) would
leave it: the same rows, events, holds, allocation outcome, shipments and
dispatches. The database work is done for the whole batch at once: one
pipelined read of products, service levels and order numbers; one INSERT each
for the orders, their lines and their `received` events; the stock levels of
every product the batch allocates locked once, in primary-key order (the global
lock order), and reserved with one statement (`inventory.services.stock.
stock_reserve_many`); one INSERT for the allocation events and one UPDATE for
the statuses. Shipment planning then runs per allocated order.

Items are independent: an item refused for its own reasons (unknown SKU or
service level, a duplicate `external_reference` against the channel's orders or
an earlier item of the batch) is reported as its problem and writes nothing,
and the others go ahead. Should the set-based path hit something it did not
foresee (an integrity error), the batch is redone item by item with a savepoint
each, so that again only the offending item is refused.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from core.errors import DomainError
from core.inserts import insert_all, insert_statement, inserted
from core.models import related_objects_set
from core.pipeline import pipelined, prepared_cursor
from inventory import sql as inventory_sql
from inventory.models import Product, StockLevel
from inventory.services.stock import (
    OrderReservations,
    Reservation,
    stock_levels_lock,
    stock_reserve_many,
)
from logistics import sql as logistics_sql
from logistics.models import Provider, ServiceLevel, Shipment
from logistics.promise_tables import shipment_promise
from logistics.selectors import warehouses_with_providers
from logistics.services.customs import customs_border_crossed
from logistics.services.shipments import (
    PlannedLine,
    PlannedShipment,
    shipment_provider_for,
    shipments_create_many,
)
from orders import events, hooks, shipment_events
from orders.models import Channel, ChannelWarehouse, Order, OrderEvent, OrderLine
from orders.numbers import format_order_number

# The allocation decision itself is allocation.py's, step for step: the same policy,
# the same split of picks over lines and the same events (see _order_allocate).
from orders.services.allocation import (
    _allocation_events,
    _Line,
    _picks_per_line,
    order_ships_partial_mark,
)
from orders.services.allocation_policy import hold_reasons
from orders.services.holds import order_holds_place_automatic
from orders.services.intake import (
    OrderInput,
    duplicate_reference,
    order_build,
    order_create,
    order_lines_build,
    products_by_sku,
    products_check,
    service_level_from,
)
from orders.services.intake import _invalid as invalid_order
from orders.services.partner_notifications import (
    order_notifications_send,
    orders_created_publish,
    partner_events_held,
    shipment_created_event_build,
)
from orders.services.promise import orders_promise_refresh_many
from orders.services.shipment_planning import PLANNABLE, shipments_plan_for_order
from orders.sql import NEXT_NUMBERS_SQL
from orders.transitions import order_transition_deferred, orders_transitions_save

if TYPE_CHECKING:
    from core.users import ActingUser

logger = logging.getLogger(__name__)

MAX_BATCH = 500
S = Order.Status
# Rows per INSERT: Postgres takes at most 65,535 parameters in one statement.
_MAX_PARAMS = 65_000
_ON_DUPLICATE_REFERENCE = (
    "ON CONFLICT (channel_id, external_reference) DO NOTHING RETURNING id, external_reference"
)

Outcome = Order | DomainError
_TOTAL_STEP = Decimal(1).scaleb(-Order._meta.get_field("total_amount").decimal_places)


@dataclass(eq=False)  # compared by identity: two items are never the same item
class _Item:
    index: int
    data: OrderInput
    order: Order | None = None
    lines: list[OrderLine] = field(default_factory=list)
    reserved: list[Reservation] = field(default_factory=list)
    shipments: list[Shipment] = field(default_factory=list)


def orders_create_batch(
    *,
    channel: Channel,
    items: Sequence[OrderInput],
    user: ActingUser | None = None,
    actor: str | None = None,
) -> list[Outcome]:
    """Create each order of `items` as `order_create` would, in the caller's transaction.

    Returns one outcome per item, in input order: the created Order, or the
    DomainError that refused it (ValidationFailed 422 for an unknown or inactive
    SKU, an unknown service level or no lines; Conflict 409
    `duplicate_external_reference` with `existing_order` when the channel, or an
    earlier item of the batch, already has the reference). A refused item writes
    nothing. Run it inside a transaction (the partner API's request is one), so
    that an idempotent replay returns the same outcome.
    """
    if len(items) > MAX_BATCH:
        raise ValueError(f"At most {MAX_BATCH} orders per batch.")
    if not items:
        return []
    try:
        with transaction.atomic():
            return _create_set_based(channel=channel, items=items, user=user, actor=actor)
    except IntegrityError:
        # Something no check foresaw (a constraint hit by one item): redo the batch
        # item by item, so that only that item is refused.
        logger.warning("Batch intake fell back to one order at a time.", exc_info=True)
        return _create_one_by_one(channel=channel, items=items, user=user, actor=actor)


def _create_one_by_one(
    *,
    channel: Channel,
    items: Sequence[OrderInput],
    user: ActingUser | None,
    actor: str | None,
) -> list[Outcome]:
    outcomes: list[Outcome] = []
    for data in items:
        try:
            with transaction.atomic():
                outcomes.append(order_create(channel=channel, user=user, actor=actor, **data))  # type: ignore[arg-type]
        except DomainError as error:
            outcomes.append(error)
        except IntegrityError as error:
            outcomes.append(invalid_order([{"field": "", "message": _integrity_message(error)}]))
    return outcomes


def _integrity_message(error: IntegrityError) -> str:
    cause = error.__cause__
    constraint = getattr(getattr(cause, "diag", None), "constraint_name", None)
    return f"The order breaks the rule {constraint}." if constraint else "The order is invalid."


def _create_set_based(
    *,
    channel: Channel,
    items: Sequence[OrderInput],
    user: ActingUser | None,
    actor: str | None,
) -> list[Outcome]:
    outcomes: dict[int, Outcome] = {}
    products, levels, numbers = _batch_reads(items)
    candidates, duplicates = _validated(
        items=items,
        products=products,
        levels=levels,
        numbers=numbers,
        channel=channel,
        outcomes=outcomes,
    )
    created = _orders_insert(
        channel=channel, candidates=candidates, duplicates=duplicates, outcomes=outcomes
    )
    for item in created:
        assert item.order is not None  # noqa: S101 - set by _orders_insert
        item.lines = order_lines_build(
            order=item.order, lines=item.data["lines"], products=products
        )
    _insert_many([line for item in created for line in item.lines])
    received: list[OrderEvent] = []
    for item in created:
        order = item.order
        assert order is not None  # noqa: S101
        related_objects_set(order, "lines", item.lines)
        events.order_received_event(
            order=order, user=user, actor=actor, line_count=len(item.lines), into=received
        )
    _insert_many(received)
    with partner_events_held() as held:
        _fulfil(channel=channel, created=created, user=user, actor=actor)
    # order.created for each new order (kept for the response), then their shipments.
    orders_created_publish(orders=[item.order for item in created if item.order], held=held)
    return [outcomes[index] for index in range(len(items))]


def _batch_reads(
    items: Sequence[OrderInput],
) -> tuple[dict[str, Product], dict[str, ServiceLevel | DomainError], list[int]]:
    """Every SKU's product, every service level named, and an order number per item:
    one round trip."""
    skus = sorted({line["sku"] for data in items for line in data["lines"]})
    references = sorted({ref for data in items if (ref := data.get("service_level"))})
    with ExitStack() as stack:
        stack.enter_context(pipelined())
        product_cursor = stack.enter_context(prepared_cursor())
        number_cursor = stack.enter_context(prepared_cursor())
        level_cursors = [stack.enter_context(prepared_cursor()) for _ in references]
        product_cursor.execute(inventory_sql.PRODUCTS_BY_SKU_SQL, [skus], prepare=True)
        number_cursor.execute(NEXT_NUMBERS_SQL, [len(items)], prepare=True)
        for cursor, reference in zip(level_cursors, references, strict=True):
            provider_code, _, code = reference.rpartition(":")
            cursor.execute(
                logistics_sql.SERVICE_LEVEL_BY_CODE_SQL,
                [code, provider_code, provider_code],
                prepare=True,
            )
        product_rows = product_cursor.fetchall()
        numbers = [row[0] for row in number_cursor.fetchall()]
        level_rows = [cursor.fetchall() for cursor in level_cursors]
    levels: dict[str, ServiceLevel | DomainError] = {}
    for reference, rows in zip(references, level_rows, strict=True):
        try:
            levels[reference] = service_level_from(rows, reference)
        except DomainError as error:
            levels[reference] = error
    return products_by_sku(product_rows), levels, numbers


def _validated(
    *,
    items: Sequence[OrderInput],
    products: dict[str, Product],
    levels: dict[str, ServiceLevel | DomainError],
    numbers: list[int],
    channel: Channel,
    outcomes: dict[int, Outcome],
) -> tuple[list[_Item], dict[int, _Item]]:
    """The items that pass the database checks, built; the others' outcomes recorded.

    Checked as order_create checks: no lines, then SKUs, then the service level.
    The first valid item with an external reference takes it; a later one (returned
    as index -> that first item) gets the 409 order_create would give it once the
    first had committed.
    """
    candidates: list[_Item] = []
    duplicates: dict[int, _Item] = {}
    first: dict[str, _Item] = {}
    for index, data in enumerate(items):
        try:
            if not data["lines"]:
                raise invalid_order(
                    [{"field": "lines", "message": "At least one line is required."}]
                )
            products_check(products=products, lines=data["lines"])
            reference = data.get("service_level")
            level = levels[reference] if reference else None
            if isinstance(level, DomainError):
                raise level
        except DomainError as error:
            outcomes[index] = error
            continue
        item = _Item(index=index, data=data)
        earlier = first.get(data["external_reference"])
        if earlier is not None:
            duplicates[index] = earlier
            continue
        first[data["external_reference"]] = item
        item.order = order_build(
            channel=channel,
            number=format_order_number(numbers[index]),
            external_reference=data["external_reference"],
            currency=data["currency"],
            customer=data["customer"],
            shipping_address=data["shipping_address"],
            lines=data["lines"],
            service_level=level,
            placed_at=data.get("placed_at"),
        )
        candidates.append(item)
    return candidates, duplicates


def _orders_insert(
    *,
    channel: Channel,
    candidates: list[_Item],
    duplicates: dict[int, _Item],
    outcomes: dict[int, Outcome],
) -> list[_Item]:
    """Insert the candidates' orders; those whose reference the channel already has are
    refused with 409 (decided by the unique constraint, so concurrent inserters wait
    for each other, as in order_create). Returns the inserted items in input order."""
    ids: dict[str, int] = {}
    if candidates:
        orders = [item.order for item in candidates if item.order is not None]
        per_chunk = _rows_per_statement(orders[0])
        with connection.cursor() as cursor:
            for start in range(0, len(orders), per_chunk):
                sql, params = insert_statement(
                    *orders[start : start + per_chunk], suffix=_ON_DUPLICATE_REFERENCE
                )
                cursor.execute(sql, params)
                ids.update({reference: pk for pk, reference in cursor.fetchall()})
    lost = [
        item.data["external_reference"]
        for item in candidates
        if item.data["external_reference"] not in ids
    ]
    existing = _existing_numbers(channel=channel, references=lost)
    created: list[_Item] = []
    for item in candidates:
        reference = item.data["external_reference"]
        order = item.order
        assert order is not None  # noqa: S101 - built by _validated
        if reference in ids:
            inserted(order, ids[reference])
            # As stored (numeric(14,4)), which is what order_create's allocation reads back
            # and writes into a value-limit hold's note.
            order.total_amount = order.total_amount.quantize(_TOTAL_STEP)
            outcomes[item.index] = order
            created.append(item)
        else:
            item.order = None
            outcomes[item.index] = duplicate_reference(
                external_reference=reference, existing=existing.get(reference)
            )
    for index, earlier in duplicates.items():
        # The earlier item's order, or the channel's order it lost to.
        reference = earlier.data["external_reference"]
        holder = earlier.order
        outcomes[index] = duplicate_reference(
            external_reference=reference,
            existing=holder.number if holder is not None else existing.get(reference),
        )
    return created


def _existing_numbers(*, channel: Channel, references: list[str]) -> dict[str, str]:
    if not references:
        return {}
    return dict(
        Order.objects.filter(channel=channel, external_reference__in=references).values_list(
            "external_reference", "number"
        )
    )


def _rows_per_statement(obj: Any) -> int:
    columns = len(insert_statement(obj)[1])
    return max(1, _MAX_PARAMS // columns)


def _insert_many(objs: Sequence[Any]) -> None:
    """insert_all in as few statements as Postgres' parameter limit allows."""
    if not objs:
        return
    per_chunk = _rows_per_statement(objs[0])
    for start in range(0, len(objs), per_chunk):
        insert_all(*objs[start : start + per_chunk])


def _fulfil(
    *,
    channel: Channel,
    created: list[_Item],
    user: ActingUser | None,
    actor: str | None,
) -> None:
    """order_fulfil for every new order of the batch: automatic holds, allocation with
    the stock locked once, shipment planning for all allocated orders at once; the
    events of both in one INSERT and the statuses in one UPDATE. Orders whose
    shipments cross a customs border are planned one by one afterwards
    (shipment_planning), as order_fulfil plans them."""
    to_allocate: list[_Item] = []
    for item in created:
        order = item.order
        assert order is not None  # noqa: S101
        reasons = hold_reasons(order)
        if reasons:
            order_holds_place_automatic(
                order=order,
                reasons=reasons,
                status_reason="; ".join(detail for _, detail in reasons),
                user=user,
                actor=actor,
            )
        else:
            to_allocate.append(item)
    written: list[OrderEvent] = []  # allocation events first, then planning's, per order
    _allocate(channel=channel, items=to_allocate, into=written, user=user, actor=actor)
    allocated = [i for i in to_allocate if i.order is not None and i.order.status == S.ALLOCATED]
    one_by_one = _plan(items=allocated, into=written, user=user, actor=actor)
    with pipelined():  # events and statuses in one round trip
        _insert_many(written)
        orders_transitions_save(orders=[i.order for i in to_allocate if i.order is not None])
    for item in created:
        order = item.order
        assert order is not None  # noqa: S101
        if item in one_by_one or order.status not in PLANNABLE:
            shipments_plan_for_order(
                order=order, user=user, actor=actor, new_order_reserved=item.reserved
            )
        else:
            related_objects_set(order, "shipments", item.shipments)


def _allocate(
    *,
    channel: Channel,
    items: list[_Item],
    into: list[OrderEvent],
    user: ActingUser | None,
    actor: str | None,
) -> None:
    """Allocate new orders one after another against the stock levels locked once.

    Each order sees what the orders before it in the batch reserved, as it would
    after their commits; stock, ledger and allocations are written by the stock
    engine in one statement. The events go to `into`, the statuses change in memory
    (order_transition_deferred): the caller writes both.
    """
    if not items:
        return
    rules = [
        (warehouse_id, code)
        for warehouse_id, code in ChannelWarehouse.objects.filter(
            channel_id=channel.pk, warehouse__is_active=True
        )
        .order_by("priority", "warehouse_id")
        .values_list("warehouse_id", "warehouse__code")
    ]
    product_ids = {line.product_id for item in items for line in item.lines}
    locked: dict[tuple[int, int], StockLevel] = stock_levels_lock(
        keys=[(p, w) for p in product_ids for w, _ in rules]
    )
    available = {key: level.available for key, level in locked.items()}
    batch: list[OrderReservations] = []
    for item in items:
        order = item.order
        assert order is not None  # noqa: S101
        item.reserved = _order_allocate(
            order=order,
            lines=item.lines,
            rules=rules,
            available=available,
            into=into,
            user=user,
            actor=actor,
        )
        batch.append(
            OrderReservations(
                order_id=order.pk, reference=f"order:{order.number}", reservations=item.reserved
            )
        )
    stock_reserve_many(orders=batch, locked=locked, user=user)


def _plan(
    *,
    items: list[_Item],
    into: list[OrderEvent],
    user: ActingUser | None,
    actor: str | None,
) -> list[_Item]:
    """shipment_planning._plan for new allocated orders, the shipments of all written at
    once (logistics.services.shipments.shipments_create_many): one shipment per
    warehouse, its `shipment_created` event, and the move to in_fulfilment (in memory,
    events to `into`).

    Returns the orders left to plan one by one: those with a shipment across a customs
    border, whose declaration decides whether it may go (shipment_planning does that).
    """
    per_order: list[tuple[_Item, dict[int, dict[int, int]]]] = []
    for item in items:
        unplanned: dict[int, dict[int, int]] = defaultdict(dict)
        for r in item.reserved:
            per_line = unplanned[r.warehouse_id]
            per_line[r.order_line_id] = per_line.get(r.order_line_id, 0) + r.quantity
        per_order.append((item, unplanned))
    planned, owners, one_by_one = _shipments_planned(per_order)
    shipments = shipments_create_many(planned=planned)
    explained: dict[int, list[OrderEvent]] = defaultdict(list)
    for shipment, item in zip(shipments, owners, strict=True):
        order = item.order
        assert order is not None  # noqa: S101
        shipment.order = order
        lines = {line.pk: line for line in item.lines}
        ship_lines = list(shipment.lines.all())
        for ship_line in ship_lines:
            ship_line.order_line = lines[ship_line.order_line_id]
        shipment_events.shipment_created_event(
            shipment=shipment, user=user, actor=actor, lines=ship_lines, into=explained[item.index]
        )
        item.shipments.append(shipment)
    # The partner's shipment.created, one per new shipment (held by the batch's publish).
    order_notifications_send(
        messages=[
            shipment_created_event_build(order=shipment.order, shipment=shipment)
            for shipment in shipments
        ]
    )
    # The orders' promises agree with their new shipments' (one UPDATE for all).
    orders_promise_refresh_many(
        shipments_of=[
            (item.order, item.shipments)
            for item, _ in per_order
            if item.order is not None and item.shipments and item not in one_by_one
        ]
    )
    for item, _ in per_order:
        order = item.order
        assert order is not None  # noqa: S101
        if item in one_by_one:
            continue
        into.extend(explained[item.index])
        if item.shipments:
            order_transition_deferred(
                order=order,
                to=S.IN_FULFILMENT,
                into=into,
                reason=f"{len(item.shipments)} shipment(s) planned",
                user=user,
                actor=actor,
            )
    return one_by_one


def _shipments_planned(
    per_order: list[tuple[_Item, dict[int, dict[int, int]]]],
) -> tuple[list[PlannedShipment], list[_Item], list[_Item]]:
    """(the shipments to create, the item owning each, the items to plan one by one:
    those crossing a customs border)."""
    warehouses = warehouses_with_providers(
        ids=sorted({w for _, unplanned in per_order for w in unplanned})
    )
    providers: dict[tuple[int, int | None], tuple[Provider | None, ServiceLevel | None]] = {}
    crossings: dict[tuple[str, str], bool] = {}
    planned_at = timezone.now()
    one_by_one: list[_Item] = []
    planned: list[PlannedShipment] = []
    owners: list[_Item] = []
    for item, unplanned in per_order:
        order = item.order
        assert order is not None  # noqa: S101
        destination = order.shipping_country
        if any(_crossed(crossings, warehouses[w].country, destination) for w in unplanned):
            one_by_one.append(item)
            continue
        lines = {line.pk: line for line in item.lines}
        for warehouse_id in sorted(unplanned):
            warehouse = warehouses[warehouse_id]
            level = order.service_level
            key = (warehouse_id, level.pk if level is not None else None)
            if key not in providers:
                providers[key] = shipment_provider_for(warehouse=warehouse, service_level=level)
            provider, service_level = providers[key]
            if provider is None:
                logger.warning(
                    "No active provider can ship order %s from %s; left unplanned.",
                    order.number,
                    warehouse.code,
                )
                continue
            planned.append(
                PlannedShipment(
                    order_id=order.pk,
                    warehouse=warehouse,
                    provider=provider,
                    service_level=service_level,
                    lines=[
                        PlannedLine(
                            order_line_id=line_id,
                            quantity=quantity,
                            unit_weight_grams=lines[line_id].product.weight_grams,
                        )
                        for line_id, quantity in sorted(unplanned[warehouse_id].items())
                    ],
                    queue_dispatch=True,
                    promise=shipment_promise(
                        warehouse_id=warehouse_id,
                        provider_id=provider.pk,
                        service_level_id=service_level.pk if service_level else None,
                        country=destination,
                        at=planned_at,
                    ),
                )
            )
            owners.append(item)
    return planned, owners, one_by_one


def _crossed(known: dict[tuple[str, str], bool], origin: str, destination: str) -> bool:
    key = (origin, destination)
    if key not in known:
        known[key] = customs_border_crossed(origin=origin, destination=destination)
    return known[key]


def _order_allocate(
    *,
    order: Order,
    lines: list[OrderLine],
    rules: list[tuple[int, str]],
    available: dict[tuple[int, int], int],
    into: list[OrderEvent],
    user: ActingUser | None,
    actor: str | None,
) -> list[Reservation]:
    """allocation._allocate_locked for a new order: decide, record, and take the picks
    out of `available` (written later for the whole batch)."""
    needs = [
        _Line(
            line.pk,
            line.line_number,
            line.product_id,
            line.sku,
            line.quantity,
            0,
            line.product.weight_grams,
            list(line.product.tags),
        )
        for line in lines
    ]
    per_product: dict[int, int] = defaultdict(int)
    for line in needs:
        per_product[line.product_id] += line.missing
    plan = hooks.router.impl.route(
        order=order,
        lines=needs,
        needs=dict(per_product),
        sites=rules,
        available={(p, w): available.get((p, w), 0) for p in per_product for w, _ in rules},
    )
    picks, remaining = _picks_per_line(needs=needs, plan=plan)
    short = [line for line in needs if remaining[line.id]]
    if short:
        order_ships_partial_mark(order=order, plan=plan)
    into.extend(
        _allocation_events(
            order=order,
            plan=plan,
            picks=picks,
            short=short,
            remaining=remaining,
            codes=dict(rules),
            user=user,
            actor=actor,
        )
    )
    order_transition_deferred(
        order=order,
        to=S.BACKORDERED if short else S.ALLOCATED,
        into=into,
        reason=plan.reason,
        user=user,
        actor=actor,
    )
    reservations = [
        Reservation(
            order_line_id=p.line.id,
            product_id=p.line.product_id,
            warehouse_id=p.warehouse_id,
            quantity=p.quantity,
        )
        for p in picks
    ]
    for r in reservations:
        available[(r.product_id, r.warehouse_id)] -= r.quantity
    return reservations
