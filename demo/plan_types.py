"""The shapes the demo generator works in: the world as plain ids, one order's plan, a batch.

`Context` is the demo world loaded once per run (ids, prices, routing); `OrderPlan` is
what one generated order is built from; `Batch` collects one chunk's rows for every
table, one named row type per table (the owning app's, from its `sql.py`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from demo import pools, routing, sandbox
from demo.world import DemoWorld
from inventory.sql import AllocationRow, StockMovementRow
from logistics.promise import Promise
from logistics.promise_tables import shipment_promise
from logistics.sql import (
    DispatchOutboxRow,
    ParcelRow,
    ShipmentLineRow,
    ShipmentRow,
    TrackingEventRow,
)
from orders.models import Order
from orders.sql import HoldRow, OrderEventRow, OrderLineRow, OrderRow
from sandbox.store import DemoShipment

CHANNEL_WEIGHTS = {"webshop": 60, "marketplace": 30, "wholesale": 10}


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
    # (channel id, destination country) -> warehouse ids, best first, as the published
    # routing rules decide (demo/routing.py); empty: the channel's priority order.
    route_preferences: dict[tuple[int, str], list[int]] = field(default_factory=dict)


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
    preferences = routing.route_preferences(world=world, now=now)
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
        route_preferences={
            (world.channels[channel].id, country): [world.warehouses[c].id for c in codes]
            for (channel, country), codes in preferences.items()
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


def money(cents: int) -> str:
    """Cents as the decimal string a money column takes."""
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


# Orders that have no delivery promise yet (docs/routing.md, "The delivery promise").
_UNPROMISED = frozenset({Order.Status.RECEIVED, Order.Status.ON_HOLD, Order.Status.BACKORDERED})


def plan_promise(plan: OrderPlan) -> Promise | None:
    """The promise the order (and its one shipment) got when it was placed, from its
    site's calendar and its provider's transit time (logistics.promise_tables)."""
    if plan.status in _UNPROMISED:
        return None
    route = plan.route
    return shipment_promise(
        warehouse_id=route.warehouse_id,
        provider_id=route.provider.id,
        service_level_id=route.service_level_id,
        country=plan.customer.country,
        at=plan.timeline.placed_at,
    )


def event_row(
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
