"""Realistic orders as plain rows, consistent with the status each order is in.

An order's status decides its whole history: the timeline of events, which
lines shipped, were delivered or came back, its shipments with tracking
numbers and tracking events, its holds, and the stock it still reserves. The
rows are the owning apps' named row types (`orders.sql.OrderRow`,
`inventory.sql.StockMovementRow`, `logistics.sql.ShipmentRow`, ...), ready for COPY.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from random import Random

from demo import pools
from demo.plan_types import (
    Batch,
    Context,
    Customer,
    OrderPlan,
    ProductInfo,
    Route,
    Timeline,
    context_build,
    event_row,
    money,
    plan_promise,
)
from demo.shipment_plans import shipments_add
from inventory.models import Allocation, StockMovement
from inventory.sql import AllocationRow, StockMovementRow
from orders.models import Hold, Order, OrderEvent, phone_key, postcode_key
from orders.numbers import format_order_number
from orders.sql import HoldRow, OrderEventRow, OrderLineRow, OrderRow

__all__ = ["Batch", "Context", "Skeleton", "context_build", "order_rows_add", "skeletons_draw"]

S = Order.Status
E = OrderEvent.Type

# The statuses an order passes through to reach each status, after `received`.
PATHS: dict[str, list[str]] = {
    S.RECEIVED: [],
    S.ON_HOLD: [S.ON_HOLD],
    S.BACKORDERED: [S.BACKORDERED],
    S.ALLOCATED: [S.ALLOCATED],
    S.IN_FULFILMENT: [S.ALLOCATED, S.IN_FULFILMENT],
    S.PARTIALLY_SHIPPED: [S.ALLOCATED, S.IN_FULFILMENT, S.PARTIALLY_SHIPPED],
    S.SHIPPED: [S.ALLOCATED, S.IN_FULFILMENT, S.SHIPPED],
    S.PARTIALLY_DELIVERED: [S.ALLOCATED, S.IN_FULFILMENT, S.SHIPPED, S.PARTIALLY_DELIVERED],
    S.DELIVERED: [S.ALLOCATED, S.IN_FULFILMENT, S.SHIPPED, S.DELIVERED],
    S.PARTIALLY_RETURNED: [S.ALLOCATED, S.IN_FULFILMENT, S.SHIPPED, S.DELIVERED, S.PARTIALLY_RETURNED],
    S.RETURNED: [S.ALLOCATED, S.IN_FULFILMENT, S.SHIPPED, S.DELIVERED, S.RETURNED],
    S.CANCELLED: [S.CANCELLED],
}  # fmt: skip

# How long each step takes, in seconds (min, max).
STEP_SECONDS: dict[str, tuple[int, int]] = {
    S.ON_HOLD: (30, 600),
    S.BACKORDERED: (5, 60),
    S.ALLOCATED: (5, 1800),
    S.IN_FULFILMENT: (600, 6 * 3600),
    S.PARTIALLY_SHIPPED: (2 * 3600, 30 * 3600),
    S.SHIPPED: (2 * 3600, 30 * 3600),
    S.PARTIALLY_DELIVERED: (20 * 3600, 72 * 3600),
    S.DELIVERED: (20 * 3600, 96 * 3600),
    S.PARTIALLY_RETURNED: (3 * 86400, 14 * 86400),
    S.RETURNED: (3 * 86400, 14 * 86400),
    S.CANCELLED: (600, 2 * 86400),
}

# Share of each status in a generated book of orders: mostly history, some work in progress.
STATUS_WEIGHTS: dict[str, int] = {
    S.DELIVERED: 540,
    S.SHIPPED: 90,
    S.CANCELLED: 50,
    S.RETURNED: 25,
    S.PARTIALLY_RETURNED: 20,
    S.PARTIALLY_DELIVERED: 20,
    S.PARTIALLY_SHIPPED: 20,
    S.IN_FULFILMENT: 60,
    S.ALLOCATED: 50,
    S.BACKORDERED: 30,
    S.ON_HOLD: 20,
    S.RECEIVED: 75,
}
FINAL = {S.DELIVERED, S.CANCELLED, S.RETURNED, S.PARTIALLY_RETURNED}
# Statuses that need two lines to be told apart from their complete versions.
PARTIAL = {S.PARTIALLY_SHIPPED, S.PARTIALLY_DELIVERED, S.PARTIALLY_RETURNED}
# Unshipped quantities of orders in these statuses hold an active reservation.
RESERVING = {S.ALLOCATED, S.IN_FULFILMENT, S.PARTIALLY_SHIPPED}

MANUAL_HOLD_REASONS = {Hold.Reason.CUSTOMER_REQUEST, Hold.Reason.FRAUD_REVIEW, Hold.Reason.MANUAL}
WHOLESALE_CAP_CENTS = 480_000
CURRENCY_RATE = {"EUR": 1.0, "GBP": 0.86, "PLN": 4.3}
# Share of generated orders shipped from the site the routing rules choose first.
ROUTED_AS_RULED = 0.85


def _ascii(text: str) -> str:
    return (
        unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
        .replace(" ", "").replace("'", "")
    )  # fmt: skip


@dataclass
class Skeleton:
    """What decides the ids an order needs: drawn first, so ids can be taken in bulk."""

    status: str
    line_count: int
    shipment_count: int


def skeletons_draw(*, rng: Random, count: int, statuses: list[str] | None = None) -> list[Skeleton]:
    """Pick statuses (weighted, or the given ones in turn) and line/shipment counts."""
    if statuses is None:
        statuses = rng.choices(list(STATUS_WEIGHTS), weights=list(STATUS_WEIGHTS.values()), k=count)
    else:
        statuses = [statuses[i % len(statuses)] for i in range(count)]
    skeletons = []
    for status in statuses:
        line_count = rng.choices((1, 2, 3, 4, 5), weights=(45, 30, 14, 7, 4))[0]
        if status in PARTIAL:
            line_count = max(line_count, 2)
        skeletons.append(Skeleton(status, line_count, shipment_count_for(status)))
    return skeletons


def shipment_count_for(status: str) -> int:
    if status in (S.PARTIALLY_SHIPPED, S.PARTIALLY_DELIVERED):
        return 2
    if PATHS[status] and S.IN_FULFILMENT in PATHS[status]:
        return 1
    return 0


def _fill_pattern(rng: Random, pattern: str) -> str:
    out = []
    for part in pattern.split("["):
        if part.startswith("9]"):
            out.append(str(rng.randrange(10)))
            part = part[2:]
        out.append("".join(chr(65 + rng.randrange(26)) if ch == "A" else ch for ch in part))
    return "".join(out)


_COUNTRIES = list(pools.COUNTRY_WEIGHTS)
_COUNTRY_WEIGHTS = list(pools.COUNTRY_WEIGHTS.values())
_FIRST_ASCII = [_ascii(name) for name in pools.FIRST_NAMES]
_LAST_ASCII = [_ascii(name) for name in pools.LAST_NAMES]


def _route_draw(ctx: Context, rng: Random, country: str) -> Route:
    channel = rng.choices(ctx.channels, ctx.channel_weights)[0]
    # The site the published rules choose for the destination; now and then the next
    # best, as when the first lacked stock.
    warehouse_ids = ctx.route_preferences.get((channel.id, country)) or channel.warehouse_ids
    ruled = rng.random() < ROUTED_AS_RULED or len(warehouse_ids) == 1
    warehouse_id = warehouse_ids[0] if ruled else warehouse_ids[1]
    provider = ctx.warehouse_provider[warehouse_id]
    return Route(channel, warehouse_id, provider, rng.choice(provider.level_ids))


def _timeline_draw(ctx: Context, rng: Random, status: str) -> Timeline:
    """Each step after the previous one; open orders are recent."""
    path = PATHS[status]
    durations = [rng.randint(*STEP_SECONDS[step]) for step in path]
    total = sum(durations) + rng.randint(1, 120)
    if status in FINAL:
        age = total + rng.randint(3600, 365 * 86400)
    else:
        age = total + rng.randint(60, 2 * 86400)
    placed_at = ctx.now - timedelta(seconds=age)
    received_at = placed_at + timedelta(seconds=rng.randint(1, 120))
    step_times = []
    t = received_at
    for seconds in durations:
        t = t + timedelta(seconds=seconds)
        step_times.append(t)
    return Timeline(path, placed_at, received_at, step_times)


def _customer_draw(rng: Random) -> Customer:
    country = rng.choices(_COUNTRIES, _COUNTRY_WEIGHTS)[0]
    first_index = rng.randrange(len(pools.FIRST_NAMES))
    last_index = rng.randrange(len(pools.LAST_NAMES))
    name = f"{pools.FIRST_NAMES[first_index]} {pools.LAST_NAMES[last_index]}"
    email = (
        f"{_FIRST_ASCII[first_index]}.{_LAST_ASCII[last_index]}{rng.randrange(1, 9999)}"
        f"@{rng.choice(pools.EMAIL_DOMAINS)}"
    )
    prefix, digits = pools.PHONE_PREFIX[country]
    local = f"{rng.randrange(10**digits):0{digits}d}"
    city, region, pattern = rng.choice(pools.CITIES[country])
    postcode = _fill_pattern(rng, pattern)
    street = f"{rng.choice(pools.STREETS[country])} {rng.randint(1, 240)}"
    line2 = f"Apt {rng.randint(1, 60)}" if rng.random() < 0.15 else ""
    shipping_name = (
        name
        if rng.random() < 0.9
        else f"{rng.choice(pools.FIRST_NAMES)} {pools.LAST_NAMES[last_index]}"
    )
    return Customer(
        country=country,
        currency=pools.CURRENCY.get(country, "EUR"),
        name=name,
        email=email,
        phone=f"{prefix} {local[: digits // 2]} {local[digits // 2 :]}",
        shipping_name=shipping_name,
        street=street,
        line2=line2,
        city=city,
        region=region,
        postcode=postcode,
    )


def _reference_draw(rng: Random, *, channel_code: str, number: int, placed_at: datetime) -> str:
    if channel_code == "webshop":
        return f"WEB-{number:08d}"
    if channel_code == "marketplace":
        return f"MP-{rng.randrange(100, 999)}-{number:09d}"
    return f"PO-{placed_at:%Y}-{number:07d}"


def _line_fates(status: str, line_count: int) -> tuple[set[int], set[int]]:
    """The indexes of the lines shipped and of those delivered, for an order in `status`."""
    shipped: set[int] = set()
    if status in (S.PARTIALLY_SHIPPED, S.PARTIALLY_DELIVERED):
        shipped = {0} if status == S.PARTIALLY_SHIPPED else set(range(line_count))
    elif status in (S.SHIPPED, S.DELIVERED, S.PARTIALLY_RETURNED, S.RETURNED):
        shipped = set(range(line_count))
    delivered: set[int] = set()
    if status == S.PARTIALLY_DELIVERED:
        delivered = {0}
    elif status in (S.DELIVERED, S.PARTIALLY_RETURNED, S.RETURNED):
        delivered = shipped
    return shipped, delivered


def _returned(status: str, index: int, delivered: int) -> int:
    if status == S.RETURNED:
        return delivered
    return 1 if status == S.PARTIALLY_RETURNED and index == 0 else 0


def _lines_draw(
    rng: Random,
    *,
    status: str,
    order_id: int,
    line_ids: list[int],
    picked: list[ProductInfo],
    wholesale: bool,
    rate: float,
) -> tuple[list[OrderLineRow], int]:
    """The order's lines with what happened to them, and their total in cents."""
    shipped_lines, delivered_lines = _line_fates(status, len(picked))
    total_cents = 0
    lines = []
    for index, product in enumerate(picked):
        quantity = rng.randint(5, 40) if wholesale else rng.choices((1, 2, 3), (80, 15, 5))[0]
        unit_cents = int(product.cents * rate * (0.6 if wholesale else 1.0))
        if wholesale:
            # Stay under the wholesale channel's order value limit: bigger orders would be on hold.
            quantity = max(1, min(quantity, (WHOLESALE_CAP_CENTS - total_cents) // unit_cents))
        total_cents += unit_cents * quantity
        shipped = quantity if index in shipped_lines else 0
        delivered = shipped if index in delivered_lines else 0
        lines.append(
            OrderLineRow(
                id=line_ids[index],
                order_id=order_id,
                line_number=index + 1,
                product_id=product.id,
                sku=product.sku,
                quantity=quantity,
                unit_price=money(unit_cents),
                quantity_shipped=shipped,
                quantity_delivered=delivered,
                quantity_returned=_returned(status, index, delivered),
            )
        )
    return lines, total_cents


def order_rows_add(
    *,
    batch: Batch,
    ctx: Context,
    rng: Random,
    skeleton: Skeleton,
    order_id: int,
    number: int,
    line_ids: list[int],
    shipment_ids: list[int],
    external_reference: str | None = None,
    full_ledger: bool = False,
) -> None:
    """Append the rows of one order (and everything its status implies) to `batch`.

    With full_ledger the stock history is complete (reservation, shipment and
    return movements, fulfilled allocations); without it only the stock the
    order still reserves is recorded, which keeps a million-order run fast while
    the ledger still sums to the levels.
    """
    customer = _customer_draw(rng)
    route = _route_draw(ctx, rng, customer.country)
    timeline = _timeline_draw(ctx, rng, skeleton.status)
    reference = _reference_draw(
        rng, channel_code=route.channel.code, number=number, placed_at=timeline.placed_at
    )
    picked = rng.sample(ctx.products, skeleton.line_count)
    lines, total_cents = _lines_draw(
        rng,
        status=skeleton.status,
        order_id=order_id,
        line_ids=line_ids,
        picked=picked,
        wholesale=route.channel.code == "wholesale",
        rate=CURRENCY_RATE[customer.currency],
    )
    plan = OrderPlan(
        id=order_id,
        number=format_order_number(number),
        sequence_number=number,
        status=skeleton.status,
        route=route,
        timeline=timeline,
        customer=customer,
        reference=external_reference or reference,
        lines=lines,
        total_cents=total_cents,
        picked=picked,
    )
    batch.lines.extend(plan.lines)
    batch.orders.append(_order_row(plan))
    _timeline_rows_add(batch, ctx, rng, plan, full_ledger=full_ledger)
    _stock_rows_add(batch, plan, full_ledger=full_ledger)
    shipments_add(batch, ctx, rng, plan, shipment_ids=shipment_ids, full_ledger=full_ledger)


def _order_row(plan: OrderPlan) -> OrderRow:
    route, customer, timeline = plan.route, plan.customer, plan.timeline
    express = route.service_level_id == route.provider.level_ids[-1]
    promise = plan_promise(plan)
    return OrderRow(
        id=plan.id,
        created_at=timeline.placed_at + timedelta(seconds=1),
        updated_at=timeline.updated_at,
        number=plan.number,
        channel_id=route.channel.id,
        external_reference=plan.reference,
        status=plan.status,
        currency=customer.currency,
        total_amount=money(plan.total_cents),
        priority=1 if express and route.provider.code == "sandbox" else 0,
        customer_email=customer.email,
        customer_name=customer.name,
        customer_phone=customer.phone,
        customer_phone_key=phone_key(customer.phone),
        shipping_name=customer.shipping_name,
        shipping_line1=customer.street,
        shipping_line2=customer.line2,
        shipping_city=customer.city,
        shipping_postcode=customer.postcode,
        shipping_postcode_key=postcode_key(customer.postcode),
        shipping_region=customer.region,
        shipping_country=customer.country,
        service_level_id=route.service_level_id,
        placed_at=timeline.placed_at,
        cancelled_at=timeline.step_times[-1] if plan.status == S.CANCELLED else None,
        ship_by=promise.ship_by if promise else None,
        promised_delivery_date=promise.promised_delivery_date if promise else None,
    )


def _hold_add(batch: Batch, ctx: Context, rng: Random, plan: OrderPlan, at: datetime) -> None:
    reason = rng.choice(list(Hold.Reason.values))
    note = pools.HOLD_NOTES[reason]
    # Review holds are placed by the agent; the others by the intake rules.
    placed_by = ctx.placed_by_id if reason in MANUAL_HOLD_REASONS else None
    actor = ctx.placed_by_label if placed_by else "system"
    parameters = {"reason": reason, "note": note}
    batch.events.append(
        event_row(plan.id, E.HOLD_PLACED, parameters, at, actor=actor, user_id=placed_by)
    )
    batch.holds.append(
        HoldRow(
            created_at=at,
            updated_at=at,
            order_id=plan.id,
            reason=reason,
            note=note,
            owner_id=ctx.hold_owner_id,
            due_at=at + timedelta(hours=24),
            placed_by_id=placed_by,
            released_at=None,
            released_by_id=None,
            release_note="",
        )
    )


def _step_event(
    plan: OrderPlan, step: str, at: datetime, *, full_ledger: bool
) -> OrderEventRow | None:
    """The event a step records besides its status change (holds aside), if any."""
    if step == S.BACKORDERED:
        return event_row(plan.id, E.BACKORDERED, {"skus": [line.sku for line in plan.lines]}, at)
    if step == S.ALLOCATED and full_ledger:
        return event_row(plan.id, E.ALLOCATED, {"warehouse_id": plan.route.warehouse_id}, at)
    if step == S.CANCELLED:
        return event_row(plan.id, E.CANCELLED, {"reason": "customer_request"}, at)
    return None


def _timeline_rows_add(
    batch: Batch, ctx: Context, rng: Random, plan: OrderPlan, *, full_ledger: bool
) -> None:
    """The order's timeline: received, then each step's own event and its status change."""
    channel_code = plan.route.channel.code
    received = {
        "channel": channel_code,
        "external_reference": plan.reference,
        "lines": len(plan.lines),
    }
    batch.events.append(
        event_row(
            plan.id,
            E.RECEIVED,
            received,
            plan.timeline.received_at,
            actor=f"channel:{channel_code}",
        )
    )
    old: str = S.RECEIVED
    for step, at in zip(plan.timeline.path, plan.timeline.step_times, strict=True):
        if step == S.ON_HOLD:
            _hold_add(batch, ctx, rng, plan, at)
        else:
            event = _step_event(plan, step, at, full_ledger=full_ledger)
            if event is not None:
                batch.events.append(event)
        change = {"old_status": old, "new_status": step, "reason": ""}
        batch.events.append(event_row(plan.id, E.STATUS_CHANGED, change, at))
        old = step


def _movement(
    plan: OrderPlan,
    line: OrderLineRow,
    type_: str,
    deltas: tuple[int, int],
    reason: str,
    at: datetime,
) -> StockMovementRow:
    return StockMovementRow(
        product_id=line.product_id,
        warehouse_id=plan.route.warehouse_id,
        type=type_,
        on_hand_delta=deltas[0],
        reserved_delta=deltas[1],
        reason=reason,
        reference=f"order:{plan.number}",
        order_id=plan.id,
        actor_id=None,
        note="",
        created_at=at,
    )


def _allocation(
    plan: OrderPlan,
    line: OrderLineRow,
    quantity: int,
    status: str,
    times: tuple[datetime, datetime],
) -> AllocationRow:
    return AllocationRow(
        created_at=times[0],
        updated_at=times[1],
        order_line_id=line.id,
        warehouse_id=plan.route.warehouse_id,
        quantity=quantity,
        status=status,
    )


def _stock_rows_add(batch: Batch, plan: OrderPlan, *, full_ledger: bool) -> None:
    """What is still reserved, and (full ledger) what was reserved, shipped and returned."""
    allocated_at = plan.timeline.at(S.ALLOCATED)
    if allocated_at is None:
        return
    shipped_step = S.SHIPPED if S.SHIPPED in plan.timeline.path else S.PARTIALLY_SHIPPED
    shipped_at = plan.timeline.at(shipped_step)
    for line in plan.lines:
        open_quantity = line.quantity - line.quantity_shipped if plan.status in RESERVING else 0
        if open_quantity:
            batch.allocations.append(
                _allocation(
                    plan,
                    line,
                    open_quantity,
                    Allocation.Status.ACTIVE,
                    (allocated_at, allocated_at),
                )
            )
            batch.movements.append(
                _movement(
                    plan,
                    line,
                    StockMovement.Type.RESERVATION,
                    (0, open_quantity),
                    "allocation",
                    allocated_at,
                )
            )
        if full_ledger and line.quantity_shipped and shipped_at is not None:
            _shipped_stock_add(batch, plan, line, (allocated_at, shipped_at))


def _shipped_stock_add(
    batch: Batch, plan: OrderPlan, line: OrderLineRow, times: tuple[datetime, datetime]
) -> None:
    allocated_at, shipped_at = times
    shipped, returned = line.quantity_shipped, line.quantity_returned
    batch.allocations.append(_allocation(plan, line, shipped, Allocation.Status.FULFILLED, times))
    batch.movements.append(
        _movement(
            plan, line, StockMovement.Type.RESERVATION, (0, shipped), "allocation", allocated_at
        )
    )
    batch.movements.append(
        _movement(
            plan, line, StockMovement.Type.SHIPMENT, (-shipped, -shipped), "shipped", shipped_at
        )
    )
    if returned:
        batch.movements.append(
            _movement(
                plan,
                line,
                StockMovement.Type.RETURN,
                (returned, 0),
                "customer_return",
                plan.timeline.updated_at,
            )
        )
