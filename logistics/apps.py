from django.apps import AppConfig


class LogisticsConfig(AppConfig):
    name = "logistics"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from logistics.models import Provider
        from logistics.signals import provider_saved

        # A provider edited in the admin (secret rotated, deactivated) takes effect at once
        # in this process; other web processes see it within PROVIDER_CACHE_SECONDS.
        post_save.connect(provider_saved, sender=Provider, dispatch_uid="logistics_provider_saved")
        post_delete.connect(
            provider_saved, sender=Provider, dispatch_uid="logistics_provider_deleted"
        )
