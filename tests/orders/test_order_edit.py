"""orders.services.edits.order_edit: each change kind, re-allocation, refusals, races."""

from __future__ import annotations

import threading
import time
from decimal import Decimal

import pytest
from django.db import transaction
from django.db.models import Sum

from backoffice.selectors.timeline_words import EventDescriber
from core.errors import Conflict, ValidationFailed
from inventory.models import Allocation, StockLevel, StockMovement
from logistics.models import DispatchOutbox, PartnerWebhookDelivery, Shipment
from logistics.services import dispatch
from logistics.services.dispatch import Outcome
from orders.models import Hold, Order, OrderEvent
from orders.services.edits import order_edit
from orders.services.holds import order_hold_place
from orders.services.intake import order_create
from tests.inventory.helpers import channel_with_warehouses, product, stock
from tests.logistics.factories import WebhookEndpointFactory
from tests.logistics.helpers import FakeAdapter, in_thread, outbox_site, sandbox_provider

ADDRESS = {
    "name": "Ada Lovelace",
    "line1": "Damrak 1",
    "city": "Amsterdam",
    "postcode": "1012 LG",
    "country": "NL",
}
CUSTOMER = {"email": "ada@example.com", "name": "Ada Lovelace", "phone": "+31 20 555 0100"}


def _world(*, a_stock=None, b_stock=None, **channel_fields):
    """Warehouses A (first choice) and B, products SHIRT, MUG, CAP (and retired OLD)."""
    sandbox_provider()
    wh_a, wh_b = outbox_site(code="wh-a"), outbox_site(code="wh-b")
    channel = channel_with_warehouses("webshop", [wh_a, wh_b], **channel_fields)
    products = {sku: product(sku) for sku in ("SHIRT", "MUG", "CAP", "OLD")}
    products["OLD"].is_active = False
    products["OLD"].save(update_fields=["is_active"])
    for sku, quantity in (a_stock or {"SHIRT": 10, "MUG": 10, "CAP": 10}).items():
        stock(products[sku], wh_a, quantity)
    for sku, quantity in (b_stock or {}).items():
        stock(products[sku], wh_b, quantity)
    return channel, wh_a, wh_b


def _order(channel, lines=(("SHIRT", 2, "19.95"), ("MUG", 1, "8.50")), **fields) -> Order:
    with transaction.atomic():
        return order_create(
            channel=channel,
            external_reference=fields.pop("external_reference", "SHOP-1"),
            currency="EUR",
            customer=CUSTOMER,
            shipping_address=ADDRESS,
            lines=[
                {"sku": sku, "quantity": quantity, "unit_price": Decimal(price)}
                for sku, quantity, price in lines
            ],
            actor="test",
        )


def _edit(order, **changes):
    with transaction.atomic():
        return order_edit(order=order, changes=changes, actor="api:test")


def _lines(order) -> list[tuple[str, int, int]]:
    return [
        (line.sku, line.quantity, line.quantity_cancelled)
        for line in order.lines.order_by("line_number")
    ]


def _active(order) -> list[tuple[str, str, int]]:
    return sorted(
        Allocation.objects.filter(order_line__order=order, status=Allocation.Status.ACTIVE)
        .values_list("order_line__sku", "warehouse__code", "quantity")
        .order_by()
    )


def _open_shipments(order) -> list[list[tuple[str, int]]]:
    return [
        sorted((line.order_line.sku, line.quantity) for line in shipment.lines.all())
        for shipment in Shipment.objects.filter(order=order)
        .exclude(status=Shipment.Status.CANCELLED)
        .order_by("pk")
    ]


def _reserved(sku: str, code: str) -> int:
    return StockLevel.objects.get(product__sku=sku, warehouse__code=code).reserved


def _ledger_matches_levels():
    for level in StockLevel.objects.all():
        sums = StockMovement.objects.filter(
            product_id=level.product_id, warehouse_id=level.warehouse_id
        ).aggregate(on_hand=Sum("on_hand_delta"), reserved=Sum("reserved_delta"))
        assert (sums["on_hand"] or 0, sums["reserved"] or 0) == (level.on_hand, level.reserved)


