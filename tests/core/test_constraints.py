"""Each invariant the database holds: a direct ORM write that breaks it raises IntegrityError."""

from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from inventory.models import Allocation, StockMovement
from logistics.models import ShipmentLine, TrackingEvent
from orders.models import Hold, Order, OrderLine
from tests.inventory.factories import ProductFactory, StockLevelFactory, WarehouseFactory
from tests.logistics.factories import ShipmentFactory, TrackingEventFactory
from tests.orders.factories import ChannelFactory, OrderFactory, OrderLineFactory

pytestmark = pytest.mark.django_db


def _violates(callable_, constraint: str) -> None:
    with pytest.raises(IntegrityError) as caught, transaction.atomic():
        callable_()
    assert constraint in str(caught.value)


def test_order_number_is_unique():
    order = OrderFactory()
    _violates(lambda: OrderFactory(number=order.number), "order_number_key")


def test_external_reference_is_unique_per_channel():
    order = OrderFactory()
    _violates(
        lambda: OrderFactory(channel=order.channel, external_reference=order.external_reference),
        "order_external_reference_per_channel",
    )


def test_same_external_reference_is_allowed_in_another_channel():
    order = OrderFactory()
    other = OrderFactory(channel=ChannelFactory(), external_reference=order.external_reference)
    assert other.pk != order.pk


def test_reserved_cannot_exceed_on_hand():
    level = StockLevelFactory(on_hand=5, reserved=0)
    level.reserved = 6
    _violates(lambda: level.save(), "stocklevel_reserved_within_on_hand")


def test_on_hand_cannot_go_negative():
    level = StockLevelFactory(on_hand=0, reserved=0)
    level.on_hand = -1
    _violates(lambda: level.save(), "stocklevel_reserved_within_on_hand")


def test_reserved_cannot_go_negative():
    level = StockLevelFactory(on_hand=3, reserved=0)
    level.reserved = -1
    _violates(lambda: level.save(), "stocklevel_reserved_within_on_hand")


def test_one_stock_level_per_product_and_warehouse():
    level = StockLevelFactory()
    _violates(
        lambda: StockLevelFactory(product=level.product, warehouse=level.warehouse),
        "stocklevel_one_per_product_warehouse",
    )


def test_order_line_quantity_must_be_positive():
    _violates(lambda: OrderLineFactory(quantity=0), "orderline_quantity_positive")


def test_order_line_price_cannot_be_negative():
    _violates(lambda: OrderLineFactory(unit_price=Decimal("-0.01")), "orderline_price_non_negative")


def test_order_line_cannot_ship_more_than_ordered():
    _violates(
        lambda: OrderLineFactory(quantity=2, quantity_shipped=3),
        "orderline_cancelled_within_unshipped",
    )


def test_order_line_cannot_cancel_more_than_is_unshipped():
    _violates(
        lambda: OrderLineFactory(quantity=3, quantity_shipped=2, quantity_cancelled=2),
        "orderline_cancelled_within_unshipped",
    )


def test_order_line_cannot_return_more_than_shipped():
    _violates(
        lambda: OrderLineFactory(quantity=2, quantity_shipped=1, quantity_returned=2),
        "orderline_returned_within_shipped",
    )


def test_order_currency_must_be_iso_code():
    _violates(lambda: OrderFactory(currency="eur"), "order_currency_iso")


def test_order_total_cannot_be_negative():
    _violates(lambda: OrderFactory(total_amount=Decimal("-1")), "order_total_non_negative")


def test_only_a_cancelled_order_has_a_cancellation_time():
    from django.utils import timezone

    _violates(
        lambda: OrderFactory(status=Order.Status.RECEIVED, cancelled_at=timezone.now()),
        "order_cancelled_at_only_when_cancelled",
    )


def test_allocation_quantity_must_be_positive():
    line = OrderLineFactory()
    _violates(
        lambda: Allocation.objects.create(
            order_line=line, warehouse=WarehouseFactory(), quantity=0
        ),
        "allocation_quantity_positive",
    )


def test_one_active_allocation_per_line_and_warehouse():
    line = OrderLineFactory()
    warehouse = WarehouseFactory()
    Allocation.objects.create(order_line=line, warehouse=warehouse, quantity=1)
    _violates(
        lambda: Allocation.objects.create(order_line=line, warehouse=warehouse, quantity=1),
        "allocation_one_active_per_line_warehouse",
    )


def test_stock_movement_must_change_something():
    _violates(
        lambda: StockMovement.objects.create(
            product=ProductFactory(), warehouse=WarehouseFactory(), type="adjustment"
        ),
        "stockmovement_changes_something",
    )


def test_lsp_warehouse_needs_a_provider():
    _violates(
        lambda: WarehouseFactory(kind="lsp", provider=None), "warehouse_lsp_site_has_provider"
    )


def test_one_active_hold_per_reason():
    order = OrderFactory()
    Hold.objects.create(order=order, reason=Hold.Reason.MANUAL)
    _violates(
        lambda: Hold.objects.create(order=order, reason=Hold.Reason.MANUAL),
        "hold_one_active_per_reason",
    )


def test_shipment_line_quantity_must_be_positive():
    shipment = ShipmentFactory()
    line = OrderLineFactory(order=shipment.order)
    _violates(
        lambda: ShipmentLine.objects.create(shipment=shipment, order_line=line, quantity=0),
        "shipmentline_quantity_positive",
    )


def test_tracking_event_is_stored_once_per_dedup_key():
    event = TrackingEventFactory()
    _violates(
        lambda: TrackingEvent.objects.create(
            shipment=event.shipment,
            status="in_transit",
            occurred_at=event.occurred_at,
            dedup_key=event.dedup_key,
        ),
        "trackingevent_dedup",
    )


def test_product_hs_code_must_be_digits():
    _violates(lambda: ProductFactory(hs_code="ABC"), "product_hs_code_digits")


def test_order_line_number_is_unique_per_order():
    line = OrderLineFactory()
    _violates(
        lambda: OrderLine.objects.create(
            order=line.order,
            line_number=line.line_number,
            product=line.product,
            sku=line.sku,
            quantity=1,
            unit_price=Decimal("1"),
        ),
        "orderline_number_per_order",
    )
