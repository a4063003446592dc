"""orders_create_batch: the same outcome, row for row, as one order_create per item."""

from __future__ import annotations

import copy
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import IntegrityError, transaction

from core.errors import Conflict, DomainError, ValidationFailed
from inventory.models import Allocation, StockLevel, StockMovement
from logistics.models import DispatchOutbox, Shipment, ShipmentLine
from orders.models import Hold, Order, OrderEvent, OrderLine
from orders.services import batch_intake
from orders.services.batch_intake import orders_create_batch
from orders.services.intake import order_create
from tests.inventory.helpers import channel_with_warehouses, product, stock
from tests.logistics.factories import ServiceLevelFactory
from tests.logistics.helpers import outbox_site

pytestmark = pytest.mark.django_db

BASE = {
    "currency": "EUR",
    "customer": {"email": "ada@example.com", "name": "Ada Lovelace", "phone": ""},
    "shipping_address": {
        "name": "Ada Lovelace",
        "line1": "Kerkstraat 1",
        "city": "Utrecht",
        "postcode": "3511 AA",
        "country": "NL",
    },
    "service_level": "batchlsp:standard",
}


def _item(reference: str, lines: list[tuple[str, int]], **fields) -> dict:
    item = copy.deepcopy(BASE)
    item["external_reference"] = reference
    item["lines"] = [
        {"sku": sku, "quantity": quantity, "unit_price": Decimal("10.00")}
        for sku, quantity in lines
    ]
    item.update(fields)
    return item


@pytest.fixture
def world():
    east, west = outbox_site(code="east"), outbox_site(code="west")
    for sku in ("RED", "BLUE", "GREEN"):
        product(sku)
    retired = product("OLD")
    retired.is_active = False
    retired.save(update_fields=["is_active"])
    stock(product("RED"), east, 5)
    stock(product("RED"), west, 2)
    stock(product("BLUE"), west, 4)
    stock(product("GREEN"), east, 1)
    ServiceLevelFactory(provider__code="batchlsp", code="standard")
    channel = channel_with_warehouses("shop", [east, west], order_value_limit=Decimal("500.00"))
    order_create(channel=channel, actor="test", **_item("EXISTING", [("BLUE", 1)]))
    return channel


def _mixed_items() -> list[dict]:
    gb = {**BASE["shipping_address"], "country": "GB", "city": "London", "postcode": "SW1Y 4JH"}
    return [
        _item("A", [("RED", 2), ("BLUE", 1)]),  # single: west holds both
        _item("B", [("RED", 3)]),  # single: east, the first priority
        _item("C", [("SKU-NONE", 1), ("OLD", 1)]),  # 422: unknown and retired SKU
        _item("A", [("GREEN", 1)]),  # 409: duplicate of item 0
        _item("EXISTING", [("GREEN", 1)]),  # 409: the channel has it
        _item("D", [("RED", 4), ("GREEN", 1)]),  # partial: 2 RED and GREEN at east
        _item("E", [("BLUE", 1)], service_level="nobody:express"),  # 422: unknown level
        _item("F", [("BLUE", 60)]),  # value over the limit: held, nothing reserved
        _item("G", [("BLUE", 2)], shipping_address=gb),  # across a customs border
        _item("H", [("GREEN", 1)], service_level=None),  # nothing left: backordered
    ]


def _codes(outcomes: list[Order | DomainError]) -> list[tuple[int, str]]:
    return [(201, o.status) if isinstance(o, Order) else (o.status, o.code) for o in outcomes]


