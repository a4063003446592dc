"""orders.services.reroute.order_reroute: allowed states, refusals, exclusions, atomicity,
and races with the dispatch task over real connections."""

from __future__ import annotations

import threading
import time
from decimal import Decimal

import pytest
from django.db import transaction

from backoffice.selectors.timeline_words import EventDescriber
from core.errors import Conflict, ValidationFailed
from inventory.models import Allocation, StockLevel
from logistics.models import DispatchOutbox, Shipment
from logistics.services import dispatch
from logistics.services.dispatch import Outcome
from orders.models import Hold, Order, OrderEvent
from orders.services import reroute as reroute_module
from orders.services.holds import order_hold_place, order_hold_release
from orders.services.intake import order_create
from orders.services.reroute import order_reroute
from tests.inventory.helpers import channel_with_warehouses, product, stock
from tests.logistics.helpers import FakeAdapter, in_thread, outbox_site, sandbox_provider

ADDRESS = {
    "name": "Ada Lovelace",
    "line1": "Damrak 1",
    "city": "Amsterdam",
    "postcode": "1012 LG",
    "country": "NL",
}
CUSTOMER = {"email": "ada@example.com", "name": "Ada Lovelace", "phone": "+31 20 555 0100"}


def _world(*, a_stock, b_stock=None):
    """LSP-operated sites wh-a (first choice) and wh-b, whose shipments go out through the
    dispatch outbox (an own site's wait for picking); products SHIRT and MUG."""
    sandbox_provider()
    wh_a, wh_b = outbox_site(code="wh-a"), outbox_site(code="wh-b")
    channel = channel_with_warehouses("webshop", [wh_a, wh_b])
    products = {sku: product(sku) for sku in ("SHIRT", "MUG")}
    for sku, quantity in a_stock.items():
        stock(products[sku], wh_a, quantity)
    for sku, quantity in (b_stock or {}).items():
        stock(products[sku], wh_b, quantity)
    return channel, products, wh_a, wh_b


def _order(channel, lines=(("SHIRT", 2),), reference="SHOP-1") -> Order:
    with transaction.atomic():
        return order_create(
            channel=channel,
            external_reference=reference,
            currency="EUR",
            customer=CUSTOMER,
            shipping_address=ADDRESS,
            lines=[
                {"sku": sku, "quantity": quantity, "unit_price": Decimal("10.00")}
                for sku, quantity in lines
            ],
            actor="test",
        )


def _reroute(order, exclude=(), reason="LSP strike at wh-a"):
    with transaction.atomic():
        return order_reroute(order=order, exclude_sites=exclude, reason=reason, actor="user:ops")


def _active(order) -> list[tuple[str, str, int]]:
    return sorted(
        Allocation.objects.filter(order_line__order=order, status=Allocation.Status.ACTIVE)
        .values_list("order_line__sku", "warehouse__code", "quantity")
        .order_by()
    )


def _live_shipments(order) -> list[tuple[str, str]]:
    return [
        (s.warehouse.code, s.status)
        for s in Shipment.objects.filter(order=order)
        .exclude(status=Shipment.Status.CANCELLED)
        .select_related("warehouse")
        .order_by("pk")
    ]


def _snapshot(order):
    order.refresh_from_db()
    return (
        order.status,
        order.updated_at,
        _active(order),
        list(Shipment.objects.filter(order=order).order_by("pk").values_list("pk", "status")),
        list(DispatchOutbox.objects.order_by("pk").values_list("pk", "status")),
        order.events.count(),
        list(StockLevel.objects.order_by("pk").values_list("on_hand", "reserved")),
    )


def _refused_dispatch(shipment):
    result = dispatch.shipment_dispatch(shipment_id=shipment.pk, adapter=FakeAdapter(["422"]))
    assert result.outcome == Outcome.REJECTED


# --- allowed states ---------------------------------------------------------------------


