"""Building blocks for returns tests: a delivered order, driven through the real services."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from logistics.adapters.base import ReturnLabel, TrackingStatus, TrackingUpdate
from logistics.models import Shipment
from logistics.services.dispatch import shipment_dispatch
from logistics.services.tracking import tracking_update_apply
from orders.models import Order
from orders.services.shipment_planning import shipments_plan_for_order
from tests.logistics.helpers import FakeAdapter, allocated_order, sandbox_provider


def track(shipment: Shipment, status: TrackingStatus, at: dt.datetime) -> None:
    tracking_update_apply(
        shipment_id=shipment.pk,
        update=TrackingUpdate(
            status=status,
            provider_status=status.upper(),
            occurred_at=at,
            event_id=f"evt-{shipment.pk}-{status}",
        ),
    )


def delivered_order(
    *, channel=None, quantities=(2, 1), prices=("19.95", "8.50"), delivered_at=None
) -> Order:
    """A `delivered` order: planned, dispatched (fake LSP), shipped and delivered by tracking."""
    delivered_at = delivered_at or timezone.now() - dt.timedelta(hours=1)
    sandbox_provider()
    with transaction.atomic():
        order = allocated_order(channel=channel, quantities=quantities)
        for line, price in zip(order.lines.order_by("line_number"), prices, strict=False):
            line.unit_price = Decimal(price)
            line.save(update_fields=["unit_price"])
        shipments_plan_for_order(order=order, actor="test")
    for shipment in Shipment.objects.filter(order=order):
        shipment_dispatch(shipment_id=shipment.pk, adapter=FakeAdapter(outcomes=["ok"]))
        shipment.refresh_from_db()
        track(shipment, TrackingStatus.IN_TRANSIT, delivered_at - dt.timedelta(hours=20))
        track(shipment, TrackingStatus.DELIVERED, delivered_at)
    order.refresh_from_db()
    assert order.status == Order.Status.DELIVERED, order.status
    return order


class FakeReturnAdapter:
    """Scripted provider for return labels: each call pops the next outcome."""

    def __init__(self, outcomes=None):
        self.outcomes = list(outcomes or [])
        self.calls: list[dict] = []

    def create_return_label(self, shipment, *, idempotency_key="", items=None):
        self.calls.append({"shipment": shipment.pk, "key": idempotency_key, "items": items})
        outcome = self.outcomes.pop(0) if self.outcomes else "ok"
        if outcome != "ok":
            raise outcome
        return ReturnLabel(
            tracking_number=f"RT-{shipment.pk}",
            label_url=f"http://lsp.test/returns/{shipment.pk}.pdf",
            provider_reference=f"R-{shipment.pk}-{idempotency_key[:8]}",
        )
