"""Realistic orders as plain rows, consistent with the status each order is in.

An order's status decides its whole history: the timeline of events, which
lines shipped, were delivered or came back, its shipments with tracking
numbers and tracking events, its holds, and the stock it still reserves. The
rows are tuples in the column order of `bulk.COLUMNS`, ready for COPY.
"""

from __future__ import annotations

import json
import unicodedata
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from random import Random

from demo import pools, sandbox
from inventory.models import Allocation, StockMovement
from logistics.models import DispatchOutbox, Shipment, TrackingStatus
from orders.models import Hold, Order, OrderEvent, phone_key, postcode_key
from orders.numbers import format_order_number
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


@dataclass
class Context:
    """Everything the generator needs from the database, loaded once."""

    now: datetime
    channels: list[tuple[int, str, list[int]]]  # (id, code, warehouse ids by priority)
    channel_weights: list[int]
    products: list[tuple[int, str, int, int, tuple[int, int, int]]]  # id, sku, cents, grams, dims
    warehouse_provider: dict[int, tuple[int, str, str, list[int]]]  # provider id, code, url, levels
    warehouse_codes: dict[int, str]
    hold_owner_id: int | None = None
    placed_by_id: int | None = None
    placed_by_label: str = "system"
    # The LSP sandbox's state file, where shipments of the providers it serves are
    # registered as they are generated (demo/sandbox.py); None: nowhere.
    sandbox_state: str | None = None
    sandbox_providers: frozenset[int] = frozenset()
    warehouse_addresses: dict[int, dict[str, str]] = field(default_factory=dict)


