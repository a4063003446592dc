"""What the re-route screens read: which orders a queue names, which sites may be avoided."""

from __future__ import annotations

from collections.abc import Sequence

from inventory.models import Warehouse
from logistics.models import Shipment
from orders.models import ChannelWarehouse, Order
from orders.services.reroute import order_reroute_refusal

# The queues a bulk re-route can take its orders from (orders.services.reroute says which
# orders of them qualify; the job reports the others as refused, with why).
REROUTE_QUEUES: dict[str, str] = {
    "backordered": "Backordered orders",
    "dispatch_failed": "Orders whose dispatch failed",
    "on_hold": "Orders on hold",
}


def reroute_queue_resolve(*, kind: str, limit: int) -> list[int]:
    """Ids of the orders in queue `kind` (REROUTE_QUEUES), oldest first, at most `limit`."""
    if kind == "dispatch_failed":
        orders = Order.objects.filter(
            status=Order.Status.IN_FULFILMENT,
            pk__in=Shipment.objects.filter(status=Shipment.Status.DISPATCH_FAILED).values(
                "order_id"
            ),
        )
    elif kind == "on_hold":
        orders = Order.objects.filter(status=Order.Status.ON_HOLD)
    elif kind == "backordered":
        orders = Order.objects.filter(status=Order.Status.BACKORDERED)
    else:
        raise ValueError(f"Unknown re-route queue {kind!r}.")
    return list(orders.order_by("created_at", "id").values_list("id", flat=True)[:limit])


def reroute_site_choices(*, order: Order | None = None) -> list[tuple[str, str]]:
    """(code, label) of the sites a re-route may avoid: the order's channel's eligible
    warehouses in its priority order, or every active warehouse (a bulk re-route)."""
    rows: list[tuple[str, str]]
    if order is not None:
        rows = list(
            ChannelWarehouse.objects.filter(channel_id=order.channel_id, warehouse__is_active=True)
            .order_by("priority", "warehouse_id")
            .values_list("warehouse__code", "warehouse__name")
        )
    else:
        rows = list(
            Warehouse.objects.filter(is_active=True).order_by("code").values_list("code", "name")
        )
    return [(code, f"{code} · {name}" if name else code) for code, name in rows]


def order_reroute_offered(*, order: Order, shipments: Sequence[Shipment]) -> bool:
    """Whether the order page offers "Re-route" (the service checks again under its lock):
    backordered or on hold, or in fulfilment with a failed dispatch."""
    if order_reroute_refusal(order=order):
        return False
    if order.status == Order.Status.IN_FULFILMENT:
        return any(s.status == Shipment.Status.DISPATCH_FAILED for s in shipments)
    return True
