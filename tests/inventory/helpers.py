"""Small builders for inventory tests: a channel with ranked warehouses, stock, orders."""

from __future__ import annotations

from decimal import Decimal

from inventory.models import InboundLine, InboundShipment, Product, Warehouse
from inventory.services.stock import stock_receive
from orders.models import Channel, ChannelWarehouse, Order
from tests.inventory.factories import ProductFactory, WarehouseFactory
from tests.orders.factories import ChannelFactory, OrderFactory, OrderLineFactory


def channel_with_warehouses(code: str, warehouses: list[Warehouse], **fields) -> Channel:
    channel = ChannelFactory(code=code, **fields)
    for priority, warehouse in enumerate(warehouses, start=1):
        ChannelWarehouse.objects.get_or_create(
            channel=channel, warehouse=warehouse, defaults={"priority": priority * 10}
        )
    return channel


def stock(product: Product, warehouse: Warehouse, quantity: int) -> None:
    stock_receive(product=product, warehouse=warehouse, quantity=quantity, reference="test")


def order_with_lines(channel: Channel, lines: list[tuple[Product, int]], **fields) -> Order:
    order = OrderFactory(channel=channel, **fields)
    for number, (product, quantity) in enumerate(lines, start=1):
        OrderLineFactory(
            order=order, line_number=number, product=product, sku=product.sku, quantity=quantity
        )
    order.total_amount = sum(
        (line.unit_price * line.quantity for line in order.lines.all()), Decimal("0")
    )
    order.save(update_fields=["total_amount"])
    return order


def warehouses(*codes: str) -> list[Warehouse]:
    return [WarehouseFactory(code=code) for code in codes]


def product(sku: str) -> Product:
    return ProductFactory(sku=sku)


def asn(*, warehouse: Warehouse, reference: str, lines: list[tuple[str, int]]) -> InboundShipment:
    """An announced inbound shipment with (SKU, expected quantity) lines, ready to receive."""
    inbound = InboundShipment.objects.create(warehouse=warehouse, reference=reference)
    InboundLine.objects.bulk_create(
        InboundLine(
            inbound=inbound, product=Product.objects.get(sku=sku), expected_quantity=quantity
        )
        for sku, quantity in lines
    )
    return inbound
