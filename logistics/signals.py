"""Reactions to other domains' events (kept to the one that has no service hook)."""

from __future__ import annotations

from orders.models import Order, OrderEvent


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