def _snapshot() -> dict[str, object]:
    """Every row intake writes, keyed by external reference instead of ids and numbers."""
    ref = dict(Order.objects.values_list("number", "external_reference"))
    ref_by_id = dict(Order.objects.values_list("id", "external_reference"))

    def order_ref(reference: str) -> str:
        return ref.get(reference.removeprefix("order:"), reference)

    events = []
    for order_id, type_, params, actor in OrderEvent.objects.order_by("order_id", "id").values_list(
        "order_id", "type", "parameters", "actor"
    ):
        kept = {k: v for k, v in params.items() if k not in {"shipment", "shipment_id"}}
        events.append((ref_by_id[order_id], type_, str(sorted(kept.items())), actor))
    return {
        "orders": sorted(
            Order.objects.values_list(
                "external_reference", "status", "total_amount", "service_level_id", "channel_id"
            )
        ),
        "lines": sorted(
            OrderLine.objects.values_list(
                "order__external_reference", "line_number", "sku", "quantity", "unit_price"
            )
        ),
        "events": sorted(events),
        "allocations": sorted(
            Allocation.objects.values_list(
                "order_line__order__external_reference",
                "order_line__line_number",
                "warehouse__code",
                "quantity",
                "status",
            )
        ),
        "levels": sorted(
            StockLevel.objects.values_list("product__sku", "warehouse__code", "on_hand", "reserved")
        ),
        "ledger": sorted(
            (sku, wh, t, d_on_hand, d_reserved, order_ref(reference))
            for sku, wh, t, d_on_hand, d_reserved, reference in StockMovement.objects.values_list(
                "product__sku",
                "warehouse__code",
                "type",
                "on_hand_delta",
                "reserved_delta",
                "reference",
            )
        ),
        "holds": sorted(Hold.objects.values_list("order__external_reference", "reason")),
        "shipments": sorted(
            ShipmentLine.objects.values_list(
                "shipment__order__external_reference",
                "shipment__warehouse__code",
                "shipment__provider__code",
                "shipment__status",
                "order_line__line_number",
                "quantity",
            )
        ),
        "outbox": sorted(
            DispatchOutbox.objects.values_list("shipment__order__external_reference", flat=True)
        ),
    }


class _Rollback(Exception):
    pass


def _in_rollback(run):
    """Run `run()`, snapshot the rows it left, then undo everything it wrote."""
    result = {}
    try:
        with transaction.atomic():
            result["outcomes"] = run()
            result["rows"] = _snapshot()
            raise _Rollback
    except _Rollback:
        pass
    return result


def _one_by_one(channel, items):
    outcomes = []
    for item in items:
        try:
            with transaction.atomic():
                outcomes.append(order_create(channel=channel, actor="test", **item))
        except DomainError as error:
            outcomes.append(error)
    return outcomes


def test_batch_leaves_the_same_rows_as_one_create_per_item(world):
    items = _mixed_items()
    batch = _in_rollback(lambda: orders_create_batch(channel=world, items=items, actor="test"))
    single = _in_rollback(lambda: _one_by_one(world, items))
    assert _codes(batch["outcomes"]) == _codes(single["outcomes"])
    for table in single["rows"]:
        assert batch["rows"][table] == single["rows"][table], table


def test_mixed_batch_outcomes_in_input_order(world):
    outcomes = orders_create_batch(channel=world, items=_mixed_items(), actor="test")
    assert _codes(outcomes) == [
        (201, "in_fulfilment"),
        (201, "in_fulfilment"),
        (422, "invalid_order"),
        (409, "duplicate_external_reference"),
        (409, "duplicate_external_reference"),
        (201, "backordered"),
        (422, "invalid_order"),
        (201, "on_hold"),
        (201, "in_fulfilment"),
        (201, "backordered"),
    ]
    assert isinstance(outcomes[2], ValidationFailed)
    assert [e["field"] for e in outcomes[2].errors] == ["lines[0].sku", "lines[1].sku"]
    assert isinstance(outcomes[3], Conflict)
    assert outcomes[3].extra["existing_order"] == outcomes[0].number
    existing = Order.objects.get(external_reference="EXISTING").number
    assert outcomes[4].extra["existing_order"] == existing
    assert [e["field"] for e in outcomes[6].errors] == ["service_level"]


