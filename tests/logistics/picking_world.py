"""A small own-site world for picking tests: bins with stock, orders planned there."""

from __future__ import annotations

from django.db import transaction

from inventory.models import Bin, Product, Warehouse
from inventory.services.bins import bin_create, bin_putaway
from logistics.models import Shipment
from orders.models import Channel, Order
from orders.services.fulfilment import order_fulfil
from tests.inventory.factories import ProductFactory, WarehouseFactory
from tests.inventory.helpers import channel_with_warehouses, order_with_lines, stock
from tests.logistics.factories import ProviderFactory


def own_site(code: str = "own-pick", *, bins=(("A-01", "A", 10), ("A-02", "A", 20))) -> Warehouse:
    ProviderFactory(code="sandbox")
    site = WarehouseFactory(code=code, kind=Warehouse.Kind.OWN)
    for bin_code, zone, sequence in bins:
        bin_create(warehouse=site, code=bin_code, zone=zone, pick_sequence=sequence)
    return site


def stocked(sku: str, site: Warehouse, placement: dict[str, int], *, barcode: str = "") -> Product:
    """A product with `placement` ({bin code: units}) put away at the site."""
    product = Product.objects.filter(sku=sku).first() or ProductFactory(
        sku=sku, barcode=barcode or f"BC-{sku}"
    )
    total = sum(placement.values())
    if total:
        stock(product, site, total)
    for code, units in placement.items():
        bin_putaway(
            warehouse=site, product=product, bin=Bin.objects.get(warehouse=site, code=code),
            quantity=units,
        )  # fmt: skip
    return product


def planned_order(channel: Channel, lines: list[tuple[Product, int]], **fields) -> Order:
    """An order allocated and planned through the order workflow (shipments pending)."""
    order = order_with_lines(channel, lines, **fields)
    with transaction.atomic():
        order_fulfil(order=order, actor="test")
    return order


def shipment_of(order: Order, site: Warehouse) -> Shipment:
    return Shipment.objects.get(order=order, warehouse=site, direction="outbound")


def channel_for(*sites: Warehouse, code: str = "pick-ch") -> Channel:
    return channel_with_warehouses(code, list(sites))
