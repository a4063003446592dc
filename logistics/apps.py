from django.apps import AppConfig


class LogisticsConfig(AppConfig):
    name = "logistics"

    def ready(self) -> None:
        from django.db.models.signals import post_save

        from logistics.signals import order_event_saved
        from orders.models import OrderEvent

        # Cancellation is owned by orders; the partner hears about it from its
        # timeline entry, so no cancel path can forget the notification.
        post_save.connect(
            order_event_saved, sender=OrderEvent, dispatch_uid="logistics_order_cancelled"
        )
