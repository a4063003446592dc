from django.apps import AppConfig


class LogisticsConfig(AppConfig):
    name = "logistics"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from inventory.models import Warehouse, WarehouseHoliday
        from logistics.models import Provider, ServiceLevel, TransitTime
        from logistics.signals import promise_tables_changed, provider_saved

        # A provider edited in the admin (secret rotated, deactivated) takes effect at once
        # in this process; other web processes see it within PROVIDER_CACHE_SECONDS.
        post_save.connect(provider_saved, sender=Provider, dispatch_uid="logistics_provider_saved")
        post_delete.connect(
            provider_saved, sender=Provider, dispatch_uid="logistics_provider_deleted"
        )
        # Calendars and transit times edited in the admin count at once in this process
        # (logistics.promise_tables); a cache, not a domain side effect.
        for model in (Warehouse, WarehouseHoliday, TransitTime, ServiceLevel):
            name = model._meta.label_lower
            post_save.connect(
                promise_tables_changed, sender=model, dispatch_uid=f"promise_tables_saved_{name}"
            )
            post_delete.connect(
                promise_tables_changed, sender=model, dispatch_uid=f"promise_tables_deleted_{name}"
            )