def _snapshot(order):
    order.refresh_from_db()
    return (
        order.status,
        order.total_amount,
        order.updated_at,
        _lines(order),
        _active(order),
        _open_shipments(order),
        order.events.count(),
        list(StockLevel.objects.order_by("pk").values_list("on_hand", "reserved")),
    )


# --- each change kind -----------------------------------------------------------------


@pytest.mark.django_db
def test_change_quantity_reallocates_and_replans():
    channel, *_ = _world()
    order = _order(channel)
    (old_shipment,) = Shipment.objects.filter(order=order)
    edit = _edit(order, lines=[{"sku": "SHIRT", "quantity": 3}, {"sku": "MUG", "quantity": 1}])
    order.refresh_from_db()
    assert order.status == Order.Status.IN_FULFILMENT
    assert _lines(order) == [("SHIRT", 3, 0), ("MUG", 1, 0)]
    assert order.total_amount == Decimal("68.35")
    assert _active(order) == [("MUG", "wh-a", 1), ("SHIRT", "wh-a", 3)]
    assert _reserved("SHIRT", "wh-a") == 3
    old_shipment.refresh_from_db()
    assert old_shipment.status == Shipment.Status.CANCELLED
    assert not DispatchOutbox.objects.filter(shipment=old_shipment).exists()
    assert _open_shipments(order) == [[("MUG", 1), ("SHIRT", 3)]]
    assert edit.changes["lines"] == [
        {"line_number": 1, "sku": "SHIRT", "old_quantity": 2, "new_quantity": 3}
    ]
    assert edit.changes["total_amount"] == {"old": "48.4000", "new": "68.3500"}
    event = order.events.get(type=OrderEvent.Type.EDITED)
    assert event.parameters["changes"] == edit.changes
    assert event.actor == "api:test"
    _ledger_matches_levels()


@pytest.mark.django_db
def test_add_a_line_with_its_price():
    channel, *_ = _world()
    order = _order(channel)
    edit = _edit(
        order,
        lines=[
            {"sku": "SHIRT", "quantity": 2},
            {"sku": "MUG", "quantity": 1},
            {"sku": "CAP", "quantity": 2, "unit_price": Decimal("12.00")},
        ],
    )
    order.refresh_from_db()
    assert _lines(order) == [("SHIRT", 2, 0), ("MUG", 1, 0), ("CAP", 2, 0)]
    assert order.lines.get(sku="CAP").line_number == 3
    assert order.total_amount == Decimal("72.40")
    assert ("CAP", "wh-a", 2) in _active(order)
    assert _open_shipments(order) == [[("CAP", 2), ("MUG", 1), ("SHIRT", 2)]]
    assert edit.changes["lines"] == [
        {
            "line_number": 3,
            "sku": "CAP",
            "old_quantity": 0,
            "new_quantity": 2,
            "old_unit_price": None,
            "new_unit_price": "12.0000",
        }
    ]


@pytest.mark.django_db
def test_remove_a_line_releases_its_stock_and_keeps_it_cancelled():
    channel, *_ = _world()
    order = _order(channel)
    edit = _edit(order, lines=[{"sku": "SHIRT", "quantity": 2}])
    order.refresh_from_db()
    assert _lines(order) == [("SHIRT", 2, 0), ("MUG", 1, 1)]
    assert order.total_amount == Decimal("39.90")
    assert _active(order) == [("SHIRT", "wh-a", 2)]
    assert _reserved("MUG", "wh-a") == 0
    assert _open_shipments(order) == [[("SHIRT", 2)]]
    assert edit.changes["lines"][0] == {
        "line_number": 2,
        "sku": "MUG",
        "old_quantity": 1,
        "new_quantity": 0,
    }
    # Listed again, the removed line comes back (same line number).
    _edit(order, lines=[{"sku": "SHIRT", "quantity": 2}, {"sku": "MUG", "quantity": 4}])
    assert _lines(order) == [("SHIRT", 2, 0), ("MUG", 4, 0)]
    assert _active(order) == [("MUG", "wh-a", 4), ("SHIRT", "wh-a", 2)]
    _ledger_matches_levels()


