"""Template helpers for the returns panel on the desk's order page."""

from django import template

from orders.models import Order
from returns.models import ReturnLine

register = template.Library()

# What shipped can come back, also while the rest of the order is still on its way
# (returns.services.return_request_create checks the quantities line by line).
RETURNABLE = frozenset(
    {
        Order.Status.PARTIALLY_SHIPPED,
        Order.Status.SHIPPED,
        Order.Status.PARTIALLY_DELIVERED,
        Order.Status.DELIVERED,
        Order.Status.PARTIALLY_RETURNED,
    }
)


@register.simple_tag
def return_reasons():
    return ReturnLine.Reason.choices


@register.simple_tag
def order_returnable(order) -> bool:
    return order.status in RETURNABLE


@register.simple_tag
def order_returns_panel(order, shipments) -> dict:
    """The panel's data in a fixed number of queries, whatever the number of returns/lines."""
    from logistics.models import CustomsDeclaration
    from returns.models import ReturnRequest

    returns = list(
        ReturnRequest.objects.filter(order=order)
        .select_related("return_shipment__provider")
        .prefetch_related("lines__order_line")
        .order_by("created_at", "pk")
    )
    outbound = [s for s in shipments if s.direction == "outbound"]
    declared = set(
        CustomsDeclaration.objects.filter(shipment__in=outbound).values_list(
            "shipment_id", flat=True
        )
    )
    return {
        "returns": returns,
        "documents": [(s, s.pk in declared) for s in outbound],
    }
