from django.apps import AppConfig


class ReturnsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "returns"
    verbose_name = "Returns (RMA)"

    def ready(self) -> None:
        from logistics.signals import return_shipment_tracked
        from returns.services import return_shipment_tracked_receiver

        return_shipment_tracked.connect(
            return_shipment_tracked_receiver, dispatch_uid="returns.return_shipment_tracked"
        )
