from django.apps import AppConfig


class ReturnsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "returns"
    verbose_name = "Returns (RMA)"

    def ready(self) -> None:
        from logistics import hooks
        from returns.services import return_tracking

        # Tracking ingestion (logistics) reports return parcels through this port; see
        # logistics.hooks.ReturnTracking for when it is called.
        hooks.return_tracking.register(return_tracking)