def context_build(*, world, now: datetime, sandbox_state: str | None = None) -> Context:
    """Ids, prices and routing of the demo world in the plain shapes the generator uses."""
    prices = {family[0]: family[7] for family in pools.PRODUCT_FAMILIES}
    products = []
    for product in world.products:
        price = prices.get(product.sku.split("-", 1)[0], "19.95")
        euros, cents = price.split(".")
        products.append(
            (
                product.id,
                product.sku,
                int(euros) * 100 + int(cents),
                product.weight_grams,
                (product.length_mm, product.width_mm, product.height_mm),
            )
        )
    warehouse_provider = {}
    for code, warehouse in world.warehouses.items():
        provider = world.providers[world.warehouse_provider[code]]
        levels = [level.id for level in world.service_levels[provider.code]]
        warehouse_provider[warehouse.id] = (
            provider.id,
            provider.code,
            provider.base_url.rstrip("/"),
            levels,
        )
    warehouse_codes = {warehouse.id: code for code, warehouse in world.warehouses.items()}
    channels = [
        (
            channel.id,
            code,
            [world.warehouses[wc].id for wc in world.channel_warehouses[code]],
        )
        for code, channel in world.channels.items()
    ]
    agent = world.users.get("agent")
    return Context(
        now=now,
        channels=channels,
        channel_weights=[CHANNEL_WEIGHTS.get(code, 10) for _, code, _ in channels],
        products=products,
        warehouse_provider=warehouse_provider,
        warehouse_codes=warehouse_codes,
        hold_owner_id=agent.id if agent else None,
        placed_by_id=agent.id if agent else None,
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
    """Rows for every table, plus the stock deltas they imply per (product, warehouse)."""

    orders: list[tuple] = field(default_factory=list)
    lines: list[tuple] = field(default_factory=list)
    events: list[tuple] = field(default_factory=list)
    holds: list[tuple] = field(default_factory=list)
    allocations: list[tuple] = field(default_factory=list)
    movements: list[tuple] = field(default_factory=list)
    shipments: list[tuple] = field(default_factory=list)
    outbox: list[tuple] = field(default_factory=list)
    shipment_lines: list[tuple] = field(default_factory=list)
    parcels: list[tuple] = field(default_factory=list)
    tracking_events: list[tuple] = field(default_factory=list)
    # What the LSP sandbox must know of the dispatched shipments it "carries".
    sandbox_shipments: list[DemoShipment] = field(default_factory=list)
    stock_deltas: dict[tuple[int, int], list[int]] = field(
        default_factory=lambda: defaultdict(lambda: [0, 0])
    )


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
    status = skeleton.status
    now = ctx.now
    channel_id, channel_code, warehouse_ids = rng.choices(ctx.channels, ctx.channel_weights)[0]
    warehouse_id = warehouse_ids[0] if rng.random() < 0.8 else warehouse_ids[-1]
    provider_id, provider_code, provider_url, level_ids = ctx.warehouse_provider[warehouse_id]
    service_level_id = rng.choice(level_ids)
    order_number = format_order_number(number)

    # Timeline: each step after the previous one; open orders are recent.
    path = PATHS[status]
    durations = [rng.randint(*STEP_SECONDS[step]) for step in path]
    total = sum(durations) + rng.randint(1, 120)
    if status in FINAL:
        age = total + rng.randint(3600, 365 * 86400)
    else:
        age = total + rng.randint(60, 2 * 86400)
    placed_at = now - timedelta(seconds=age)
    received_at = placed_at + timedelta(seconds=rng.randint(1, 120))
    step_times = []
    t = received_at
    for seconds in durations:
        t = t + timedelta(seconds=seconds)
        step_times.append(t)
    updated_at = step_times[-1] if step_times else received_at

    # Customer and address.
    country = rng.choices(_COUNTRIES, _COUNTRY_WEIGHTS)[0]
    currency = pools.CURRENCY.get(country, "EUR")
    rate = CURRENCY_RATE[currency]
    first_index = rng.randrange(len(pools.FIRST_NAMES))
    last_index = rng.randrange(len(pools.LAST_NAMES))
    customer_name = f"{pools.FIRST_NAMES[first_index]} {pools.LAST_NAMES[last_index]}"
    email = (
        f"{_FIRST_ASCII[first_index]}.{_LAST_ASCII[last_index]}{rng.randrange(1, 9999)}"
        f"@{rng.choice(pools.EMAIL_DOMAINS)}"
    )
    prefix, digits = pools.PHONE_PREFIX[country]
    local = f"{rng.randrange(10**digits):0{digits}d}"
    phone = f"{prefix} {local[: digits // 2]} {local[digits // 2 :]}"
    city, region, pattern = rng.choice(pools.CITIES[country])
    postcode = _fill_pattern(rng, pattern)
    street = f"{rng.choice(pools.STREETS[country])} {rng.randint(1, 240)}"
    line2 = f"Apt {rng.randint(1, 60)}" if rng.random() < 0.15 else ""
    shipping_name = (
        customer_name
        if rng.random() < 0.9
        else f"{rng.choice(pools.FIRST_NAMES)} {pools.LAST_NAMES[last_index]}"
    )
    if channel_code == "webshop":
        reference = f"WEB-{number:08d}"
    elif channel_code == "marketplace":
        reference = f"MP-{rng.randrange(100, 999)}-{number:09d}"
    else:
        reference = f"PO-{placed_at:%Y}-{number:07d}"
    reference = external_reference or reference

    # Lines and what happened to them.
    wholesale = channel_code == "wholesale"
    picked = rng.sample(ctx.products, skeleton.line_count)
    shipped_lines = set()
    if status in (S.PARTIALLY_SHIPPED, S.PARTIALLY_DELIVERED):
        shipped_lines = {0} if status == S.PARTIALLY_SHIPPED else set(range(skeleton.line_count))
    elif status in (S.SHIPPED, S.DELIVERED, S.PARTIALLY_RETURNED, S.RETURNED):
        shipped_lines = set(range(skeleton.line_count))
    delivered_lines = set()
    if status == S.PARTIALLY_DELIVERED:
        delivered_lines = {0}
    elif status in (S.DELIVERED, S.PARTIALLY_RETURNED, S.RETURNED):
        delivered_lines = shipped_lines
    total_cents = 0
    line_rows = []
    for index, (product_id, sku, cents, _grams, _dims) in enumerate(picked):
        quantity = rng.randint(5, 40) if wholesale else rng.choices((1, 2, 3), (80, 15, 5))[0]
        unit_cents = int(cents * rate * (0.6 if wholesale else 1.0))
        if wholesale:
            # Stay under the wholesale channel's order value limit: bigger orders would be on hold.
            quantity = max(1, min(quantity, (WHOLESALE_CAP_CENTS - total_cents) // unit_cents))
        total_cents += unit_cents * quantity
        shipped = quantity if index in shipped_lines else 0
        delivered = shipped if index in delivered_lines else 0
        returned = 0
        if status == S.RETURNED:
            returned = delivered
        elif status == S.PARTIALLY_RETURNED and index == 0:
            returned = 1
        line_rows.append(
            (line_ids[index], order_id, index + 1, product_id, sku, quantity, _money(unit_cents),
             shipped, delivered, returned)
        )  # fmt: skip
    batch.lines.extend(line_rows)

    cancelled_at = step_times[-1] if status == S.CANCELLED else None
    batch.orders.append(
        (order_id, placed_at + timedelta(seconds=1), updated_at, order_number, channel_id,
         reference, status, currency, _money(total_cents), 1 if service_level_id == level_ids[-1] and provider_code == "sandbox" else 0,
         email, customer_name, phone, phone_key(phone), shipping_name, street, line2, city,
         postcode, postcode_key(postcode), region, country, service_level_id, placed_at,
         cancelled_at)
    )  # fmt: skip

    # Timeline events.
    events = batch.events
    events.append(
        (order_id, E.RECEIVED, json.dumps({"channel": channel_code, "external_reference": reference,
         "lines": skeleton.line_count}), None, f"channel:{channel_code}", received_at)
    )  # fmt: skip
    old = S.RECEIVED
    for step, at in zip(path, step_times, strict=True):
        actor = "system"
        if step == S.ON_HOLD:
            reason = rng.choice(list(Hold.Reason.values))
            # Review holds are placed by the agent; the others by the intake rules.
            placed_by = ctx.placed_by_id if reason in MANUAL_HOLD_REASONS else None
            hold_actor = ctx.placed_by_label if placed_by else actor
            events.append(
                (
                    order_id,
                    E.HOLD_PLACED,
                    json.dumps({"reason": reason, "note": pools.HOLD_NOTES[reason]}),
                    placed_by,
                    hold_actor,
                    at,
                )
            )
            batch.holds.append(
                (at, at, order_id, reason, pools.HOLD_NOTES[reason], ctx.hold_owner_id,
                 at + timedelta(hours=24), placed_by, None, None, "")
            )  # fmt: skip
        elif step == S.BACKORDERED:
            events.append(
                (
                    order_id,
                    E.BACKORDERED,
                    json.dumps({"skus": [r[4] for r in line_rows]}),
                    None,
                    actor,
                    at,
                )
            )
        elif step == S.ALLOCATED and full_ledger:
            events.append(
                (order_id, E.ALLOCATED, json.dumps({"warehouse_id": warehouse_id}), None, actor, at)
            )
        elif step == S.CANCELLED:
            events.append(
                (order_id, E.CANCELLED, json.dumps({"reason": "customer_request"}), None, actor, at)
            )
        events.append(
            (order_id, E.STATUS_CHANGED, json.dumps({"old_status": old, "new_status": step, "reason": ""}),
             None, actor, at)
        )  # fmt: skip
        old = step

    # Stock: what is still reserved, and (full ledger) what was reserved, shipped and returned.
    reference_text = f"order:{order_number}"
    allocated_at = step_times[path.index(S.ALLOCATED)] if S.ALLOCATED in path else None
    shipped_step = S.SHIPPED if S.SHIPPED in path else S.PARTIALLY_SHIPPED
    for line in line_rows:
        line_id, product_id, quantity, shipped, returned = (
            line[0],
            line[3],
            line[5],
            line[7],
            line[9],
        )
        key = (product_id, warehouse_id)
        if allocated_at is None:
            continue
        open_quantity = quantity - shipped if status in RESERVING else 0
        if open_quantity:
            batch.allocations.append(
                (allocated_at, allocated_at, line_id, warehouse_id, open_quantity, Allocation.Status.ACTIVE)
            )  # fmt: skip
            batch.movements.append(
                (product_id, warehouse_id, StockMovement.Type.RESERVATION, 0, open_quantity,
                 "allocation", reference_text, order_id, None, "", allocated_at)
            )  # fmt: skip
            batch.stock_deltas[key][1] += open_quantity
        if full_ledger and shipped:
            shipped_at = step_times[path.index(shipped_step)]
            batch.allocations.append(
                (allocated_at, shipped_at, line_id, warehouse_id, shipped, Allocation.Status.FULFILLED)
            )  # fmt: skip
            batch.movements.append(
                (product_id, warehouse_id, StockMovement.Type.RESERVATION, 0, shipped,
                 "allocation", reference_text, order_id, None, "", allocated_at)
            )  # fmt: skip
            batch.movements.append(
                (product_id, warehouse_id, StockMovement.Type.SHIPMENT, -shipped, -shipped,
                 "shipped", reference_text, order_id, None, "", shipped_at)
            )  # fmt: skip
            batch.stock_deltas[key][0] -= shipped
            if returned:
                batch.movements.append(
                    (product_id, warehouse_id, StockMovement.Type.RETURN, returned, 0,
                     "customer_return", reference_text, order_id, None, "", updated_at)
                )  # fmt: skip
                batch.stock_deltas[key][0] += returned

    # Shipments: one per parcel run; partial statuses split the first line from the rest.
    if not shipment_ids:
        return
    created_at = step_times[path.index(S.IN_FULFILMENT)]
    groups = [list(range(len(line_rows)))]
    if len(shipment_ids) == 2:
        groups = [[0], list(range(1, len(line_rows)))]
    for number_in_order, (shipment_id, group) in enumerate(zip(shipment_ids, groups, strict=True)):
        shipment_status, tracking = _shipment_status(status, number_in_order, rng)
        dispatched_at = created_at + timedelta(seconds=rng.randint(5, 300))
        steps = tracking
        delivered_at = None
        token = uuid.UUID(int=rng.getrandbits(128), version=4)
        tracking_number = provider_reference = label_url = ""
        if shipment_status != Shipment.Status.PENDING:
            provider_reference = f"{provider_code.upper()}-{shipment_id}"
            prefix = "CSX" if provider_code == "sandbox" else "FN"
            tracking_number = (
                f"{prefix}{shipment_id:010d}{'NL' if provider_code == 'sandbox' else 'DE'}"
            )
            # Where the sandbox serves it (seed_demo registers the shipment there).
            label_url = f"{provider_url}/v1/shipments/{provider_reference}/label.pdf"
        event_times = []
        if steps:
            end = step_times[path.index(S.DELIVERED)] if S.DELIVERED in path else updated_at
            span = max((end - dispatched_at).total_seconds(), 60.0 * len(steps))
            event_times = [
                min(now, dispatched_at + timedelta(seconds=span * (i + 1) / len(steps)))
                for i in range(len(steps))
            ]
            for i, (tracking_status, at) in enumerate(zip(steps, event_times, strict=True)):
                batch.tracking_events.append(
                    (shipment_id, tracking_status, tracking_status.upper(),
                     TrackingStatus(tracking_status).label, "Venlo, NL" if i == 0 else "", at, at,
                     f"{tracking_number}-{i}", json.dumps({"status": tracking_status, "seq": i}))
                )  # fmt: skip
            if steps[-1] == TrackingStatus.DELIVERED:
                delivered_at = event_times[-1]
        last_event_at = event_times[-1] if event_times else None
        weight = 0
        for index in group:
            line = line_rows[index]
            quantity = line[7] if line[7] else line[5]
            batch.shipment_lines.append((shipment_id, line[0], quantity))
            weight += picked[index][3] * quantity
        dims = picked[group[0]][4]
        batch.parcels.append(
            (shipment_id, weight + 150, dims[0] + 20, dims[1] + 20, dims[2] + 20, tracking_number)
        )
        # Shipped = the provider reported it moving; until then it holds active allocations.
        shipped_at = event_times[1] if len(event_times) > 1 else None
        if full_ledger:
            _shipment_events_add(
                events=batch.events,
                order_id=order_id,
                shipment_id=shipment_id,
                warehouse_code=ctx.warehouse_codes[warehouse_id],
                provider_code=provider_code,
                provider_reference=provider_reference,
                tracking_number=tracking_number,
                lines=[
                    {"sku": line_rows[i][4], "quantity": line_rows[i][7] or line_rows[i][5]}
                    for i in group
                ],
                times=(created_at, dispatched_at, shipped_at, delivered_at),
            )
        cost = _money(450 + rng.randrange(900)) if tracking_number else None
        batch.shipments.append(
            (shipment_id, created_at, last_event_at or dispatched_at, order_id, warehouse_id,
             provider_id, service_level_id, shipment_status, token, provider_reference,
             tracking_number, label_url, cost,
             "EUR" if tracking_number else "", 1 if tracking_number else 0, "",
             dispatched_at if tracking_number else None, delivered_at, last_event_at, shipped_at, 0,
             Shipment.Direction.OUTBOUND)
        )  # fmt: skip
        if tracking_number and ctx.sandbox_state and provider_id in ctx.sandbox_providers:
            batch.sandbox_shipments.append(
                sandbox.demo_shipment_record(
                    reference=provider_reference,
                    token=str(token),
                    tracking_number=tracking_number,
                    dispatched_at=dispatched_at,
                    order_number=order_number,
                    ship_from=ctx.warehouse_addresses[warehouse_id],
                    ship_to={"name": shipping_name, "line1": street, "line2": line2,
                             "city": city, "postcode": postcode, "region": region,
                             "country": country},
                    events=[
                        (f"{tracking_number}-{i}", status, at, TrackingStatus(status).label,
                         "Venlo, NL" if i == 0 else "")
                        for i, (status, at) in enumerate(zip(steps, event_times, strict=True))
                    ],
                    cost=(cost, "EUR") if cost else None,
                )
            )  # fmt: skip
        # The transactional outbox row the dispatch worker works off: sent once the
        # provider accepted it, still pending (and due) otherwise.
        if tracking_number:
            batch.outbox.append(
                (
                    created_at,
                    dispatched_at,
                    shipment_id,
                    DispatchOutbox.Status.SENT,
                    1,
                    created_at,
                    "",
                    dispatched_at,
                )
            )
        else:
            batch.outbox.append(
                (
                    created_at,
                    created_at,
                    shipment_id,
                    DispatchOutbox.Status.PENDING,
                    0,
                    created_at,
                    "",
                    None,
                )
            )


def _shipment_events_add(
    *,
    events: list[tuple],
    order_id: int,
    shipment_id: int,
    warehouse_code: str,
    provider_code: str,
    provider_reference: str,
    tracking_number: str,
    lines: list[dict],
    times: tuple,
) -> None:
    """The timeline entries logistics writes for a shipment (logistics.order_events shapes)."""
    created_at, dispatched_at, shipped_at, delivered_at = times
    events.append(
        (order_id, E.SHIPMENT_CREATED, json.dumps({"shipment_id": shipment_id,
         "warehouse": warehouse_code, "provider": provider_code, "lines": lines}),
         None, "system", created_at)
    )  # fmt: skip
    if not tracking_number:
        return
    events.append(
        (order_id, E.SHIPMENT_DISPATCHED, json.dumps({"shipment_id": shipment_id,
         "provider": provider_code, "provider_reference": provider_reference,
         "tracking_number": tracking_number, "attempts": 1}),
         None, "system:dispatch", dispatched_at)
    )  # fmt: skip
    for event_type, at in ((E.SHIPPED, shipped_at), (E.DELIVERED, delivered_at)):
        if at is not None:
            events.append(
                (order_id, event_type, json.dumps({"shipment_id": shipment_id,
                 "tracking_number": tracking_number, "occurred_at": at.isoformat()}),
                 None, f"lsp:{provider_code}", at)
            )  # fmt: skip


def _shipment_status(order_status: str, index: int, rng: Random) -> tuple[str, list[str]]:
    """The shipment's status and the tracking statuses it has been through."""
    pre, transit, out, done = (
        TrackingStatus.PRE_TRANSIT, TrackingStatus.IN_TRANSIT,
        TrackingStatus.OUT_FOR_DELIVERY, TrackingStatus.DELIVERED,
    )  # fmt: skip
    delivered = (Shipment.Status.DELIVERED, [pre, transit, out, done])
    in_transit = (Shipment.Status.IN_TRANSIT, [pre, transit])
    dispatched = (Shipment.Status.DISPATCHED, [pre])
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
