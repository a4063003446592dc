"""Expected cost of shipments: priced by the sweep under the card in force when planned,
again when dispatched, zeroed when cancelled before dispatch; never doubled."""

from __future__ import annotations

import datetime as dt
import threading
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.utils import timezone

from economics.models import ChargeRule, RateCard, ShipmentCharge, ShipmentCost, SweepCursor
from economics.services import expected_cost
from economics.services.rate_card_csv import rate_card_import
from economics.services.rate_cards import rate_card_activate
from logistics.models import Parcel, Provider, Shipment
from orders.services.shipment_planning import shipments_plan_for_order
from returns.services import return_receive
from tests.logistics.helpers import allocated_order, sandbox_provider
from tests.returns.helpers import delivered_order
from tests.returns.test_services import _issued, _receipt

CARD = (
    "record,code,name,currency,valid_from,valid_to,monthly_minimum,countries,charge_type,zone,"
    "weight_from_grams,weight_to_grams,amount,percent,applies_to,included_units,"
    "postcode_prefixes,storage_basis\n"
    "card,,{name},EUR,{start},{end},,,,,,,,,,,,\n"
    "zone,benelux,,,,,,NL BE LU,,,,,,,,,,\n"
    "rule,,Fulfilment,,,,,,fulfilment,,,,{fee},,,,,\n"
    "rule,,Pick,,,,,,additional_unit,,,,0.30,,,1,,\n"
    "rule,,Parcel 0-10 kg,,,,,,parcel,benelux,0,10000,5.00,,,,,\n"
    "rule,,Parcel 10 kg+,,,,,,parcel,benelux,10000,,9.00,,,,,\n"
)


def active_card(provider, *, fee="2.00", start="2020-01-01", end="", name="card"):
    card = rate_card_import(
        provider_id=provider.pk, text=CARD.format(fee=fee, start=start, end=end, name=name)
    )
    return rate_card_activate(card_id=card.pk, actor="test")


def planned_shipment(quantities=(3,)) -> Shipment:
    if not Provider.objects.filter(code="sandbox").exists():
        sandbox_provider()
    order = allocated_order(quantities=quantities)
    with transaction.atomic():
        shipments_plan_for_order(order=order, actor="test")
    return Shipment.objects.get(order=order)


def lines_of(shipment):
    return list(
        ShipmentCharge.objects.filter(shipment=shipment)
        .order_by("id")
        .values_list("description", "quantity", "amount")
    )


@pytest.mark.django_db
def test_a_planned_shipment_is_priced_with_lines_naming_their_rules():
    shipment = planned_shipment(quantities=(3,))
    card = active_card(shipment.provider)
    Parcel.objects.filter(shipment=shipment).update(weight_grams=1200)

    assert expected_cost.expected_costs_sweep() == 1

    cost = ShipmentCost.objects.get(shipment=shipment)
    assert (cost.stage, cost.card_id, cost.currency, cost.problems) == (
        "planned",
        card.pk,
        "EUR",
        [],
    )
    assert lines_of(shipment) == [
        ("Fulfilment", 1, Decimal("2.00")),
        ("Pick", 2, Decimal("0.60")),
        ("Parcel 0-10 kg", 1, Decimal("5.00")),
    ]
    assert cost.total == Decimal("7.60")
    rules = set(
        ShipmentCharge.objects.filter(shipment=shipment).values_list("rule__card", flat=True)
    )
    assert rules == {card.pk}


@pytest.mark.django_db
def test_it_is_priced_again_under_the_card_of_its_dispatch_day():
    shipment = planned_shipment()
    today = timezone.now().date()
    old = active_card(shipment.provider, fee="2.00", end=today.isoformat(), name="old")
    new = active_card(shipment.provider, fee="2.50", start=today.isoformat(), name="new")
    Shipment.objects.filter(pk=shipment.pk).update(created_at=timezone.now() - dt.timedelta(days=2))
    expected_cost.expected_costs_sweep()
    assert ShipmentCost.objects.get(shipment=shipment).card_id == old.pk

    Shipment.objects.filter(pk=shipment.pk).update(
        status=Shipment.Status.DISPATCHED, dispatched_at=timezone.now()
    )
    assert expected_cost.expected_costs_sweep() == 1

    cost = ShipmentCost.objects.get(shipment=shipment)
    assert (cost.stage, cost.card_id) == ("dispatched", new.pk)
    assert lines_of(shipment)[0] == ("Fulfilment", 1, Decimal("2.50"))
    assert ShipmentCharge.objects.filter(shipment=shipment, rule__card=old).count() == 0
    assert expected_cost.expected_costs_sweep() == 0


