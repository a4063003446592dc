"""The topics a partner can subscribe a webhook endpoint to (docs/api.md, "Webhooks")."""

from django.db import models


class Topic(models.TextChoices):
    ORDER_CREATED = "order.created", "Order created"
    ORDER_UPDATED = "order.updated", "Order edited"
    ORDER_STATUS_CHANGED = "order.status_changed", "Order status changed"
    ORDER_SHIPPED = "order.shipped", "Order shipped"
    ORDER_DELIVERED = "order.delivered", "Order delivered"
    ORDER_CANCELLED = "order.cancelled", "Order cancelled"
    ORDER_REST_CANCELLED = "order.rest_cancelled", "Unshipped rest of the order cancelled"
    ORDER_EXCEPTION = "order.exception", "Order exception"
    SHIPMENT_CREATED = "shipment.created", "Shipment created"
    SHIPMENT_TRACKING_UPDATED = "shipment.tracking_updated", "Shipment tracking updated"
    RETURN_CREATED = "return.created", "Return created"
    RETURN_RECEIVED = "return.received", "Return received"
    INBOUND_RECEIVED = "inbound.received", "Inbound shipment received"
    STOCK_CHANGED = "stock.changed", "Stock changed"
    STOCK_LOW = "stock.low", "Stock low"