@pytest.mark.django_db
def test_changed_price_of_a_kept_line_recomputes_the_total():
    channel, *_ = _world()
    order = _order(channel)
    edit = _edit(
        order,
        lines=[
            {"sku": "SHIRT", "quantity": 2, "unit_price": Decimal("10.00")},
            {"sku": "MUG", "quantity": 1},
        ],
    )
    order.refresh_from_db()
    assert order.total_amount == Decimal("28.50")
    assert edit.changes["lines"][0]["new_unit_price"] == "10.0000"


@pytest.mark.django_db
def test_reallocation_moves_to_the_warehouse_that_ships_complete():
    channel, *_ = _world(a_stock={"SHIRT": 2, "MUG": 5}, b_stock={"SHIRT": 10, "MUG": 5})
    order = _order(channel)
    assert _active(order) == [("MUG", "wh-a", 1), ("SHIRT", "wh-a", 2)]
    _edit(order, lines=[{"sku": "SHIRT", "quantity": 5}, {"sku": "MUG", "quantity": 1}])
    # A cannot ship 5 shirts; B ships the whole order from one place.
    assert _active(order) == [("MUG", "wh-b", 1), ("SHIRT", "wh-b", 5)]
    assert _reserved("SHIRT", "wh-a") == 0
    assert _reserved("MUG", "wh-a") == 0
    assert _reserved("SHIRT", "wh-b") == 5
    (shipment,) = Shipment.objects.filter(order=order).exclude(status=Shipment.Status.CANCELLED)
    assert shipment.warehouse.code == "wh-b"
    _ledger_matches_levels()


@pytest.mark.django_db
def test_stock_is_restored_exactly_with_ledger_rows():
    channel, *_ = _world()
    order = _order(channel)
    before = StockMovement.objects.count()
    _edit(order, lines=[{"sku": "MUG", "quantity": 1}])
    released = StockMovement.objects.filter(order=order, type=StockMovement.Type.RELEASE)
    assert sorted((m.product.sku, m.reserved_delta) for m in released) == [
        ("MUG", -1),
        ("SHIRT", -2),
    ]
    assert StockMovement.objects.count() > before
    assert _reserved("SHIRT", "wh-a") == 0
    assert _reserved("MUG", "wh-a") == 1
    assert StockLevel.objects.get(product__sku="SHIRT", warehouse__code="wh-a").on_hand == 10
    _ledger_matches_levels()


@pytest.mark.django_db
def test_shortage_after_the_edit_backorders_like_intake():
    channel, *_ = _world()
    order = _order(channel)
    _edit(order, lines=[{"sku": "SHIRT", "quantity": 12}, {"sku": "MUG", "quantity": 1}])
    order.refresh_from_db()
    assert order.status == Order.Status.BACKORDERED
    # What exists is reserved; nothing ships until the order is complete.
    assert _active(order) == [("MUG", "wh-a", 1), ("SHIRT", "wh-a", 10)]
    assert _open_shipments(order) == []
    backordered = order.events.filter(type=OrderEvent.Type.BACKORDERED).latest("pk")
    assert backordered.parameters["lines"][0]["backordered"] == 2
    _ledger_matches_levels()


@pytest.mark.django_db
def test_address_change_replans_for_the_new_address():
    channel, *_ = _world()
    order = _order(channel)
    (old,) = Shipment.objects.filter(order=order)
    new_address = {**ADDRESS, "line1": "Prinsengracht 263", "postcode": "1016 GV"}
    edit = _edit(order, shipping_address=new_address)
    order.refresh_from_db()
    assert order.shipping_line1 == "Prinsengracht 263"
    assert order.shipping_postcode_key == "1016GV"
    old.refresh_from_db()
    assert old.status == Shipment.Status.CANCELLED
    assert _open_shipments(order) == [[("MUG", 1), ("SHIRT", 2)]]
    assert edit.changes["shipping_address"]["new"]["line1"] == "Prinsengracht 263"
    assert edit.changes["shipping_address"]["old"]["line1"] == "Damrak 1"
    assert "lines" not in edit.changes


