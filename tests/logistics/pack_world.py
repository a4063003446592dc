"""A picked own-site shipment for the pack station tests, and the box catalogue."""

from __future__ import annotations

from django.utils import timezone

from logistics.models import Box, PickTask, Shipment
from logistics.services.picking import pick_confirm, waves_build
from tests.logistics.picking_world import channel_for, own_site, planned_order, shipment_of, stocked


def boxes() -> tuple[Box, Box]:
    small, _ = Box.objects.get_or_create(
        code="S", defaults={"name": "Small", "inner_length_mm": 300, "inner_width_mm": 200,
        "inner_height_mm": 100, "tare_grams": 150},
    )  # fmt: skip
    large, _ = Box.objects.get_or_create(
        code="L", defaults={"name": "Large", "inner_length_mm": 600, "inner_width_mm": 400,
        "inner_height_mm": 300, "tare_grams": 600},
    )  # fmt: skip
    return small, large


def picked_shipment(*, lines=(("PK-A", 2), ("PK-B", 1)), site=None) -> Shipment:
    """An own-site shipment of `lines` ((sku, units)), waved and fully picked."""
    site = site or own_site("own-pack")
    products = [(stocked(sku, site, {"A-01": units}), units) for sku, units in lines]
    order = planned_order(channel_for(site, code="pack-ch"), products)
    waves_build(warehouse=site, now=timezone.now())
    shipment = shipment_of(order, site)
    for task in PickTask.objects.filter(shipment=shipment):
        task.bin_scanned = True
        task.save(update_fields=["bin_scanned"])
        pick_confirm(task=task, quantity=task.quantity)
    shipment.refresh_from_db()
    assert shipment.status == Shipment.Status.PICKED
    return shipment