@pytest.mark.django_db
def test_without_a_card_the_cost_row_says_why_and_a_cancelled_shipment_costs_nothing():
    shipment = planned_shipment()
    expected_cost.expected_costs_sweep()
    cost = ShipmentCost.objects.get(shipment=shipment)
    assert cost.total is None
    assert cost.problems == [
        f"no active rate card of the provider on {timezone.now().date().isoformat()}"
    ]

    active_card(shipment.provider)
    Shipment.objects.filter(pk=shipment.pk).update(status=Shipment.Status.CANCELLED)
    ShipmentCost.objects.filter(shipment=shipment).update(stage="planned")
    expected_cost.expected_costs_sweep()

    cost.refresh_from_db()
    assert (cost.stage, cost.total) == ("cancelled", Decimal("0.0000"))
    assert lines_of(shipment) == []


@pytest.mark.django_db
def test_a_shipment_committed_after_later_ones_were_priced_is_still_found():
    late = planned_shipment()
    active_card(late.provider)
    SweepCursor.objects.create(name=expected_cost.NEW_SHIPMENTS, position=late.pk + 100)

    assert expected_cost.expected_costs_sweep() == 1
    assert ShipmentCost.objects.filter(shipment=late).exists()


@pytest.mark.django_db(transaction=True)
def test_sweeps_running_at_once_price_each_shipment_once():
    shipments = [planned_shipment() for _ in range(6)]
    for provider in {shipment.provider for shipment in shipments}:
        active_card(provider)
    barrier = threading.Barrier(3)
    counts = []

    def sweep():
        try:
            barrier.wait()
            counts.append(expected_cost.expected_costs_sweep())
        finally:
            connection.close()

    threads = [threading.Thread(target=sweep) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sum(counts) == 6
    assert ShipmentCost.objects.count() == 6
    for shipment in shipments:
        assert [line[0] for line in lines_of(shipment)] == ["Fulfilment", "Pick", "Parcel 0-10 kg"]
    assert RateCard.objects.filter(status="active").count() == len(
        {shipment.provider_id for shipment in shipments}
    )


@pytest.mark.django_db
@pytest.mark.usefixtures("fast_password_hashing")
def test_the_desk_shows_a_manager_the_expected_cost_and_an_agent_nothing(client, manager, agent):
    shipment = planned_shipment(quantities=(3,))
    active_card(shipment.provider)
    expected_cost.expected_costs_sweep()
    url = f"/desk/orders/{shipment.order.number}/"

    client.force_login(manager)
    page = client.get(url).content.decode()
    client.force_login(agent)
    hidden = client.get(url).content.decode()

    assert "Expected cost <strong>EUR 7.60</strong>" in page
    assert '<td>Pick</td><td class="num">2</td><td class="num">0.30</td>' in page
    assert "Expected cost" not in hidden


@pytest.mark.django_db
def test_a_received_return_is_priced_once_with_the_card_s_return_rule():

    order = delivered_order()
    return_request = _issued(order, 1)
    shipment = return_request.return_shipment
    card = active_card(shipment.provider)
    ChargeRule.objects.create(
        card=card, charge_type="return", name="Return handling", amount="3.10"
    )
    expected_cost.expected_costs_sweep()
    assert not ShipmentCost.objects.filter(shipment=shipment).exists()  # not received yet

    return_receive(
        return_request=return_request, lines=_receipt(return_request, (1, "as_new", "restock"))
    )
    expected_cost.expected_costs_sweep()
    expected_cost.expected_costs_sweep()

    cost = ShipmentCost.objects.get(shipment=shipment)
    assert (cost.stage, cost.total, cost.problems) == ("received", Decimal("3.10"), [])
    assert lines_of(shipment) == [("Return handling", 1, Decimal("3.10"))]


@pytest.mark.django_db
def test_the_cursor_catches_up_with_shipments_priced_in_bulk_and_never_moves_back():
    shipments = [planned_shipment() for _ in range(3)]
    active_card(shipments[0].provider)
    with transaction.atomic():
        expected_cost.shipments_price(shipment_ids=[s.pk for s in shipments[:2]])

    assert expected_cost.new_shipments_cursor_catch_up() == shipments[1].pk
    assert SweepCursor.objects.get(name=expected_cost.NEW_SHIPMENTS).position == shipments[1].pk
    # The one left is still found by the sweep (it looks back from the cursor).
    assert expected_cost.expected_costs_sweep() == 1
    SweepCursor.objects.filter(name=expected_cost.NEW_SHIPMENTS).update(position=10**12)
    assert expected_cost.new_shipments_cursor_catch_up() == 10**12
