"""Read-side queries of the orders domain (partner API and back office)."""

from __future__ import annotations

from django.db.models import QuerySet

from core.errors import NotFound
from orders import api_documents, error_codes
from orders.models import Channel, Order


def orders_for_channel(*, channel: Channel) -> QuerySet[Order]:
    """The channel's orders, to filter and page; ORDERS_PAGE_SQL renders a page of them."""
    return Order.objects.filter(channel=channel)


# The list endpoint's rendering of a page: see core.pagination.KeysetPagination.page_response.
ORDERS_PAGE_SQL = api_documents.ORDER_PAGE


def order_detail_json_for_channel(*, channel: Channel, number: str) -> str:
    """The channel's order as JSON: lines, allocations, shipments and tracking (one statement).

    Raises NotFound for an unknown number and for another channel's order alike,
    so a partner learns nothing about orders that are not theirs.
    """
    text = api_documents.order_detail_json(channel_id=channel.pk, number=number)
    if text is None:
        raise _not_found(number)
    return text


def order_detail_json(*, order: Order) -> str:
    """An order the caller holds (just written, say) as the detail endpoint shows it."""
    return api_documents.order_detail_json_by_id(order_id=order.pk)


def shipments_json_for_order(*, order: Order) -> str:
    """The order's shipments with lines, parcels and tracking, as a JSON array."""
    return api_documents.shipments_json(order_id=order.pk)


def order_lookup_for_channel(*, channel: Channel, number: str) -> Order:
    """The bare order row (for writes), or NotFound."""
    order = Order.objects.filter(channel=channel, number=number).first()
    if order is None:
        raise _not_found(number)
    return order


def _not_found(number: str) -> NotFound:
    # One answer for an unknown number and another channel's order alike.
    return NotFound(f"No order {number} in this channel.", code=error_codes.ORDER_NOT_FOUND)
