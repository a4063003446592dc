"""economics/sql.py against its ORM equivalents (STYLE.md rule 18)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from economics import sql
from economics.models import ShipmentCharge, ShipmentCost
from logistics.models import Shipment
from tests.economics.test_expected_cost import active_card, planned_shipment

pytestmark = pytest.mark.django_db

COST_FIELDS = ("shipment_id", "stage", "card_id", "currency", "total", "problems", "priced_at")
CHARGE_FIELDS = (
    "shipment_id", "rule_id", "charge_type", "description", "quantity", "unit_amount", "amount",
)  # fmt: skip


def _costs(ids):
    return list(
        ShipmentCost.objects.filter(shipment_id__in=ids)
        .order_by("shipment_id")
        .values_list(*COST_FIELDS)
    )


def _charges(ids):
    return list(
        ShipmentCharge.objects.filter(shipment_id__in=ids)
        .order_by("id")
        .values_list(*CHARGE_FIELDS)
    )


def _write_orm(costs, charges, ids, at):
    """What shipments_price wrote before the upsert and COPY: bulk_create with update_conflicts."""
    ShipmentCharge.objects.filter(shipment_id__in=ids).delete()
    ShipmentCost.objects.bulk_create(
        [ShipmentCost(**row._asdict(), priced_at=at) for row in costs],
        update_conflicts=True,
        unique_fields=["shipment"],
        update_fields=["stage", "card", "currency", "total", "problems", "priced_at"],
    )
    ShipmentCharge.objects.bulk_create([ShipmentCharge(**row._asdict()) for row in charges])


def _write_sql(costs, charges, ids, at):
    sql.shipment_costs_upsert(costs, priced_at=at)
    sql.shipment_charges_replace(ids, charges)


def _rows(first, second, card, rules):
    costs = [
        sql.ShipmentCostRow(first.pk, "dispatched", card.pk, "EUR", Decimal("7.60"), []),
        sql.ShipmentCostRow(second.pk, "planned", None, "", None, ["no card on 2020-01-01", "x,y"]),
    ]
    charges = [
        sql.ShipmentChargeRow(first.pk, rules[0].pk, "fulfilment", "Fulfilment", 1, Decimal("2.00"), Decimal("2.00")),
        sql.ShipmentChargeRow(first.pk, rules[1].pk, "parcel", 'Parcel "0-10" kg', 2, Decimal("2.80"), Decimal("5.60")),
    ]  # fmt: skip
    return costs, charges


@pytest.mark.parametrize("write", [_write_orm, _write_sql])
def test_cost_upsert_and_charge_copy_write_what_the_orm_writes(write):
    first, second = planned_shipment(), planned_shipment()
    card = active_card(first.provider)
    rules = list(card.rules.order_by("id"))
    ids = [first.pk, second.pk]
    at = timezone.now()
    # A row to be replaced (the upsert's conflict branch) and one to be inserted.
    ShipmentCost.objects.create(shipment=first, stage="planned", problems=["old"], priced_at=at)
    ShipmentCharge.objects.create(
        shipment=first, rule=rules[0], charge_type="fulfilment", description="old", quantity=9,
        unit_amount=1, amount=9,
    )  # fmt: skip
    costs, charges = _rows(first, second, card, rules)

    write(costs, charges, ids, at + dt.timedelta(seconds=5))

    assert _costs(ids) == [
        (first.pk, "dispatched", card.pk, "EUR", Decimal("7.6000"), [], at + dt.timedelta(seconds=5)),
        (second.pk, "planned", None, "", None, ["no card on 2020-01-01", "x,y"], at + dt.timedelta(seconds=5)),
    ]  # fmt: skip
    assert [row[3] for row in _charges(ids)] == ["Fulfilment", 'Parcel "0-10" kg']
    assert _charges(ids) == [
        (first.pk, rules[0].pk, "fulfilment", "Fulfilment", 1, Decimal("2.0000"), Decimal("2.0000")),
        (first.pk, rules[1].pk, "parcel", 'Parcel "0-10" kg', 2, Decimal("2.8000"), Decimal("5.6000")),
    ]  # fmt: skip


def test_any_of_selects_what_in_selects():
    shipments = [planned_shipment() for _ in range(3)]
    Shipment.objects.filter(pk=shipments[0].pk).update(tracking_number="TRK-1")
    Shipment.objects.filter(pk=shipments[1].pk).update(tracking_number="trk-2")
    ids = [shipments[0].pk, shipments[2].pk, 10**12]

    def pks(queryset):
        return sorted(queryset.values_list("pk", flat=True))

    assert pks(Shipment.objects.filter(sql.AnyOf("pk", ids))) == pks(
        Shipment.objects.filter(pk__in=ids)
    )
    numbers = ["TRK-1", "TRK-2", "nothing"]
    assert pks(Shipment.objects.filter(sql.AnyOf("tracking_number", numbers, array_type="text"))) == pks(
        Shipment.objects.filter(tracking_number__in=numbers)
    ) == [shipments[0].pk]  # fmt: skip
    assert list(Shipment.objects.filter(sql.AnyOf("pk", []))) == []