@pytest.mark.django_db
def test_backordered_order_moves_to_the_site_with_stock_avoiding_the_excluded_one():
    channel, products, _, wh_b = _world(a_stock={"SHIRT": 1})
    order = _order(channel)
    assert order.status == Order.Status.BACKORDERED
    assert _active(order) == [("SHIRT", "wh-a", 1)]
    stock(products["SHIRT"], wh_b, 5)
    outcome = _reroute(order, exclude=["wh-a"])
    assert (outcome.before_sites, outcome.after_sites) == (["wh-a"], ["wh-b"])
    assert outcome.status == Order.Status.IN_FULFILMENT
    assert _active(order) == [("SHIRT", "wh-b", 2)]
    assert _live_shipments(order) == [("wh-b", "pending")]
    assert StockLevel.objects.get(warehouse__code="wh-a").reserved == 0
    event = OrderEvent.objects.get(order=order, type=OrderEvent.Type.REROUTED)
    assert event.parameters == {
        "reason": "LSP strike at wh-a",
        "before_sites": ["wh-a"],
        "after_sites": ["wh-b"],
        "excluded_sites": ["wh-a"],
        "cancelled_shipments": [],
    }
    assert event.actor == "user:ops"


@pytest.mark.django_db
def test_excluding_the_only_site_with_stock_leaves_the_order_backordered():
    channel, *_ = _world(a_stock={"SHIRT": 1})
    order = _order(channel)
    outcome = _reroute(order, exclude=["wh-a"])
    assert outcome.status == Order.Status.BACKORDERED
    assert (outcome.before_sites, outcome.after_sites) == (["wh-a"], [])
    assert _active(order) == []
    assert StockLevel.objects.get(warehouse__code="wh-a").reserved == 0


@pytest.mark.django_db
def test_held_order_is_reserved_elsewhere_and_stays_held_until_released():
    channel, _, _, _ = _world(a_stock={"SHIRT": 5}, b_stock={"SHIRT": 5})
    order = _order(channel)
    (old,) = Shipment.objects.filter(order=order)
    hold = order_hold_place(order=order, reason=Hold.Reason.MANUAL, actor="test")
    outcome = _reroute(order, exclude=["wh-a"])
    assert outcome.status == Order.Status.ON_HOLD
    assert outcome.cancelled_shipments == [old.pk]
    assert _active(order) == [("SHIRT", "wh-b", 2)]
    assert _live_shipments(order) == []
    assert not DispatchOutbox.objects.filter(shipment=old).exists()
    order_hold_release(hold=hold, actor="test")
    order.refresh_from_db()
    assert order.status == Order.Status.IN_FULFILMENT
    assert _live_shipments(order) == [("wh-b", "pending")]


@pytest.mark.django_db
def test_refused_dispatch_is_cancelled_and_the_order_planned_again_elsewhere():
    channel, *_ = _world(a_stock={"SHIRT": 5}, b_stock={"SHIRT": 5})
    order = _order(channel)
    (old,) = Shipment.objects.filter(order=order)
    _refused_dispatch(old)
    outcome = _reroute(order, exclude=["wh-a"])
    assert outcome.status == Order.Status.IN_FULFILMENT
    assert outcome.cancelled_shipments == [old.pk]
    old.refresh_from_db()
    assert old.status == Shipment.Status.CANCELLED
    assert _live_shipments(order) == [("wh-b", "pending")]
    assert _active(order) == [("SHIRT", "wh-b", 2)]
    title, detail, _ = EventDescriber(order=order, shipments=[]).describe(
        OrderEvent.objects.get(order=order, type=OrderEvent.Type.REROUTED)
    )
    assert title == "Order re-routed"
    assert detail == (
        f"from wh-a to wh-b — avoiding wh-a — unsent SHP-{old.pk} cancelled — LSP strike at wh-a"
    )


@pytest.mark.django_db
def test_without_exclusions_the_router_decides_again():
    channel, *_ = _world(a_stock={"SHIRT": 5})
    order = _order(channel)
    (old,) = Shipment.objects.filter(order=order)
    _refused_dispatch(old)
    outcome = _reroute(order)
    assert outcome.after_sites == ["wh-a"]
    assert _live_shipments(order) == [("wh-a", "pending")]


# --- refusals ---------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("status", "words"),
    [
        (Order.Status.CANCELLED, "order is cancelled"),
        (Order.Status.SHIPPED, "order is shipped"),
        (Order.Status.ALLOCATED, "order is allocated"),
        (Order.Status.PARTIALLY_SHIPPED, "order is partially shipped"),
    ],
)
def test_refused_for_other_statuses(status, words):
    channel, *_ = _world(a_stock={"SHIRT": 5})
    order = _order(channel)
    Order.objects.filter(pk=order.pk).update(status=status)
    before = _snapshot(order)
    with pytest.raises(Conflict, match=words) as caught:
        _reroute(order)
    assert caught.value.code == "order_not_reroutable"
    assert _snapshot(order) == before


