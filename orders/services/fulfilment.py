"""From a received order to reserved stock and planned shipments."""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING

from django.db import transaction

from orders.models import Order
from orders.services.shipment_planning import shipments_plan_for_order

if TYPE_CHECKING:
    from core.users import ActingUser
    from inventory.services.stock import Reservation


# No savepoint of its own when nested: an error aborts the caller's transaction anyway.
@transaction.atomic(savepoint=False)
def order_fulfil(
    *,
    order: Order,
    user: ActingUser | None = None,
    actor: str | None = None,
    new_order: bool = False,
    exclude_sites: Collection[str] = (),
) -> Order:
    """Allocate the order's stock and plan its shipments, inside the caller's transaction.

    Allocation decides allocated / backordered / on_hold; shipment planning
    (orders.services.shipment_planning, writing through logistics) then creates one
    shipment plus its outbox row per warehouse that holds active allocations, so a
    rollback undoes both.
    `new_order`: the order was created in the caller's (still open) transaction,
    which lets planning skip what such an order cannot have and take the
    allocations as allocation made them (see shipments_plan_for_order).
    `exclude_sites`: warehouse codes the router must leave out (a re-route).
    """
    from orders.services.allocation import order_allocate

    if not new_order:
        order_allocate(order=order, user=user, actor=actor, exclude_sites=exclude_sites)
        shipments_plan_for_order(order=order, user=user, actor=actor)
        return order
    # A new order's only allocations are the ones just made: planning takes them as they are.
    reserved: list[Reservation] = []
    order_allocate(order=order, user=user, actor=actor, reserved_into=reserved, savepoint=False)
    shipments_plan_for_order(order=order, user=user, actor=actor, new_order_reserved=reserved)
    return order
