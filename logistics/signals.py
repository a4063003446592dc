"""Reactions to other domains' events (kept to the one that has no service hook)."""

from __future__ import annotations

from django.dispatch import Signal

from orders.models import Order, OrderEvent

# Sent (inside the tracking transaction, order and shipment locked) when a return
# shipment gets a new latest status. Arguments: shipment, status (TrackingStatus),
# occurred_at. The returns app listens; logistics does not import it.
return_shipment_tracked = Signal()


def order_event_saved(sender, instance: OrderEvent, created: bool, **kwargs) -> None:
    if not created or instance.type != OrderEvent.Type.STATUS_CHANGED:
        return
    if instance.parameters.get("new_status") != Order.Status.CANCELLED:
        return
    from logistics.services.partner_webhooks import Event, partner_webhook_enqueue

    partner_webhook_enqueue(order=instance.order, event=Event.ORDER_CANCELLED)


def provider_saved(sender, **kwargs) -> None:
    from logistics.views import provider_cache_clear

    provider_cache_clear()
