"""The order workflow's side of a short pick at an own site (logistics.hooks.pick_shortfall).

A picker found fewer units in the bin than the pick task asked for. The missing units
are not there: their reservation at the site is released and the stock engine records
them lost from the bin, so nothing promises them again. Then allocation looks for them
like for any missing quantity: another site with stock gets a new allocation (and
shipment planning a new shipment), none leaves the order backordered. The rest of the
short shipment goes on unless the order's routing asked to ship complete
(`split_policy` "complete" in its last allocated event), then it waits.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from inventory.models import Allocation, Bin, Product
from inventory.services.bins import bin_pick_missing
from inventory.services.reservations import allocations_release_quantity
from logistics.hooks import ShortPickOutcome
from logistics.services.shipments import shipment_line_shrink
from orders import events
from orders.models import Order, OrderEvent
from orders.services.fulfilment import order_fulfil
from orders.services.holds import order_lock
from orders.transitions import order_transition

if TYPE_CHECKING:
    from core.users import ActingUser
    from logistics.models import Shipment, ShipmentLine

# Split policies (routing.models.SplitPolicy, named here by value: routing sits above
# orders) under which the rest of a short shipment waits for the missing units.
WAITING_POLICIES = frozenset({"complete"})


def order_split_policy(*, order_id: int) -> str:
    """The split policy the router chose at the order's last allocation ("" if none)."""
    parameters = (
        OrderEvent.objects.filter(order_id=order_id, type=OrderEvent.Type.ALLOCATED)
        .order_by("-created_at", "-id")
        .values_list("parameters", flat=True)
        .first()
    )
    routing = (parameters or {}).get("routing") or {}
    return str(routing.get("split_policy") or "")


def order_short_pick_reallocate(
    *,
    shipment: Shipment,
    shipment_line: ShipmentLine,
    bin_id: int,
    missing: int,
    user: ActingUser | None = None,
) -> ShortPickOutcome:
    """See logistics.hooks.PickShortfall.short_pick_reallocate. The caller (picking)
    holds the order's lock and the shipment's; runs in its transaction."""
    order = Order.objects.select_for_update().get(pk=shipment.order_id)
    line = shipment_line.order_line
    reference = f"order:{order.number}"
    allocation_ids = list(
        Allocation.objects.filter(
            order_line_id=line.pk,
            warehouse_id=shipment.warehouse_id,
            status=Allocation.Status.ACTIVE,
        ).values_list("pk", flat=True)
    )
    reason = f"short pick: {missing} of {line.sku} missing at {shipment.warehouse.code}"
    released = allocations_release_quantity(
        allocation_ids=allocation_ids,
        order_ids=[order.pk],
        product_id=line.product_id,
        warehouse_id=shipment.warehouse_id,
        quantity=missing,
        references={order.pk: reference},
        user=user,
        reason="short_pick",
    )
    bin_pick_missing(
        bin=Bin.objects.get(pk=bin_id),
        product=Product.objects.get(pk=line.product_id),
        quantity=missing,
        reference=reference,
        user=user,
    )
    events.stock_deallocated_event(
        order=order,
        reason=reason,
        allocations=[
            {
                "line": line.line_number,
                "sku": line.sku,
                "warehouse": shipment.warehouse.code,
                "quantity": taken,
            }
            for _, taken in released
        ],
        user=user,
        actor="system:picking" if user is None else None,
    )
    outcome = (
        ShortPickOutcome.WAIT
        if order_split_policy(order_id=order.pk) in WAITING_POLICIES
        else ShortPickOutcome.CONTINUE
    )
    # The shipment no longer carries the missing units either way: planning then sees
    # them as unplanned wherever allocation finds them.
    shipment_line_shrink(shipment_line=shipment_line, quantity=missing)
    if order.status == Order.Status.IN_FULFILMENT:
        order_transition(order=order, to=Order.Status.BACKORDERED, reason=reason, user=user)
    if order.status == Order.Status.BACKORDERED:
        order_fulfil(order=order, user=user, actor="system:picking" if user is None else None)
    return outcome


class _PickShortfallHook:
    """logistics.hooks.pick_shortfall, filled in OrdersConfig.ready()."""

    def order_lock(self, *, order_id: int) -> None:
        order_lock(order=Order(pk=order_id))

    def short_pick_reallocate(
        self,
        *,
        shipment: Shipment,
        shipment_line: ShipmentLine,
        bin_id: int,
        missing: int,
        user: ActingUser | None,
    ) -> ShortPickOutcome:
        return order_short_pick_reallocate(
            shipment=shipment,
            shipment_line=shipment_line,
            bin_id=bin_id,
            missing=missing,
            user=user,
        )


pick_shortfall_hook = _PickShortfallHook()
