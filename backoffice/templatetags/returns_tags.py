"""Template helpers for the returns panel on the desk's order page."""

from django import template

from orders.models import Order
from returns.models import ReturnLine

register = template.Library()

RETURNABLE = frozenset(
    {
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
