from django.apps import AppConfig


class OrdersConfig(AppConfig):
    name = "orders"

    def ready(self) -> None:
        from logistics import hooks
        from orders.services.progress import shipment_progress

        # Tracking ingestion (logistics) hands shipment progress to orders through this
        # port; see logistics.hooks.ShipmentProgress for when it is called.
        hooks.shipment_progress.register(shipment_progress)
