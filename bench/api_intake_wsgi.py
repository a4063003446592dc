"""WSGI entry point of bench/api_intake.py (its settings add the floor view)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.api_intake_settings")

application = get_wsgi_application()

if os.environ.get("BENCH_SKIP_FULFIL") == "1":
    # The "intake-nofulfil" phase: the API's own work without allocation and
    # shipment planning (other modules), to compare like with like to the floor.
    import orders.services.intake

    orders.services.intake.order_fulfil = lambda *, order, **kwargs: order