@pytest.mark.django_db
def test_refused_for_an_order_in_fulfilment_whose_dispatch_did_not_fail():
    channel, *_ = _world(a_stock={"SHIRT": 5})
    order = _order(channel)
    before = _snapshot(order)
    with pytest.raises(Conflict, match="no dispatch of it failed"):
        _reroute(order)
    assert _snapshot(order) == before


@pytest.mark.django_db
def test_refused_when_a_shipment_is_with_the_provider():
    channel, *_ = _world(a_stock={"SHIRT": 5})
    order = _order(channel)
    (shipment,) = Shipment.objects.filter(order=order)
    dispatch.shipment_dispatch(shipment_id=shipment.pk, adapter=FakeAdapter(["ok"]))
    Order.objects.filter(pk=order.pk).update(status=Order.Status.BACKORDERED)
    before = _snapshot(order)
    with pytest.raises(Conflict, match=r"with the provider \(dispatched\)") as caught:
        _reroute(order)
    assert caught.value.extra["shipment_ids"] == [shipment.pk]
    assert _snapshot(order) == before


@pytest.mark.django_db
def test_refused_when_the_provider_may_hold_the_failed_shipment(settings):
    settings.DISPATCH_MAX_ATTEMPTS = 1
    channel, *_ = _world(a_stock={"SHIRT": 5})
    order = _order(channel)
    (shipment,) = Shipment.objects.filter(order=order)
    result = dispatch.shipment_dispatch(shipment_id=shipment.pk, adapter=FakeAdapter(["5xx"]))
    assert result.outcome == Outcome.FAILED
    before = _snapshot(order)
    with pytest.raises(Conflict, match="may hold a shipment"):
        _reroute(order)
    assert _snapshot(order) == before


@pytest.mark.django_db
def test_refused_while_a_worker_is_handing_a_shipment_over():
    channel, *_ = _world(a_stock={"SHIRT": 5}, b_stock={"MUG": 5})
    order = _order(channel, lines=(("SHIRT", 2), ("MUG", 1)))
    first, second = Shipment.objects.filter(order=order).order_by("pk")
    _refused_dispatch(first)
    assert dispatch._claim(second.pk) is not None  # leased: a provider call is under way
    before = _snapshot(order)
    with pytest.raises(Conflict, match=f"shipment {second.pk} cannot be given up"):
        _reroute(order)
    assert _snapshot(order) == before


@pytest.mark.django_db
def test_a_reason_is_required():
    channel, *_ = _world(a_stock={"SHIRT": 1})
    order = _order(channel)
    with pytest.raises(ValidationFailed):
        _reroute(order, reason="  ")


# --- atomicity --------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_failure_midway_leaves_everything_as_it_was(monkeypatch):
    channel, *_ = _world(a_stock={"SHIRT": 5}, b_stock={"SHIRT": 5})
    order = _order(channel)
    (old,) = Shipment.objects.filter(order=order)
    _refused_dispatch(old)
    before = _snapshot(order)

    def broken(**kwargs):
        raise RuntimeError("router down")

    # After the shipments were cancelled and the stock released.
    monkeypatch.setattr(reroute_module, "order_fulfil", broken)
    with pytest.raises(RuntimeError):
        _reroute(order, exclude=["wh-a"])
    assert _snapshot(order) == before
    old.refresh_from_db()
    assert old.status == Shipment.Status.DISPATCH_FAILED


# --- races with the dispatch task (real threads and connections) ------------------------


class BlockingAdapter(FakeAdapter):
    """Accepts every shipment; records which; can block inside the provider call."""

    def __init__(self, *, block: bool = False):
        super().__init__([])
        self.sent: list[int] = []
        self.entered = threading.Event()
        self.proceed = threading.Event()
        if not block:
            self.proceed.set()

    def create_shipment(self, shipment):
        self.sent.append(shipment.pk)
        self.entered.set()
        assert self.proceed.wait(10)
        return super().create_shipment(shipment)