@pytest.mark.django_db
def test_contact_change_keeps_the_plan():
    channel, *_ = _world()
    order = _order(channel)
    (shipment,) = Shipment.objects.filter(order=order)
    edit = _edit(order, customer={**CUSTOMER, "phone": "+31 6 1111 2222"})
    order.refresh_from_db()
    assert order.customer_phone == "+31 6 1111 2222"
    assert order.customer_phone_key == "22221111613"
    shipment.refresh_from_db()
    assert shipment.status == Shipment.Status.PENDING  # the dispatch reads the new phone
    assert edit.changes == {
        "customer": {"phone": {"old": "+31 20 555 0100", "new": "+31 6 1111 2222"}}
    }
    assert not order.events.filter(type=OrderEvent.Type.DEALLOCATED).exists()


@pytest.mark.django_db
def test_nothing_changed_writes_nothing():
    channel, *_ = _world()
    order = _order(channel)
    before = _snapshot(order)
    edit = _edit(
        order,
        customer=CUSTOMER,
        shipping_address=ADDRESS,
        lines=[
            {"sku": "MUG", "quantity": 1, "unit_price": Decimal("8.5")},
            {"sku": "SHIRT", "quantity": 2},
        ],
    )
    assert edit.changes == {}
    assert _snapshot(order) == before
    assert not order.events.filter(type=OrderEvent.Type.EDITED).exists()


@pytest.mark.django_db
def test_edit_publishes_order_updated_with_the_order_and_changes():
    channel, *_ = _world()
    WebhookEndpointFactory(channel=channel, topics=["order.updated"])
    order = _order(channel)
    _edit(order, lines=[{"sku": "SHIRT", "quantity": 1}, {"sku": "MUG", "quantity": 1}])
    delivery = PartnerWebhookDelivery.objects.get(order=order, event="order.updated")
    data = delivery.payload["data"]
    assert delivery.payload["type"] == "order.updated"
    assert data["number"] == order.number
    assert data["status"] == "in_fulfilment"
    assert [(line["sku"], line["quantity"]) for line in data["lines"]] == [
        ("SHIRT", 1),
        ("MUG", 1),
    ]
    assert data["changes"]["lines"][0]["new_quantity"] == 1
    assert len(data["shipments"]) == 2  # the voided one and the new one


@pytest.mark.django_db
def test_desk_timeline_says_what_changed_in_words():
    channel, *_ = _world()
    order = _order(channel)
    _edit(
        order,
        lines=[
            {"sku": "SHIRT", "quantity": 3},
            {"sku": "CAP", "quantity": 1, "unit_price": Decimal("12")},
        ],
        shipping_address={**ADDRESS, "city": "Haarlem", "postcode": "2011 AB"},
    )
    event = order.events.get(type=OrderEvent.Type.EDITED)
    title, detail, kind = EventDescriber(order=order, shipments=[]).describe(event)
    assert title == "Order edited"
    assert kind == "status"
    assert "SHIRT 2 → 3" in detail
    assert "1 × MUG removed" in detail
    assert "1 × CAP added" in detail
    assert "2011 AB Haarlem" in detail
    assert "total 48.4000 → 71.8500 EUR" in detail


# --- holds ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_held_order_stays_held(agent):
    channel, *_ = _world()
    order = _order(channel)
    order_hold_place(order=order, reason="customer_request", user=agent)
    _edit(order, lines=[{"sku": "SHIRT", "quantity": 4}])
    order.refresh_from_db()
    assert order.status == Order.Status.ON_HOLD
    assert Hold.objects.filter(order=order, released_at__isnull=True).count() == 1
    assert _lines(order) == [("SHIRT", 4, 0), ("MUG", 1, 1)]
    # Its parked shipment is voided; stock is allocated again when the hold is released.
    assert _open_shipments(order) == []
    assert _active(order) == []


@pytest.mark.django_db
def test_total_over_the_channel_limit_gets_the_automatic_hold():
    channel, *_ = _world(order_value_limit=Decimal("100"))
    order = _order(channel)
    _edit(order, lines=[{"sku": "SHIRT", "quantity": 6}])
    order.refresh_from_db()
    assert order.status == Order.Status.ON_HOLD
    hold = Hold.objects.get(order=order, released_at__isnull=True)
    assert hold.reason == Hold.Reason.VALUE_OVER_LIMIT
    assert _active(order) == []
    assert _open_shipments(order) == []


