"""Hypothesis state machine over the stock services: invariants hold after every step.

Random receipts, orders (allocated on arrival), cancels, edits (reallocation),
adjustments, counts, shipments and backorder runs. After every step:
levels never negative, 0 <= reserved <= on_hand, ledger sum == levels, reserved
== active allocations, no order line allocated more than it asked.
"""

import pytest
from django.db import transaction
from django.db.models import Sum
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from core.errors import DomainError
from inventory.models import Allocation, StockLevel
from inventory.selectors import stock_ledger_drift
from inventory.services.counts import stock_count_record
from inventory.services.stock import (
    stock_adjust,
    stock_receive,
    stock_ship_allocation,
)
from orders.models import Order, OrderLine
from orders.services.allocation import (
    backorders_allocate,
    order_allocate,
    order_deallocate,
)
from orders.transitions import order_transition
from tests.inventory.factories import ProductFactory, WarehouseFactory
from tests.inventory.helpers import channel_with_warehouses, order_with_lines

S = Order.Status
idx = st.integers(min_value=0, max_value=2)


class StockMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        # Every example runs in a savepoint that teardown rolls back: a fresh world each time.
        self.atomic = transaction.atomic()
        self.atomic.__enter__()
        self.orders: list[int] = []

    @initialize()
    def world(self):
        self.products = [ProductFactory(sku=f"P{i}") for i in range(3)]
        self.warehouses = [WarehouseFactory(code=f"w{i}") for i in range(3)]
        w = self.warehouses
        self.channels = [
            channel_with_warehouses("c0", [w[0], w[1], w[2]]),
            channel_with_warehouses("c1", [w[2], w[0]]),
        ]
        # Start with some stock so that early orders allocate (and can be cancelled/shipped).
        for p in self.products:
            for wh in self.warehouses[:2]:
                stock_receive(product=p, warehouse=wh, quantity=4)

    def teardown(self):
        transaction.set_rollback(True)
        self.atomic.__exit__(None, None, None)

    def _try(self, fn, **kwargs):
        # Refusals (insufficient stock, locked, illegal) are legitimate outcomes;
        # they must leave everything unchanged, which the invariants check.
        try:
            with transaction.atomic():
                return fn(**kwargs)
        except DomainError:
            return None

    @rule(p=idx, w=idx, qty=st.integers(min_value=1, max_value=8))
    def receive(self, p, w, qty):
        stock_receive(product=self.products[p], warehouse=self.warehouses[w], quantity=qty)

    @rule(
        c=st.integers(min_value=0, max_value=1),
        lines=st.lists(
            st.tuples(idx, st.integers(min_value=1, max_value=5)), min_size=1, max_size=3
        ),
    )
    def place_order(self, c, lines):
        order = order_with_lines(self.channels[c], [(self.products[p], q) for p, q in lines])
        order_allocate(order=order)
        assert order.status in {S.ALLOCATED, S.BACKORDERED}
        self.orders.append(order.pk)

    @precondition(lambda self: self.orders)
    @rule(data=st.data())
    def cancel(self, data):
        order = Order.objects.get(pk=data.draw(st.sampled_from(self.orders)))
        if order.status in {S.CANCELLED, S.SHIPPED}:
            return
        with transaction.atomic():
            order_deallocate(order=order)
            order_transition(order=order, to=S.CANCELLED)

    @precondition(lambda self: self.orders)
    @rule(data=st.data())
    def ship(self, data):
        allocations = list(
            Allocation.objects.filter(
                status=Allocation.Status.ACTIVE, order_line__order_id__in=self.orders
            ).order_by("pk")
        )
        if allocations:
            allocation = data.draw(st.sampled_from(allocations))
            stock_ship_allocation(
                allocation=allocation,
                quantity=data.draw(st.integers(min_value=1, max_value=allocation.quantity)),
            )

    @rule(p=idx, w=idx, delta=st.integers(min_value=-6, max_value=6).filter(bool))
    def adjust(self, p, w, delta):
        self._try(
            stock_adjust,
            product=self.products[p],
            warehouse=self.warehouses[w],
            delta=delta,
            reason="correction",
        )

    @rule(p=idx, w=idx, counted=st.integers(min_value=0, max_value=12))
    def count(self, p, w, counted):
        self._try(
            stock_count_record,
            product=self.products[p],
            warehouse=self.warehouses[w],
            counted=counted,
        )

    @rule()
    def run_backorders(self):
        backorders_allocate()

    @invariant()
    def levels_are_within_bounds(self):
        assert not StockLevel.objects.filter(on_hand__lt=0).exists()
        for level in StockLevel.objects.all():
            assert 0 <= level.reserved <= level.on_hand, level

    @invariant()
    def ledger_equals_levels(self):
        assert stock_ledger_drift() == []

    @invariant()
    def reserved_equals_active_allocations(self):
        active = {
            (row["order_line__product_id"], row["warehouse_id"]): row["total"]
            for row in Allocation.objects.filter(status=Allocation.Status.ACTIVE)
            .values("order_line__product_id", "warehouse_id")
            .annotate(total=Sum("quantity"))
        }
        for level in StockLevel.objects.all():
            assert level.reserved == active.get((level.product_id, level.warehouse_id), 0)

    @invariant()
    def no_line_allocated_more_than_ordered(self):
        for line in OrderLine.objects.exclude(order__status=S.CANCELLED):
            live = line.allocations.exclude(status=Allocation.Status.RELEASED).aggregate(
                total=Sum("quantity", default=0)
            )["total"]
            assert live <= line.quantity, (line, live)

    @invariant()
    def allocated_orders_are_fully_reserved(self):
        for order in Order.objects.filter(status=S.ALLOCATED):
            for line in order.lines.all():
                live = line.allocations.exclude(status=Allocation.Status.RELEASED).aggregate(
                    total=Sum("quantity", default=0)
                )["total"]
                assert live == line.quantity, (order.number, line.line_number, live)


StockMachine.TestCase.settings = settings(
    max_examples=25,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.mark.django_db
def test_stock_invariants_hold_under_random_operations():
    StockMachine.TestCase().runTest()
