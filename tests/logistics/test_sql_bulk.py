"""logistics/sql.py's bulk loading (the demo seeder's path) writes what the ORM writes."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest
from django.db import connection

from logistics.models import DispatchOutbox, Parcel, Shipment, ShipmentLine, TrackingEvent
from logistics.sql import (
    DispatchOutboxRow,
    ParcelRow,
    ShipmentLineRow,
    ShipmentRow,
    TrackingEventRow,
    shipment_ids_draw,
    shipments_bulk_copy,
)
from tests.core.bulk_twins import assert_same_row, orm_twin
from tests.inventory.factories import WarehouseFactory
from tests.logistics.factories import ServiceLevelFactory
from tests.orders.factories import OrderLineFactory

pytestmark = pytest.mark.django_db

AT = dt.datetime(2026, 3, 4, 5, 6, 7, tzinfo=dt.UTC)


def test_shipments_bulk_copy_writes_the_rows_the_orm_writes():
    line, warehouse, level = OrderLineFactory(), WarehouseFactory(), ServiceLevelFactory()
    with connection.cursor() as cursor:
        (shipment_id,) = shipment_ids_draw(cursor, count=1)
        shipment = ShipmentRow(
            id=shipment_id, created_at=AT, updated_at=AT + dt.timedelta(hours=2),
            order_id=line.order_id, warehouse_id=warehouse.pk, provider_id=level.provider_id,
            service_level_id=level.pk, status=Shipment.Status.IN_TRANSIT,
            idempotency_token=uuid.uuid4(), provider_reference=f"SANDBOX-{shipment_id}",
            tracking_number=f"CSX{shipment_id:010d}NL", label_url="http://lsp/label.pdf",
            cost="7.45", cost_currency="EUR", dispatch_attempts=1, last_error="",
            dispatched_at=AT, delivered_at=None, last_event_at=AT + dt.timedelta(hours=2),
            shipped_at=AT + dt.timedelta(hours=2), poll_interval_seconds=0,
            direction=Shipment.Direction.OUTBOUND, ship_by=dt.date(2026, 3, 4),
            promised_delivery_date=dt.date(2026, 3, 6),
        )  # fmt: skip
        outbox = DispatchOutboxRow(
            created_at=AT, updated_at=AT, shipment_id=shipment_id,
            status=DispatchOutbox.Status.SENT, attempts=1, next_attempt_at=AT, last_error="",
            sent_at=AT,
        )  # fmt: skip
        shipment_line = ShipmentLineRow(shipment_id=shipment_id, order_line_id=line.pk, quantity=1)
        parcel = ParcelRow(
            shipment_id=shipment_id, weight_grams=650, length_mm=220, width_mm=170,
            height_mm=120, tracking_number=shipment.tracking_number,
        )  # fmt: skip
        event = TrackingEventRow(
            shipment_id=shipment_id, status="in_transit", provider_status="IN_TRANSIT",
            description="In transit", location="Venlo, NL", occurred_at=AT, received_at=AT,
            dedup_key=f"{shipment.tracking_number}-1",
            raw=json.dumps({"status": "in_transit", "seq": 1}),
        )  # fmt: skip
        shipments_bulk_copy(
            cursor,
            shipments=[shipment],
            outbox=[outbox],
            lines=[shipment_line],
            parcels=[parcel],
            tracking_events=[event],
        )

    twin = orm_twin(
        Shipment, shipment, idempotency_token=uuid.uuid4(), provider_reference="TWIN",
        tracking_number="TWIN",
    )  # fmt: skip
    copied = assert_same_row(
        Shipment, shipment_id, twin.pk,
        ignore=["idempotency_token", "provider_reference", "tracking_number", "created_at",
                "updated_at"],
    )  # fmt: skip
    assert (copied["created_at"], copied["updated_at"]) == (
        shipment.created_at,
        shipment.updated_at,
    )
    for model, row, extra_ignore in (
        (DispatchOutbox, outbox, ["created_at", "updated_at"]),
        (ShipmentLine, shipment_line, []),
        (Parcel, parcel, []),
        (TrackingEvent, event, ["received_at"]),
    ):
        copied_row = model.objects.get(shipment_id=shipment_id)
        row_twin = orm_twin(model, row, shipment_id=twin.pk)
        values = assert_same_row(
            model, copied_row.pk, row_twin.pk, ignore=["shipment_id", *extra_ignore]
        )
        for column in extra_ignore:
            assert values[column] == getattr(row, column)
