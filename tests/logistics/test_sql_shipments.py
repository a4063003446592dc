"""logistics.sql's shipment-planning statements give what their ORM equivalents give."""

from __future__ import annotations

import pytest
from django.forms.models import model_to_dict
from django.utils import timezone

from logistics import sql
from logistics.models import DispatchOutbox, Parcel, Shipment, ShipmentLine
from tests.inventory.factories import WarehouseFactory
from tests.logistics.factories import ProviderFactory
from tests.logistics.helpers import allocated_order

pytestmark = pytest.mark.django_db

# Columns that differ between two inserts of the same data by construction.
VOLATILE = {"id", "created_at", "updated_at", "idempotency_token", "shipment", "next_attempt_at"}


def _row(obj) -> dict:
    return {k: v for k, v in model_to_dict(obj).items() if k not in VOLATILE}


def _values(obj) -> dict:
    """Every field as the code reads it (model_to_dict re-encrypts secrets: never equal)."""
    return {field.attname: getattr(obj, field.attname) for field in obj._meta.concrete_fields}


def test_warehouses_with_providers_matches_select_related_in_bulk():
    provider = ProviderFactory()
    operated, own = WarehouseFactory(provider=provider), WarehouseFactory()
    ids = [operated.pk, own.pk]

    found = sql.warehouses_with_providers(ids=ids)
    expected = type(operated).objects.select_related("provider").in_bulk(ids)

    assert found.keys() == expected.keys()
    for pk, warehouse in expected.items():
        assert _values(found[pk]) == _values(warehouse)
        if warehouse.provider_id is None:
            assert found[pk].provider is None
        else:
            # Secrets included: a raw row must not pass its stored token off as the secret.
            assert _values(found[pk].provider) == _values(warehouse.provider)


def test_warehouses_with_providers_of_unknown_ids_is_empty():
    assert sql.warehouses_with_providers(ids=[-1]) == {}


def _build(order, *, with_outbox: bool):
    warehouse = WarehouseFactory()
    shipment = Shipment(order=order, warehouse=warehouse, provider=ProviderFactory())
    lines = [
        ShipmentLine(shipment=shipment, order_line=line, quantity=line.quantity)
        for line in order.lines.order_by("pk")
    ]
    parcel = Parcel(shipment=shipment, weight_grams=1234)
    outbox = (
        DispatchOutbox(shipment=shipment, next_attempt_at=timezone.now()) if with_outbox else None
    )
    return shipment, lines, parcel, outbox


def _orm_insert(shipment, lines, parcel, outbox) -> None:
    shipment.save()
    for obj in [*lines, parcel, *([outbox] if outbox else [])]:
        obj.shipment = shipment
        obj.save()


def _stored(shipment_id: int) -> dict:
    shipment = Shipment.objects.get(pk=shipment_id)
    return {
        "shipment": _row(shipment),
        "lines": sorted(
            (_row(line) for line in ShipmentLine.objects.filter(shipment_id=shipment_id)),
            key=lambda row: row["order_line"],
        ),
        "parcels": [_row(parcel) for parcel in Parcel.objects.filter(shipment_id=shipment_id)],
        "outbox": [_row(row) for row in DispatchOutbox.objects.filter(shipment_id=shipment_id)],
    }


@pytest.mark.parametrize("with_outbox", [True, False])
def test_shipment_insert_stores_what_one_save_per_row_stores(with_outbox):
    order = allocated_order(quantities=[1, 3])
    by_sql = _build(order, with_outbox=with_outbox)
    by_orm = _build(order, with_outbox=with_outbox)
    by_orm[0].warehouse, by_orm[0].provider = by_sql[0].warehouse, by_sql[0].provider

    sql.shipment_insert(shipment=by_sql[0], lines=by_sql[1], parcel=by_sql[2], outbox=by_sql[3])
    _orm_insert(*by_orm)

    assert _stored(by_sql[0].pk) == _stored(by_orm[0].pk)
    assert len(_stored(by_sql[0].pk)["outbox"]) == (1 if with_outbox else 0)


def test_shipment_insert_sets_the_keys_and_the_shipment_on_every_instance():
    order = allocated_order(quantities=[2, 5])
    shipment, lines, parcel, outbox = _build(order, with_outbox=True)

    sql.shipment_insert(shipment=shipment, lines=lines, parcel=parcel, outbox=outbox)

    assert shipment.pk
    assert not shipment._state.adding
    assert {line.pk for line in lines} == set(
        ShipmentLine.objects.filter(shipment=shipment).values_list("pk", flat=True)
    )
    assert Parcel.objects.get(shipment=shipment).pk == parcel.pk
    assert DispatchOutbox.objects.get(shipment=shipment).pk == outbox.pk
    assert all(obj.shipment is shipment for obj in [parcel, outbox, *lines])
