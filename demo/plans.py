"""Realistic orders as plain rows, consistent with the status each order is in.

An order's status decides its whole history: the timeline of events, which
lines shipped, were delivered or came back, its shipments with tracking
numbers and tracking events, its holds, and the stock it still reserves. The
rows are the owning apps' named row types (`orders.sql.OrderRow`,
`inventory.sql.StockMovementRow`, `logistics.sql.ShipmentRow`, ...), ready for COPY.
"""

from __future__ import annotations

import json
import unicodedata
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from random import Random
from typing import Any, NamedTuple

from demo import pools, sandbox
from demo.world import DemoWorld
from inventory.models import Allocation, StockMovement
from inventory.sql import AllocationRow, StockMovementRow
from logistics.models import DispatchOutbox, Shipment, TrackingStatus
from logistics.sql import (
    DispatchOutboxRow,
    ParcelRow,
    ShipmentLineRow,
    ShipmentRow,
    TrackingEventRow,
)
from orders.models import Hold, Order, OrderEvent, phone_key, postcode_key
from orders.numbers import format_order_number
from orders.sql import HoldRow, OrderEventRow, OrderLineRow, OrderRow
from sandbox.store import DemoShipment

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
CHANNEL_WEIGHTS = {"webshop": 60, "marketplace": 30, "wholesale": 10}


def _ascii(text: str) -> str:
    return (
        unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
        .replace(" ", "").replace("'", "")
    )  # fmt: skip


class ChannelInfo(NamedTuple):
    id: int
    code: str
    warehouse_ids: list[int]  # by priority


class ProductInfo(NamedTuple):
    id: int
    sku: str
    cents: int
    grams: int
    dims: tuple[int, int, int]  # length, width, height in mm


class ProviderInfo(NamedTuple):
    id: int
    code: str
    url: str
    level_ids: list[int]


@dataclass
class Context:
    """Everything the generator needs from the database, loaded once."""

    now: datetime
    channels: list[ChannelInfo]
    channel_weights: list[int]
    products: list[ProductInfo]
    warehouse_provider: dict[int, ProviderInfo]
    warehouse_codes: dict[int, str]
    hold_owner_id: int | None = None
    placed_by_id: int | None = None
    placed_by_label: str = "system"
    # The LSP sandbox's state file, where shipments of the providers it serves are
    # registered as they are generated (demo/sandbox.py); None: nowhere.
    sandbox_state: str | None = None
    sandbox_providers: frozenset[int] = frozenset()
    warehouse_addresses: dict[int, dict[str, str]] = field(default_factory=dict)


def _products_info(world: DemoWorld) -> list[ProductInfo]:
    prices = {family[0]: family[7] for family in pools.PRODUCT_FAMILIES}
    products = []
    for product in world.products:
        price = prices.get(product.sku.split("-", 1)[0], "19.95")
        euros, cents = price.split(".")
        products.append(
            ProductInfo(
                id=product.id,
                sku=product.sku,
                cents=int(euros) * 100 + int(cents),
                grams=product.weight_grams,
                dims=(product.length_mm, product.width_mm, product.height_mm),
            )
        )
    return products


def _providers_info(world: DemoWorld) -> dict[int, ProviderInfo]:
    warehouse_provider = {}
    for code, warehouse in world.warehouses.items():
        provider = world.providers[world.warehouse_provider[code]]
        warehouse_provider[warehouse.id] = ProviderInfo(
            id=provider.id,
            code=provider.code,
            url=provider.base_url.rstrip("/"),
            level_ids=[level.id for level in world.service_levels[provider.code]],
        )
    return warehouse_provider


def context_build(*, world: DemoWorld, now: datetime, sandbox_state: str | None = None) -> Context:
    """Ids, prices and routing of the demo world in the plain shapes the generator uses."""
    channels = [
        ChannelInfo(
            id=channel.id,
            code=code,
            warehouse_ids=[world.warehouses[wc].id for wc in world.channel_warehouses[code]],
        )
        for code, channel in world.channels.items()
    ]
    agent = world.users.get("agent")
    return Context(
        now=now,
        channels=channels,
        channel_weights=[CHANNEL_WEIGHTS.get(channel.code, 10) for channel in channels],
        products=_products_info(world),
        warehouse_provider=_providers_info(world),
        warehouse_codes={warehouse.id: code for code, warehouse in world.warehouses.items()},
        hold_owner_id=agent.pk if agent else None,
        placed_by_id=agent.pk if agent else None,
        placed_by_label=f"user:{agent.get_username()}" if agent else "system",
        sandbox_state=sandbox_state,
        sandbox_providers=frozenset(sandbox.served_provider_ids(world.providers.values())),
        warehouse_addresses={
            warehouse.id: {
                "warehouse": code,
                "line1": warehouse.line1,
                "city": warehouse.city,
                "postcode": warehouse.postcode,
                "country": warehouse.country,
            }
            for code, warehouse in world.warehouses.items()
        },
    )


