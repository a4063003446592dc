"""What logistics needs from the layers above it, as ports they fill at startup.

logistics may not import orders or returns (docs/architecture.md). Where a logistics
service must tell them something (a shipment was dispatched, tracking moved a parcel),
it calls a port declared here; orders and returns register the implementations in
their AppConfig.ready(). Each port documents when it is called and in which
transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Protocol

from core.hooks import Port

if TYPE_CHECKING:
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
        partner notifications) in a fixed number of statements. Called once, last."""
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
