"""logistics/sql.py, tracking section: each statement agrees with its ORM equivalent."""

import datetime as dt

import pytest
from django.db import IntegrityError, transaction

from logistics import sql
from logistics.models import InboundWebhook, Shipment, TrackingEvent
from tests.logistics.factories import ProviderFactory, ShipmentFactory

pytestmark = pytest.mark.django_db
T0 = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)


def _row(event):
    return TrackingEvent.objects.filter(pk=event.pk).values(
        "shipment_id",
        "status",
        "provider_status",
        "description",
        "location",
        "occurred_at",
        "received_at",
        "dedup_key",
        "raw",
    )[0]


def _event(shipment, key, minutes=0):
    return TrackingEvent(
        shipment=shipment,
        status="in_transit",
        provider_status="IT",
        description="Sorted",
        location="Utrecht",
        occurred_at=T0 + dt.timedelta(minutes=minutes),
        received_at=T0 + dt.timedelta(hours=1),
        dedup_key=key,
        raw={"at": (T0 + dt.timedelta(minutes=minutes)).isoformat(), "n": [1, 2]},
    )


def test_tracking_events_insert_stores_what_the_orm_stores():
    shipment = ShipmentFactory()
    by_sql = _event(shipment, "evt-sql")
    by_orm = _event(shipment, "evt-orm")
    ids = sql.tracking_events_insert(events=[by_sql])
    by_sql.pk = ids[(shipment.pk, "evt-sql")]
    by_orm.save()
    # received_at is auto_now_add for the ORM; the statement stores the batch's time.
    expected = {**_row(by_orm), "dedup_key": "evt-sql", "received_at": by_sql.received_at}
    assert _row(by_sql) == expected


def test_tracking_events_insert_skips_pairs_the_orm_would_refuse_as_duplicates():
    shipment, other = ShipmentFactory(), ShipmentFactory()
    _event(shipment, "evt-1").save()
    with pytest.raises(IntegrityError), transaction.atomic():
        _event(shipment, "evt-1", minutes=5).save()  # the ORM: the unique pair refuses it

    ids = sql.tracking_events_insert(
        events=[
            _event(shipment, "evt-1", minutes=5),
            _event(other, "evt-1"),
            _event(shipment, "e2"),
        ]
    )

    assert set(ids) == {(other.pk, "evt-1"), (shipment.pk, "e2")}
    assert TrackingEvent.objects.filter(shipment=shipment, dedup_key="evt-1").count() == 1
    assert set(ids.values()) == set(
        TrackingEvent.objects.exclude(dedup_key="evt-1", shipment=shipment).values_list(
            "pk", flat=True
        )
    )


def test_tracking_events_insert_spans_chunks(monkeypatch):
    monkeypatch.setattr(sql, "TRACKING_EVENTS_CHUNK", 2)
    shipment = ShipmentFactory()
    ids = sql.tracking_events_insert(events=[_event(shipment, f"k{i}") for i in range(5)])
    assert len(ids) == 5
    assert set(ids.values()) == set(
        TrackingEvent.objects.filter(shipment=shipment).values_list("pk", flat=True)
    )


def _tracked(shipment, minutes):
    shipment.status = Shipment.Status.IN_TRANSIT
    shipment.last_event_at = T0 + dt.timedelta(minutes=minutes)
    shipment.shipped_at = T0
    shipment.delivered_at = None
    shipment.tracking_number = f"TN{minutes}"
    shipment.next_poll_at = T0 + dt.timedelta(hours=2)
    shipment.poll_interval_seconds = 600 + minutes
    shipment.late_flagged_at = None
    shipment.updated_at = T0 + dt.timedelta(minutes=minutes + 1)
    return shipment


def _columns(shipment):
    names = [name for name, _ in sql.SHIPMENT_TRACKING_COLUMNS]
    return Shipment.objects.filter(pk=shipment.pk).values(*names)[0]


def test_shipments_tracking_update_writes_what_bulk_update_writes():
    by_sql = [_tracked(ShipmentFactory(), minutes) for minutes in (3, 7)]
    by_orm = [_tracked(ShipmentFactory(), minutes) for minutes in (3, 7)]
    sql.shipments_tracking_update(shipments=list(reversed(by_sql)))
    Shipment.objects.bulk_update(by_orm, [name for name, _ in sql.SHIPMENT_TRACKING_COLUMNS])
    for mine, theirs in zip(by_sql, by_orm, strict=True):
        assert _columns(mine) == _columns(theirs)
        assert _columns(mine)["poll_interval_seconds"] == mine.poll_interval_seconds


def test_inbound_webhook_insert_matches_the_orm_and_ignores_a_redelivery():
    provider = ProviderFactory()
    pk = sql.inbound_webhook_insert(provider_id=provider.pk, webhook_id="wh-1", body='{"a": 1}')
    orm = InboundWebhook.objects.create(
        provider=provider, webhook_id="wh-2", body='{"a": 1}', received_at=T0
    )
    fields = ["provider_id", "body", "status", "attempts", "error"]
    assert (
        InboundWebhook.objects.filter(pk=pk).values(*fields)[0]
        == InboundWebhook.objects.filter(pk=orm.pk).values(*fields)[0]
    )
    assert InboundWebhook.objects.get(pk=pk).status == InboundWebhook.Status.PENDING
    assert sql.inbound_webhook_insert(provider_id=provider.pk, webhook_id="wh-1", body="{}") is None
    assert InboundWebhook.objects.filter(provider=provider, webhook_id="wh-1").count() == 1