def _split_order(reference="SHOP-1"):
    """In fulfilment: SHIRT from wh-a (its dispatch refused), MUG from wh-b (queued)."""
    channel, products, _, wh_b = _world(a_stock={"SHIRT": 5}, b_stock={"MUG": 5})
    order = _order(channel, lines=(("SHIRT", 2), ("MUG", 1)), reference=reference)
    refused, queued = Shipment.objects.filter(order=order).order_by("pk")
    _refused_dispatch(refused)
    stock(products["SHIRT"], wh_b, 5)  # wh-b can now ship all of it
    return order, refused, queued


def _never_two_live(order, adapter):
    """No cancelled shipment was sent, and the provider holds only live shipments."""
    cancelled = set(
        Shipment.objects.filter(order=order, status=Shipment.Status.CANCELLED).values_list(
            "pk", flat=True
        )
    )
    assert not cancelled & set(adapter.sent)


@pytest.mark.django_db(transaction=True)
def test_reroute_during_an_inflight_dispatch_waits_and_is_refused():
    order, _, queued = _split_order()
    adapter = BlockingAdapter(block=True)
    dispatcher, dispatched = in_thread(
        lambda: dispatch.shipment_dispatch(shipment_id=queued.pk, adapter=adapter)
    )
    assert adapter.entered.wait(10)
    rerouter, rerouted = in_thread(lambda: _reroute(order, exclude=["wh-a"]))
    time.sleep(0.5)
    assert rerouter.is_alive()  # the dispatch gate's order lock makes the re-route wait
    adapter.proceed.set()
    dispatcher.join(10)
    rerouter.join(10)
    assert dispatched["result"].outcome == Outcome.SENT
    assert isinstance(rerouted.get("error"), Conflict)
    assert "with the provider (dispatched)" in rerouted["error"].detail
    assert adapter.sent == [queued.pk]
    _never_two_live(order, adapter)


@pytest.mark.django_db(transaction=True)
def test_dispatch_during_a_reroute_never_calls_the_provider_for_the_cancelled_shipment(
    monkeypatch,
):
    order, _, queued = _split_order()
    inside, release = threading.Event(), threading.Event()
    real = reroute_module.order_fulfil

    def slow_fulfil(**kwargs):
        inside.set()
        assert release.wait(10)
        return real(**kwargs)

    monkeypatch.setattr(reroute_module, "order_fulfil", slow_fulfil)
    rerouter, rerouted = in_thread(lambda: _reroute(order, exclude=["wh-a"]))
    assert inside.wait(10)
    adapter = BlockingAdapter()
    # The re-route holds the order and the outbox rows: the queued shipment is not claimed.
    assert dispatch.shipment_dispatch(shipment_id=queued.pk, adapter=adapter).outcome == "noop"
    release.set()
    rerouter.join(10)
    assert "error" not in rerouted
    for shipment in Shipment.objects.filter(order=order).order_by("pk"):
        dispatch.shipment_dispatch(shipment_id=shipment.pk, adapter=adapter)
    (new,) = Shipment.objects.filter(order=order).exclude(status=Shipment.Status.CANCELLED)
    assert adapter.sent == [new.pk]
    _never_two_live(order, adapter)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("round_", range(4))
def test_reroute_racing_a_dispatch_never_leaves_two_live_shipments(round_):
    """Started together: either the dispatch wins (the re-route is refused) or the
    re-route wins (the queued shipment is never sent, the new plan is)."""
    order, _, queued = _split_order(reference=f"SHOP-{round_}")
    adapter = BlockingAdapter()
    start = threading.Barrier(2)
    dispatcher, dispatched = in_thread(
        lambda: dispatch.shipment_dispatch(shipment_id=queued.pk, adapter=adapter), start=start
    )
    rerouter, rerouted = in_thread(lambda: _reroute(order, exclude=["wh-a"]), start=start)
    dispatcher.join(15)
    rerouter.join(15)
    assert "error" not in dispatched
    if "error" in rerouted:
        assert isinstance(rerouted["error"], Conflict)
        assert adapter.sent == [queued.pk]
        assert _active(order) == [("MUG", "wh-b", 1), ("SHIRT", "wh-a", 2)]
        return
    for shipment in Shipment.objects.filter(order=order).order_by("pk"):
        dispatch.shipment_dispatch(shipment_id=shipment.pk, adapter=adapter)
    queued.refresh_from_db()
    assert queued.status == Shipment.Status.CANCELLED
    (new,) = Shipment.objects.filter(order=order).exclude(status=Shipment.Status.CANCELLED)
    assert adapter.sent == [new.pk]
    _never_two_live(order, adapter)
