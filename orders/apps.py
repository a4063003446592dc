from django.apps import AppConfig


class OrdersConfig(AppConfig):
    name = "orders"

    def ready(self) -> None:
        from inventory import hooks as inventory_hooks
        from logistics import hooks
        from orders import shipment_events
        from orders.services.allocation import restock_hook, shortfall_hook
        from orders.services.dispatch_gate import order_dispatch_gate
        from orders.services.progress import shipment_progress
        from orders.services.short_pick import pick_shortfall_hook
        from orders.services.stock_events import stock_low

        # Tracking ingestion (logistics) hands shipment progress to orders through this
        # port; see logistics.hooks.ShipmentProgress for when it is called.
        hooks.shipment_progress.register(shipment_progress)
        # Dispatch and re-route ask the order's state under its lock, and record the
        # order's timeline entries, through these (logistics.hooks.OrderGate, OrderTimeline).
        hooks.order_gate.register(order_dispatch_gate)
        hooks.order_timeline.register(shipment_events)
        # A short pick at an own site re-allocates the missing units (logistics.hooks).
        hooks.pick_shortfall.register(pick_shortfall_hook)

        # The stock engine's two questions for the order workflow (inventory/hooks.py).
        inventory_hooks.restock.register(restock_hook)
        inventory_hooks.shortfall.register(shortfall_hook)
        # Levels that just went low: the channels selling from them hear of it (stock.low).
        inventory_hooks.stock_low.register(stock_low)
