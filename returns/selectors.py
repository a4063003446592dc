"""Reads of the returns domain."""

from __future__ import annotations

from django.db.models import F, QuerySet

from orders.models import Order
from returns.models import ReturnRequest


def returns_for_order(*, order: Order) -> QuerySet[ReturnRequest]:
    return (
        ReturnRequest.objects.filter(order=order)
        .select_related("order", "warehouse", "return_shipment__provider")
        .prefetch_related("lines__order_line")
        .order_by("created_at", "pk")
    )


def returns_awaiting_receipt(*, limit: int = 100) -> QuerySet[ReturnRequest]:
    """Open returns, arrived first: the warehouse's receiving queue."""
    return (
        ReturnRequest.objects.filter(status__in=["label_issued", "in_transit", "delivered"])
        .select_related("order", "warehouse", "return_shipment")
        .order_by(F("delivered_at").asc(nulls_last=True), "created_at")[:limit]
    )


def return_get(*, pk: int) -> ReturnRequest | None:
    return (
        ReturnRequest.objects.select_related("order__channel", "warehouse", "return_shipment")
        .prefetch_related("lines__order_line__product")
        .filter(pk=pk)
        .first()
    )
