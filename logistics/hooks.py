"""What logistics needs from the layers above it, as ports they fill at startup.

logistics may not import orders or returns (docs/architecture.md). Where a logistics
service must tell them something (a shipment was dispatched, tracking moved a parcel),
it calls a port declared here; orders and returns register the implementations in
their AppConfig.ready(). Each port documents when it is called and in which
transaction.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Protocol

from core.hooks import Port

if TYPE_CHECKING:
    from core.users import ActingUser
    from logistics.models import Shipment, ShipmentLine, TrackingEvent


# --- Shipment progress (filled by orders: orders.services.progress) ------------------
class ShipmentProgressBatch(Protocol):
    """The order side of one tracking batch: decided in memory, written by `flush`."""

    def prepare(
        self, *, shipments: Mapping[int, Shipment], moving_order_ids: Collection[int]
    ) -> None:
        """Attach each locked shipment's locked order and read what the roll-up needs.

        Called once per batch, after the shipments are locked and the tracking events
        stored, before the first `shipment_progressed`. `moving_order_ids`: the orders
        whose outbound parcels may ship or be delivered in this batch. At most two
        queries (their order lines; the shipments partner payloads list).
        """
        ...

    def shipment_tracked(self, *, shipment: Shipment, tracking_event: TrackingEvent) -> None:
        """A tracking event of the shipment (either direction) was stored: the partner
        hears of it (shipment.tracking_updated, published by `flush`).

        Called for every stored (not duplicate) event, in arrival order, after the
        shipment's own fields follow it and before `shipment_progressed`. No query.
        """
        ...

    def shipment_progressed(
        self,
        *,
        shipment: Shipment,
        tracking_event: TrackingEvent,
        lines: Sequence[ShipmentLine],
        shipped: bool,
        delivered: bool,
        trouble: bool,
    ) -> None:
        """One stored event of an outbound shipment, in arrival order, decided in memory.

        Called after the shipment's own fields follow the event. `shipped`/`delivered`:
        the event is the shipment's first proof of leaving / of delivery (each fires
        once per shipment; `lines` then are its lines); `trouble`: a failed attempt,
        exception or return to sender. No query.
        """
        ...

    def flush(self) -> None:
        """Write what the batch decided (line counters, order statuses, order events,
        partner events) in a fixed number of statements. Called once, last."""
        ...


class ShipmentProgress(Protocol):
    def batch_begin(self, *, shipment_ids: Collection[int]) -> ShipmentProgressBatch:
        """Lock the orders of these shipments and start a batch.

        Called first inside the tracking transaction (logistics.services.tracking_rollup.
        tracking_updates_apply), before logistics locks the shipments: orders first,
        then shipments, each in primary-key order, the lock order used everywhere.
        """
        ...

    def shipment_trouble_record(self, *, shipment: Shipment, status: str, description: str) -> None:
        """Record a tracking exception found without a tracking event (a late parcel).

        Called by logistics.services.tracking.shipments_flag_late inside its
        transaction, with the shipment row locked (not its order). Writes at once.
        """
        ...


shipment_progress: Port[ShipmentProgress] = Port("logistics.shipment_progress")


# --- Return shipments (filled by returns: returns.services) -------------------------
class ReturnTracking(Protocol):
    def return_shipment_tracked(
        self, *, shipment: Shipment, status: str, occurred_at: dt.datetime
    ) -> None:
        """A return shipment got a new latest status (a TrackingStatus).

        Called inside the tracking transaction, while a batch is applied, with the
        shipment's order and the shipment locked; the shipment's fields already follow
        the event but are written at the end of the batch.
        """
        ...


return_tracking: Port[ReturnTracking] = Port("logistics.return_tracking")


# --- Dispatch gate and re-route (filled by orders: orders.services.dispatch_gate) ---


class OrderDispatchState(enum.StrEnum):
    """What the order's status means for sending its shipments."""

    OPEN = "open"
    ON_HOLD = "on_hold"
    CANCELLED = "cancelled"