# --- refusals ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_refused_once_a_shipment_is_with_the_lsp():
    channel, *_ = _world()
    order = _order(channel)
    (shipment,) = Shipment.objects.filter(order=order)
    assert dispatch.shipment_dispatch(shipment_id=shipment.pk, adapter=FakeAdapter(["ok"])).outcome
    before = _snapshot(order)
    with pytest.raises(Conflict) as caught:
        _edit(order, lines=[{"sku": "SHIRT", "quantity": 1}])
    assert caught.value.code == "order_not_editable"
    assert caught.value.detail == (
        f"Order {order.number} can no longer be edited: shipment {shipment.pk} is with the "
        "LSP (dispatched)."
    )
    assert caught.value.extra["shipment_ids"] == [shipment.pk]
    assert _snapshot(order) == before


@pytest.mark.django_db
def test_refused_while_a_worker_is_handing_the_shipment_over():
    channel, *_ = _world()
    order = _order(channel)
    (shipment,) = Shipment.objects.filter(order=order)
    assert dispatch._claim(shipment.pk) is not None  # leased, provider call under way
    before = _snapshot(order)
    with pytest.raises(Conflict, match=f"shipment {shipment.pk} is being handed to the LSP"):
        _edit(order, lines=[{"sku": "SHIRT", "quantity": 1}])
    assert _snapshot(order) == before


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("status", "words"),
    [
        (Order.Status.CANCELLED, "order is cancelled"),
        (Order.Status.SHIPPED, "order is shipped"),
        (Order.Status.PARTIALLY_SHIPPED, "order is partially shipped"),
    ],
)
def test_refused_for_an_order_past_fulfilment(status, words):
    channel, *_ = _world()
    order = _order(channel)
    Order.objects.filter(pk=order.pk).update(status=status)
    with pytest.raises(Conflict, match=words) as caught:
        _edit(order, customer={**CUSTOMER, "name": "Someone Else"})
    assert caught.value.extra["order_status"] == status
    order.refresh_from_db()
    assert order.customer_name == "Ada Lovelace"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("lines", "field", "message"),
    [
        ([{"sku": "NOPE", "quantity": 1, "unit_price": Decimal("1")}], "lines[0].sku", "Unknown"),
        ([{"sku": "OLD", "quantity": 1, "unit_price": Decimal("1")}], "lines[0].sku", "not sold"),
        ([{"sku": "CAP", "quantity": 1}], "lines[0].unit_price", "Required"),
        (
            [{"sku": "SHIRT", "quantity": 1}, {"sku": "SHIRT", "quantity": 2}],
            "lines[1].sku",
            "twice",
        ),
        (
            [{"sku": "SHIRT", "quantity": 1, "unit_price": Decimal("1.005")}],
            "lines[0].unit_price",
            "2 decimal places",
        ),
        ([], "lines", "At least one line"),
        (
            [{"sku": "SHIRT", "quantity": 1, "unit_price": Decimal("9999999999")}] * 1
            + [{"sku": "MUG", "quantity": 2, "unit_price": Decimal("9999999999")}],
            "lines",
            "too large",
        ),
    ],
)
def test_bad_lines_are_refused_with_nothing_written(lines, field, message):
    channel, *_ = _world()
    order = _order(channel)
    before = _snapshot(order)
    with pytest.raises(ValidationFailed) as caught:
        _edit(order, customer={**CUSTOMER, "name": "Changed"}, lines=lines)
    assert [e["field"] for e in caught.value.errors] == [field]
    assert message in caught.value.errors[0]["message"]
    assert _snapshot(order) == before
    assert order.customer_name == "Ada Lovelace"


# --- races with the dispatch task (real threads and connections) ------------------------


class RecordingAdapter(FakeAdapter):
    """Records what the provider was sent (shipment id and lines); can block inside the call."""

    def __init__(self, *, block: bool = False):
        super().__init__([])
        self.sent: list[tuple[int, list[tuple[str, int]]]] = []
        self.entered = threading.Event()
        self.proceed = threading.Event()
        if not block:
            self.proceed.set()

    def create_shipment(self, shipment):
        lines = sorted((line.order_line.sku, line.quantity) for line in shipment.lines.all())
        self.sent.append((shipment.pk, lines))
        self.entered.set()
        assert self.proceed.wait(10)
        return super().create_shipment(shipment)