@dataclass
class Batch:
    """One chunk's rows for every table, one named row type per table (the owning app's)."""

    orders: list[OrderRow] = field(default_factory=list)
    lines: list[OrderLineRow] = field(default_factory=list)
    events: list[OrderEventRow] = field(default_factory=list)
    holds: list[HoldRow] = field(default_factory=list)
    allocations: list[AllocationRow] = field(default_factory=list)
    # The stock ledger; inventory applies its sums to the levels (stock_movements_bulk_apply).
    movements: list[StockMovementRow] = field(default_factory=list)
    shipments: list[ShipmentRow] = field(default_factory=list)
    outbox: list[DispatchOutboxRow] = field(default_factory=list)
    shipment_lines: list[ShipmentLineRow] = field(default_factory=list)
    parcels: list[ParcelRow] = field(default_factory=list)
    tracking_events: list[TrackingEventRow] = field(default_factory=list)
    # What the LSP sandbox must know of the dispatched shipments it "carries".
    sandbox_shipments: list[DemoShipment] = field(default_factory=list)


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


def _money(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


@dataclass(frozen=True)
class Route:
    """Where an order comes from and who ships it."""

    channel: ChannelInfo
    warehouse_id: int
    provider: ProviderInfo
    service_level_id: int


@dataclass(frozen=True)
class Timeline:
    """When an order was placed and reached each status on its path."""

    path: list[str]
    placed_at: datetime
    received_at: datetime
    step_times: list[datetime]

    @property
    def updated_at(self) -> datetime:
        return self.step_times[-1] if self.step_times else self.received_at

    def at(self, step: str) -> datetime | None:
        return self.step_times[self.path.index(step)] if step in self.path else None


@dataclass(frozen=True)
class Customer:
    """The buyer and the shipping address, as a customer in the country writes them."""

    country: str
    currency: str
    name: str
    email: str
    phone: str
    shipping_name: str
    street: str
    line2: str
    city: str
    region: str
    postcode: str

    def ship_to(self) -> dict[str, str]:
        return {
            "name": self.shipping_name,
            "line1": self.street,
            "line2": self.line2,
            "city": self.city,
            "postcode": self.postcode,
            "region": self.region,
            "country": self.country,
        }


@dataclass(frozen=True)
class OrderPlan:
    """One generated order: what the rows of every table are built from."""

    id: int
    number: str
    sequence_number: int
    status: str
    route: Route
    timeline: Timeline
    customer: Customer
    reference: str
    lines: list[OrderLineRow]
    total_cents: int
    picked: list[ProductInfo]


def _route_draw(ctx: Context, rng: Random) -> Route:
    channel = rng.choices(ctx.channels, ctx.channel_weights)[0]
    warehouse_ids = channel.warehouse_ids
    warehouse_id = warehouse_ids[0] if rng.random() < 0.8 else warehouse_ids[-1]
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
                unit_price=_money(unit_cents),
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
    route = _route_draw(ctx, rng)
    timeline = _timeline_draw(ctx, rng, skeleton.status)
    customer = _customer_draw(rng)
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
    _shipments_add(batch, ctx, rng, plan, shipment_ids=shipment_ids, full_ledger=full_ledger)


def _order_row(plan: OrderPlan) -> OrderRow:
    route, customer, timeline = plan.route, plan.customer, plan.timeline
    express = route.service_level_id == route.provider.level_ids[-1]
    return OrderRow(
        id=plan.id,
        created_at=timeline.placed_at + timedelta(seconds=1),
        updated_at=timeline.updated_at,
        number=plan.number,
        channel_id=route.channel.id,
        external_reference=plan.reference,
        status=plan.status,
        currency=customer.currency,
        total_amount=_money(plan.total_cents),
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
    )


def _event(
    order_id: int,
    type_: str,
    parameters: dict[str, Any],
    at: datetime,
    *,
    actor: str = "system",
    user_id: int | None = None,
) -> OrderEventRow:
    return OrderEventRow(
        order_id=order_id,
        type=type_,
        parameters=json.dumps(parameters),
        user_id=user_id,
        actor=actor,
        created_at=at,
    )


def _hold_add(batch: Batch, ctx: Context, rng: Random, plan: OrderPlan, at: datetime) -> None:
    reason = rng.choice(list(Hold.Reason.values))
    note = pools.HOLD_NOTES[reason]
    # Review holds are placed by the agent; the others by the intake rules.
    placed_by = ctx.placed_by_id if reason in MANUAL_HOLD_REASONS else None
    actor = ctx.placed_by_label if placed_by else "system"
    parameters = {"reason": reason, "note": note}
    batch.events.append(
        _event(plan.id, E.HOLD_PLACED, parameters, at, actor=actor, user_id=placed_by)
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
        return _event(plan.id, E.BACKORDERED, {"skus": [line.sku for line in plan.lines]}, at)
    if step == S.ALLOCATED and full_ledger:
        return _event(plan.id, E.ALLOCATED, {"warehouse_id": plan.route.warehouse_id}, at)
    if step == S.CANCELLED:
        return _event(plan.id, E.CANCELLED, {"reason": "customer_request"}, at)
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
        _event(
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
        batch.events.append(_event(plan.id, E.STATUS_CHANGED, change, at))
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


@dataclass(frozen=True)
class ShipmentPlan:
    """One generated shipment of an order: its lines, where it stands, its tracking history."""

    id: int
    lines: list[int]  # indexes into OrderPlan.lines
    status: str
    steps: list[str]  # tracking statuses it has been through
    created_at: datetime
    dispatched_at: datetime
    token: uuid.UUID
    provider_reference: str
    tracking_number: str
    label_url: str
    event_times: list[datetime]

    @property
    def delivered_at(self) -> datetime | None:
        if self.steps and self.steps[-1] == TrackingStatus.DELIVERED:
            return self.event_times[-1]
        return None

    @property
    def shipped_at(self) -> datetime | None:
        # Shipped = the provider reported it moving; until then it holds active allocations.
        return self.event_times[1] if len(self.event_times) > 1 else None

    @property
    def last_event_at(self) -> datetime | None:
        return self.event_times[-1] if self.event_times else None


def _shipments_add(
    batch: Batch,
    ctx: Context,
    rng: Random,
    plan: OrderPlan,
    *,
    shipment_ids: list[int],
    full_ledger: bool,
) -> None:
    """One shipment per parcel run; partial statuses split the first line from the rest."""
    if not shipment_ids:
        return
    created_at = plan.timeline.at(S.IN_FULFILMENT)
    if created_at is None:  # only statuses past in_fulfilment have shipments
        return
    groups = [list(range(len(plan.lines)))]
    if len(shipment_ids) == 2:
        groups = [[0], list(range(1, len(plan.lines)))]
    for index, (shipment_id, group) in enumerate(zip(shipment_ids, groups, strict=True)):
        shipment = _shipment_draw(
            ctx, rng, plan, shipment_id=shipment_id, group=group, index=index, created_at=created_at
        )
        _tracking_rows_add(batch, shipment)
        _shipment_contents_add(batch, plan, shipment)
        if full_ledger:
            _shipment_events_add(events=batch.events, ctx=ctx, plan=plan, shipment=shipment)
        cost = _money(450 + rng.randrange(900)) if shipment.tracking_number else None
        batch.shipments.append(_shipment_row(plan, shipment, cost))
        provider_id = plan.route.provider.id
        if shipment.tracking_number and ctx.sandbox_state and provider_id in ctx.sandbox_providers:
            batch.sandbox_shipments.append(_sandbox_record(ctx, plan, shipment, cost))
        batch.outbox.append(_outbox_row(shipment))


def _shipment_draw(
    ctx: Context,
    rng: Random,
    plan: OrderPlan,
    *,
    shipment_id: int,
    group: list[int],
    index: int,
    created_at: datetime,
) -> ShipmentPlan:
    status, steps = _shipment_status(plan.status, index, rng)
    dispatched_at = created_at + timedelta(seconds=rng.randint(5, 300))
    token = uuid.UUID(int=rng.getrandbits(128), version=4)
    provider = plan.route.provider
    tracking_number = provider_reference = label_url = ""
    if status != Shipment.Status.PENDING:
        provider_reference = f"{provider.code.upper()}-{shipment_id}"
        prefix, suffix = ("CSX", "NL") if provider.code == "sandbox" else ("FN", "DE")
        tracking_number = f"{prefix}{shipment_id:010d}{suffix}"
        # Where the sandbox serves it (seed_demo registers the shipment there).
        label_url = f"{provider.url}/v1/shipments/{provider_reference}/label.pdf"
    event_times: list[datetime] = []
    if steps:
        end = plan.timeline.at(S.DELIVERED) or plan.timeline.updated_at
        span = max((end - dispatched_at).total_seconds(), 60.0 * len(steps))
        event_times = [
            min(ctx.now, dispatched_at + timedelta(seconds=span * (i + 1) / len(steps)))
            for i in range(len(steps))
        ]
    return ShipmentPlan(
        id=shipment_id,
        lines=group,
        status=status,
        steps=steps,
        created_at=created_at,
        dispatched_at=dispatched_at,
        token=token,
        provider_reference=provider_reference,
        tracking_number=tracking_number,
        label_url=label_url,
        event_times=event_times,
    )


def _location(index: int) -> str:
    return "Venlo, NL" if index == 0 else ""


def _tracking_rows_add(batch: Batch, shipment: ShipmentPlan) -> None:
    for i, (status, at) in enumerate(zip(shipment.steps, shipment.event_times, strict=True)):
        batch.tracking_events.append(
            TrackingEventRow(
                shipment_id=shipment.id,
                status=status,
                provider_status=status.upper(),
                description=TrackingStatus(status).label,
                location=_location(i),
                occurred_at=at,
                received_at=at,
                dedup_key=f"{shipment.tracking_number}-{i}",
                raw=json.dumps({"status": status, "seq": i}),
            )
        )


def _shipped_quantity(line: OrderLineRow) -> int:
    return line.quantity_shipped or line.quantity


def _shipment_contents_add(batch: Batch, plan: OrderPlan, shipment: ShipmentPlan) -> None:
    """The shipment's lines and its one parcel (weighed from its lines)."""
    weight = 0
    for index in shipment.lines:
        line = plan.lines[index]
        quantity = _shipped_quantity(line)
        batch.shipment_lines.append(
            ShipmentLineRow(shipment_id=shipment.id, order_line_id=line.id, quantity=quantity)
        )
        weight += plan.picked[index].grams * quantity
    dims = plan.picked[shipment.lines[0]].dims
    batch.parcels.append(
        ParcelRow(
            shipment_id=shipment.id,
            weight_grams=weight + 150,
            length_mm=dims[0] + 20,
            width_mm=dims[1] + 20,
            height_mm=dims[2] + 20,
            tracking_number=shipment.tracking_number,
        )
    )


def _shipment_row(plan: OrderPlan, shipment: ShipmentPlan, cost: str | None) -> ShipmentRow:
    sent = bool(shipment.tracking_number)
    return ShipmentRow(
        id=shipment.id,
        created_at=shipment.created_at,
        updated_at=shipment.last_event_at or shipment.dispatched_at,
        order_id=plan.id,
        warehouse_id=plan.route.warehouse_id,
        provider_id=plan.route.provider.id,
        service_level_id=plan.route.service_level_id,
        status=shipment.status,
        idempotency_token=shipment.token,
        provider_reference=shipment.provider_reference,
        tracking_number=shipment.tracking_number,
        label_url=shipment.label_url,
        cost=cost,
        cost_currency="EUR" if sent else "",
        dispatch_attempts=1 if sent else 0,
        last_error="",
        dispatched_at=shipment.dispatched_at if sent else None,
        delivered_at=shipment.delivered_at,
        last_event_at=shipment.last_event_at,
        shipped_at=shipment.shipped_at,
        poll_interval_seconds=0,
        direction=Shipment.Direction.OUTBOUND,
    )


def _outbox_row(shipment: ShipmentPlan) -> DispatchOutboxRow:
    """The transactional outbox row the dispatch worker works off: sent once the provider
    accepted it, still pending (and due) otherwise."""
    created_at = shipment.created_at
    if shipment.tracking_number:
        return DispatchOutboxRow(
            created_at=created_at,
            updated_at=shipment.dispatched_at,
            shipment_id=shipment.id,
            status=DispatchOutbox.Status.SENT,
            attempts=1,
            next_attempt_at=created_at,
            last_error="",
            sent_at=shipment.dispatched_at,
        )
    return DispatchOutboxRow(
        created_at=created_at,
        updated_at=created_at,
        shipment_id=shipment.id,
        status=DispatchOutbox.Status.PENDING,
        attempts=0,
        next_attempt_at=created_at,
        last_error="",
        sent_at=None,
    )


def _sandbox_record(
    ctx: Context, plan: OrderPlan, shipment: ShipmentPlan, cost: str | None
) -> DemoShipment:
    return sandbox.demo_shipment_record(
        reference=shipment.provider_reference,
        token=str(shipment.token),
        tracking_number=shipment.tracking_number,
        dispatched_at=shipment.dispatched_at,
        order_number=plan.number,
        ship_from=ctx.warehouse_addresses[plan.route.warehouse_id],
        ship_to=plan.customer.ship_to(),
        events=[
            (
                f"{shipment.tracking_number}-{i}",
                status,
                at,
                TrackingStatus(status).label,
                _location(i),
            )
            for i, (status, at) in enumerate(zip(shipment.steps, shipment.event_times, strict=True))
        ],
        cost=(cost, "EUR") if cost else None,
    )


def _shipment_events_add(
    *, events: list[OrderEventRow], ctx: Context, plan: OrderPlan, shipment: ShipmentPlan
) -> None:
    """The timeline entries logistics writes for a shipment (logistics.order_events shapes)."""
    provider_code = plan.route.provider.code
    lines = [
        {"sku": plan.lines[i].sku, "quantity": _shipped_quantity(plan.lines[i])}
        for i in shipment.lines
    ]
    created = {
        "shipment_id": shipment.id,
        "warehouse": ctx.warehouse_codes[plan.route.warehouse_id],
        "provider": provider_code,
        "lines": lines,
    }
    events.append(_event(plan.id, E.SHIPMENT_CREATED, created, shipment.created_at))
    tracking_number = shipment.tracking_number
    if not tracking_number:
        return
    dispatched = {
        "shipment_id": shipment.id,
        "provider": provider_code,
        "provider_reference": shipment.provider_reference,
        "tracking_number": tracking_number,
        "attempts": 1,
    }
    events.append(
        _event(
            plan.id,
            E.SHIPMENT_DISPATCHED,
            dispatched,
            shipment.dispatched_at,
            actor="system:dispatch",
        )
    )
    for event_type, at in ((E.SHIPPED, shipment.shipped_at), (E.DELIVERED, shipment.delivered_at)):
        if at is not None:
            moved = {
                "shipment_id": shipment.id,
                "tracking_number": tracking_number,
                "occurred_at": at.isoformat(),
            }
            events.append(_event(plan.id, event_type, moved, at, actor=f"lsp:{provider_code}"))


def _shipment_status(order_status: str, index: int, rng: Random) -> tuple[str, list[str]]:
    """The shipment's status and the tracking statuses it has been through."""
    pre: str = TrackingStatus.PRE_TRANSIT
    transit: str = TrackingStatus.IN_TRANSIT
    out: str = TrackingStatus.OUT_FOR_DELIVERY
    done: str = TrackingStatus.DELIVERED
    delivered: tuple[str, list[str]] = (Shipment.Status.DELIVERED, [pre, transit, out, done])
    in_transit: tuple[str, list[str]] = (Shipment.Status.IN_TRANSIT, [pre, transit])
    dispatched: tuple[str, list[str]] = (Shipment.Status.DISPATCHED, [pre])
    if order_status == S.IN_FULFILMENT:
        return dispatched if rng.random() < 0.7 else (Shipment.Status.PENDING, [])
    if order_status == S.PARTIALLY_SHIPPED:
        return in_transit if index == 0 else dispatched
    if order_status == S.PARTIALLY_DELIVERED:
        return delivered if index == 0 else in_transit
    if order_status == S.SHIPPED:
        if rng.random() < 0.2:
            return Shipment.Status.OUT_FOR_DELIVERY, [pre, transit, out]
        return in_transit
    return delivered