def test_refused_items_write_nothing(world):
    before = _snapshot()
    items = [_item("C", [("SKU-NONE", 1)]), _item("EXISTING", [("RED", 1)])]
    outcomes = orders_create_batch(channel=world, items=items, actor="test")
    assert [o.status for o in outcomes] == [422, 409]
    assert _snapshot() == before


def test_stock_reserved_exactly_and_ledger_agrees(world):
    orders_create_batch(channel=world, items=_mixed_items(), actor="test")
    levels = {
        (sku, wh): (on_hand, reserved)
        for sku, wh, on_hand, reserved in StockLevel.objects.values_list(
            "product__sku", "warehouse__code", "on_hand", "reserved"
        )
    }
    # EXISTING took 1 BLUE; A: 2 RED + 1 BLUE west; B: 3 RED east; D: 2 RED and
    # 1 GREEN east; F held; G: 2 BLUE west; H: nothing left.
    assert levels == {
        ("RED", "east"): (5, 5),
        ("RED", "west"): (2, 2),
        ("BLUE", "west"): (4, 4),
        ("GREEN", "east"): (1, 1),
    }
    active = Allocation.objects.filter(status=Allocation.Status.ACTIVE)
    assert sum(active.values_list("quantity", flat=True)) == 12
    call_command("verify_stock_ledger")


def test_a_batch_plans_shipments_and_queues_their_dispatch(
    world, django_capture_on_commit_callbacks, monkeypatch
):
    from logistics.tasks import dispatch_fanout_task, dispatch_shipment_task

    sent, fanned = [], []
    monkeypatch.setattr(dispatch_shipment_task, "delay", lambda **kwargs: sent.append(kwargs))
    # The request publishes ONE message for its shipments; the worker fans it out.
    monkeypatch.setattr(
        dispatch_fanout_task,
        "delay",
        lambda **kwargs: (fanned.append(kwargs), dispatch_fanout_task.run(**kwargs)),
    )
    with django_capture_on_commit_callbacks(execute=True):
        outcomes = orders_create_batch(
            channel=world, items=[_item("A", [("RED", 5), ("BLUE", 1)])], actor="test"
        )
    order = outcomes[0]
    assert isinstance(order, Order)
    shipments = Shipment.objects.filter(order=order)
    assert sorted(shipments.values_list("warehouse__code", flat=True)) == ["east", "west"]
    assert DispatchOutbox.objects.filter(shipment__order=order).count() == 2
    assert sorted(k["shipment_id"] for k in sent) == sorted(shipments.values_list("pk", flat=True))
    assert len(fanned) == 1


def test_an_unforeseen_integrity_error_falls_back_to_one_order_at_a_time(world, monkeypatch):
    def broken(**kwargs):
        raise IntegrityError("simulated")

    monkeypatch.setattr(batch_intake, "_create_set_based", broken)
    items = [_item("A", [("RED", 1)]), _item("C", [("SKU-NONE", 1)]), _item("B", [("RED", 1)])]
    outcomes = orders_create_batch(channel=world, items=items, actor="test")
    assert _codes(outcomes) == [
        (201, "in_fulfilment"),
        (422, "invalid_order"),
        (201, "in_fulfilment"),
    ]
    assert set(Order.objects.values_list("external_reference", flat=True)) == {"EXISTING", "A", "B"}


def test_fallback_refuses_only_the_item_that_breaks_a_constraint(world, monkeypatch):
    def broken(**kwargs):
        raise IntegrityError("simulated")

    real_create = batch_intake.order_create

    def create(**kwargs):
        if kwargs["external_reference"] == "BAD":
            raise IntegrityError("constraint")
        return real_create(**kwargs)

    monkeypatch.setattr(batch_intake, "_create_set_based", broken)
    monkeypatch.setattr(batch_intake, "order_create", create)
    items = [_item("A", [("RED", 1)]), _item("BAD", [("RED", 1)])]
    outcomes = orders_create_batch(channel=world, items=items, actor="test")
    assert _codes(outcomes) == [(201, "in_fulfilment"), (422, "invalid_order")]