class OrderGate(Protocol):
    """What dispatch and re-route ask the order workflow before a provider is called.

    Called by logistics.services.dispatch.shipment_dispatch (the dispatch gate) and
    logistics.services.reroute.shipment_dispatch_reroute, inside their transaction.
    """

    def order_lock_for_dispatch(self, *, order_id: int) -> OrderDispatchState:
        """Lock the order's row FOR NO KEY UPDATE until the caller's transaction ends and
        say what its status allows. A hold or a cancel (both lock the order FOR UPDATE)
        therefore waits until the provider's answer is recorded, and the status read
        here cannot change while the caller works."""
        ...

    def order_has_open_hold(self, *, order_id: int) -> bool:
        """True when the order has an unreleased hold (its status may not say so yet)."""
        ...


order_gate: Port[OrderGate] = Port("logistics.order_gate")


# --- Order timeline of dispatch and re-route (filled by orders: orders.shipment_events)


class OrderTimeline(Protocol):
    """Timeline entries logistics records on a shipment's order.

    Called by logistics.services.dispatch and logistics.services.reroute in the
    transaction that made the change, with the shipment's order loaded (each caller
    selects or sets `shipment.order`), so recording reads nothing more.
    """

    def shipment_dispatched_event(self, *, shipment: Shipment, attempts: int) -> object: ...

    def dispatch_failed_event(
        self, *, shipment: Shipment, reason: str, message: str, attempts: int
    ) -> object: ...

    def dispatch_retry_requested_event(
        self, *, shipment: Shipment, user: ActingUser | None = ..., actor: str | None = ...
    ) -> object: ...

    def dispatch_parked_event(
        self, *, shipment: Shipment, user: ActingUser | None = ..., actor: str | None = ...
    ) -> object: ...

    def dispatch_resumed_event(
        self, *, shipment: Shipment, user: ActingUser | None = ..., actor: str | None = ...
    ) -> object: ...

    def shipment_cancelled_event(
        self,
        *,
        shipment: Shipment,
        at_provider: bool,
        user: ActingUser | None = ...,
        actor: str | None = ...,
    ) -> object: ...

    def provider_cancel_requested_event(
        self, *, shipment: Shipment, user: ActingUser | None = ..., actor: str | None = ...
    ) -> object: ...

    def provider_cancel_refused_event(self, *, shipment: Shipment, message: str) -> object: ...

    def dispatch_rerouted_event(
        self,
        *,
        shipment: Shipment,
        previous_provider: str,
        user: ActingUser | None = ...,
        actor: str | None = ...,
    ) -> object:
        """Also makes the order's delivery promise agree with the shipment's new one
        (the new provider's transit time); the order is locked by the caller."""
        ...


order_timeline: Port[OrderTimeline] = Port("logistics.order_timeline")


# --- Short picks (filled by orders: orders.services.short_pick) -------------------------


class ShortPickOutcome(enum.StrEnum):
    """What happens to the rest of a shipment after a short pick (the routing split policy)."""

    CONTINUE = "continue"  # the shipment goes on with what was found
    WAIT = "wait"  # ship complete: the shipment waits (the exception queue shows it)


class PickShortfall(Protocol):
    """The order workflow's side of a short pick (logistics.services.picking.pick_short).

    Called in the picking transaction: `order_lock` first (before any picking row is
    locked: the order row is the first lock everywhere), then `short_pick_reallocate`.
    """

    def order_lock(self, *, order_id: int) -> None:
        """Lock the order row FOR UPDATE until the caller's transaction ends."""
        ...

    def short_pick_reallocate(
        self,
        *,
        shipment: Shipment,
        shipment_line: ShipmentLine,
        bin_id: int,
        missing: int,
        user: ActingUser | None,
    ) -> ShortPickOutcome:
        """`missing` units of the line are not in bin `bin_id` of the shipment's site.

        Releases their reservation there, records them lost from the bin (the stock
        engine), and lets allocation find them elsewhere (a new allocation and shipment
        at another site, or the order backordered). Says whether the rest of the
        shipment continues (its line shrinks by `missing`) or waits.
        """
        ...


pick_shortfall: Port[PickShortfall] = Port("logistics.pick_shortfall")
