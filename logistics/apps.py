from django.apps import AppConfig


class LogisticsConfig(AppConfig):
    name = "logistics"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from logistics.models import Provider
        from logistics.signals import order_event_saved, provider_saved
        from orders.models import OrderEvent

        # Cancellation is owned by orders; the partner hears about it from its
        # timeline entry, so no cancel path can forget the notification.
        post_save.connect(
            order_event_saved, sender=OrderEvent, dispatch_uid="logistics_order_cancelled"
        )
        # A provider edited in the admin (secret rotated, deactivated) takes effect at once
        # in this process; other web processes see it within PROVIDER_CACHE_SECONDS.
        post_save.connect(provider_saved, sender=Provider, dispatch_uid="logistics_provider_saved")
        post_delete.connect(
            provider_saved, sender=Provider, dispatch_uid="logistics_provider_deleted"
        )