@pytest.mark.django_db(transaction=True)
def test_edit_during_an_inflight_dispatch_waits_and_is_refused():
    channel, *_ = _world()
    order = _order(channel)
    (shipment,) = Shipment.objects.filter(order=order)
    adapter = RecordingAdapter(block=True)
    dispatcher, dispatched = in_thread(
        lambda: dispatch.shipment_dispatch(shipment_id=shipment.pk, adapter=adapter)
    )
    assert adapter.entered.wait(10)
    editor, edited = in_thread(lambda: _edit(order, lines=[{"sku": "SHIRT", "quantity": 1}]))
    time.sleep(0.5)
    assert editor.is_alive()  # the dispatch gate's order lock makes the edit wait
    adapter.proceed.set()
    dispatcher.join(10)
    editor.join(10)
    assert dispatched["result"].outcome == Outcome.SENT
    assert isinstance(edited.get("error"), Conflict)
    assert "is with the LSP (dispatched)" in edited["error"].detail
    # The LSP has the order's lines as they still are.
    assert adapter.sent == [(shipment.pk, [("MUG", 1), ("SHIRT", 2)])]
    assert _lines(order) == [("SHIRT", 2, 0), ("MUG", 1, 0)]


@pytest.mark.django_db(transaction=True)
def test_dispatch_during_an_edit_sends_only_the_new_plan(monkeypatch):
    channel, *_ = _world()
    order = _order(channel)
    (old,) = Shipment.objects.filter(order=order)
    inside, release = threading.Event(), threading.Event()
    from orders.services import edits

    real_replan = edits._replan

    def slow_replan(**kwargs):
        inside.set()
        assert release.wait(10)
        return real_replan(**kwargs)

    monkeypatch.setattr(edits, "_replan", slow_replan)
    editor, edited = in_thread(lambda: _edit(order, lines=[{"sku": "SHIRT", "quantity": 5}]))
    assert inside.wait(10)
    adapter = RecordingAdapter()
    # The edit holds the order and the outbox rows: the old shipment cannot be claimed.
    assert dispatch.shipment_dispatch(shipment_id=old.pk, adapter=adapter).outcome == "noop"
    release.set()
    editor.join(10)
    assert "error" not in edited
    (new,) = Shipment.objects.filter(order=order).exclude(status=Shipment.Status.CANCELLED)
    for shipment_id in (old.pk, new.pk):
        dispatch.shipment_dispatch(shipment_id=shipment_id, adapter=adapter)
    assert adapter.sent == [(new.pk, [("SHIRT", 5)])]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("round_", range(4))
def test_edit_racing_a_dispatch_never_leaves_the_lsp_with_old_lines(round_):
    """Started together: either the dispatch wins (the edit is refused, the order keeps the
    lines the LSP has) or the edit wins (the old plan is never sent, the new one is)."""
    channel, *_ = _world()
    order = _order(channel, external_reference=f"SHOP-{round_}")
    (old,) = Shipment.objects.filter(order=order)
    adapter = RecordingAdapter()
    start = threading.Barrier(2)
    dispatcher, dispatched = in_thread(
        lambda: dispatch.shipment_dispatch(shipment_id=old.pk, adapter=adapter), start=start
    )
    editor, edited = in_thread(
        lambda: _edit(order, lines=[{"sku": "SHIRT", "quantity": 3}]), start=start
    )
    dispatcher.join(15)
    editor.join(15)
    assert "error" not in dispatched
    if "error" in edited:
        assert isinstance(edited["error"], Conflict)
        assert _lines(order) == [("SHIRT", 2, 0), ("MUG", 1, 0)]
        assert adapter.sent == [(old.pk, [("MUG", 1), ("SHIRT", 2)])]
        return
    # The edit won: whatever is sent now is the new plan only.
    for shipment in Shipment.objects.filter(order=order).order_by("pk"):
        dispatch.shipment_dispatch(shipment_id=shipment.pk, adapter=adapter)
    assert _lines(order) == [("SHIRT", 3, 0), ("MUG", 1, 1)]
    assert [lines for _, lines in adapter.sent] == [[("SHIRT", 3)]]
    old.refresh_from_db()
    assert old.status == Shipment.Status.CANCELLED
