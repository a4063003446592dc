from django.apps import AppConfig


class RoutingConfig(AppConfig):
    name = "routing"
    verbose_name = "Routing"

    def ready(self) -> None:
        from orders import hooks
        from routing.router import router

        # Allocation (orders) asks where an order ships from through this port
        # (orders.hooks.Router); routing sits above economics, whose rate cards it prices with.
        hooks.router.register(router)