def test_more_than_the_limit_is_refused(world):
    with pytest.raises(ValueError, match="500"):
        orders_create_batch(channel=world, items=[_item(f"X{i}", [("RED", 1)]) for i in range(501)])


def test_empty_batch_creates_nothing(world):
    assert orders_create_batch(channel=world, items=[]) == []


# --- The statements batch intake added (STYLE.md rule 18: each against its ORM equivalent)


def test_orders_detail_json_by_ids_is_each_order_s_detail_json(world):
    from orders import sql as orders_sql

    outcomes = orders_create_batch(channel=world, items=_mixed_items(), actor="test")
    created = [o for o in outcomes if isinstance(o, Order)]
    documents = orders_sql.orders_detail_json_by_ids(order_ids=[o.pk for o in created] + [0])
    assert documents == {o.pk: orders_sql.order_detail_json_by_id(order_id=o.pk) for o in created}


def test_orders_status_update_many_sets_what_the_orm_update_sets(world):
    import datetime as dt

    from orders import sql as orders_sql

    a, b = (
        order_create(channel=world, actor="test", **_item(ref, [("GREEN", 5)]))
        for ref in ("U1", "U2")
    )
    when = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    orders_sql.orders_status_update_many(
        rows=[(a.pk, "cancelled", when, when), (b.pk, "on_hold", when, None)]
    )
    assert list(
        Order.objects.filter(pk__in=[a.pk, b.pk])
        .order_by("pk")
        .values_list("status", "updated_at", "cancelled_at")
    ) == [("cancelled", when, when), ("on_hold", when, None)]
    assert Order.objects.get(external_reference="EXISTING").status == "in_fulfilment"


def test_stock_reserve_many_writes_what_stock_reserve_writes_order_by_order(world):
    from inventory.services.stock import (
        OrderReservations,
        Reservation,
        stock_levels_lock,
        stock_reserve,
        stock_reserve_many,
    )

    orders = [
        order_create(channel=world, actor="test", **_item(ref, [("GREEN", 5), ("BLUE", 9)]))
        for ref in ("R1", "R2")
    ]
    keys = {
        (line.product_id, w)
        for o in orders
        for line in o.lines.all()
        for w in world.fulfilment_rules.values_list("warehouse_id", flat=True)
    }
    red = product("RED")
    planned = [
        OrderReservations(
            order_id=o.pk,
            reference=f"order:{o.number}",
            reservations=[
                Reservation(
                    order_line_id=o.lines.get(line_number=1).pk,
                    product_id=red.pk,
                    warehouse_id=w.pk,
                    quantity=q,
                )
                for w, q in ((warehouses_by_code("east"), 2), (warehouses_by_code("west"), 1))
            ],
        )
        for o in orders
    ]
    keys |= {(red.pk, r.warehouse_id) for p in planned for r in p.reservations}

    def rows():
        return (
            sorted(
                StockLevel.objects.values_list("product_id", "warehouse_id", "on_hand", "reserved")
            ),
            sorted(
                StockMovement.objects.filter(type="reservation").values_list(
                    "product_id", "warehouse_id", "reserved_delta", "reference", "order_id"
                )
            ),
            sorted(
                Allocation.objects.values_list(
                    "order_line_id", "warehouse_id", "quantity", "status"
                )
            ),
        )

    many = _in_rollback(
        lambda: stock_reserve_many(orders=planned, locked=stock_levels_lock(keys=keys)) or rows()
    )
    single = _in_rollback(
        lambda: (
            [
                stock_reserve(
                    reservations=p.reservations,
                    locked=stock_levels_lock(keys=keys),
                    order_id=p.order_id,
                    reference=p.reference,
                )
                for p in planned
            ]
            and rows()
        )
    )
    assert many["outcomes"] == single["outcomes"]


def warehouses_by_code(code: str):
    from inventory.models import Warehouse

    return Warehouse.objects.get(code=code)
