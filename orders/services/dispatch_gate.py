"""The order side of the dispatch gate, filled into logistics.hooks.order_gate (orders/apps.py).

logistics asks before it calls a provider for a shipment (dispatch, re-route) whether
the order lets its shipments go; the lock it takes here is what makes a hold or a
cancel wait for the provider's answer (see logistics.services.dispatch.shipment_dispatch).
"""

from __future__ import annotations

from logistics.hooks import OrderDispatchState
from orders.models import Hold, Order


class OrderDispatchGate:
    """orders' implementation of logistics.hooks.OrderGate."""

    def order_lock_for_dispatch(self, *, order_id: int) -> OrderDispatchState:
        status = (
            Order.objects.select_for_update(no_key=True)
            .values_list("status", flat=True)
            .get(pk=order_id)
        )
        if status == Order.Status.CANCELLED:
            return OrderDispatchState.CANCELLED
        if status == Order.Status.ON_HOLD:
            return OrderDispatchState.ON_HOLD
        return OrderDispatchState.OPEN

    def order_has_open_hold(self, *, order_id: int) -> bool:
        return Hold.objects.filter(order_id=order_id, released_at__isnull=True).exists()


order_dispatch_gate = OrderDispatchGate()
