"""The shipments of a generated order: their rows, tracking history and timeline entries.

Partial statuses split the first line from the rest into two shipments; each shipment's
status decides the tracking events it has been through. Dispatched shipments of the
providers the LSP sandbox serves are also described for its state file (demo/sandbox.py).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from random import Random

from demo import sandbox
from demo.plan_types import Batch, Context, OrderPlan, event_row, money, plan_promise
from logistics.models import DispatchOutbox, Shipment, TrackingStatus
from logistics.sql import (
    DispatchOutboxRow,
    ParcelRow,
    ShipmentLineRow,
    ShipmentRow,
    TrackingEventRow,
)
from orders.models import Order, OrderEvent
from orders.sql import OrderEventRow, OrderLineRow
from sandbox.store import DemoShipment

S = Order.Status
E = OrderEvent.Type


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


def shipments_add(
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
        cost = money(450 + rng.randrange(900)) if shipment.tracking_number else None
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
    promise = plan_promise(plan)
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
        ship_by=promise.ship_by if promise else None,
        promised_delivery_date=promise.promised_delivery_date if promise else None,
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
    """The timeline entries logistics writes for a shipment (orders.shipment_events shapes)."""
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
    events.append(event_row(plan.id, E.SHIPMENT_CREATED, created, shipment.created_at))
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
        event_row(
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
            events.append(event_row(plan.id, event_type, moved, at, actor=f"lsp:{provider_code}"))


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
