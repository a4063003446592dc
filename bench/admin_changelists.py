"""Time the admin list pages against a big database (e.g. one seeded with --orders 1000000).

    DATABASE_URL=postgres://.../consign_bench uv run python bench/admin_changelists.py

Prints, per changelist (and a few searches), the queries issued and the
median wall time of 5 loads as the demo superuser.
"""

import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DJANGO_DEBUG", "true")  # a development tool: production is the default

import django  # noqa: E402

django.setup()

from django.contrib import admin  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.urls import reverse  # noqa: E402

from logistics.models import Shipment  # noqa: E402
from orders.models import Order  # noqa: E402

APPS = {"orders", "inventory", "logistics"}


def timed(client: Client, url: str, params: dict | None = None) -> tuple[float, int, int]:
    times = []
    for _ in range(5):
        with CaptureQueriesContext(connection) as captured:
            start = time.perf_counter()
            response = client.get(url, params or {})
            times.append(time.perf_counter() - start)
    return statistics.median(times), len(captured.captured_queries), response.status_code


def main() -> None:
    client = Client()
    client.force_login(get_user_model().objects.filter(is_superuser=True).first())
    print(f"orders in database: ~{Order.objects.order_by().values('id').last()['id']:,} (max id)")
    print(f"{'page':<48} {'median ms':>10} {'queries':>8} {'status':>6}")
    for model in sorted(admin.site._registry, key=lambda m: m._meta.label):
        if model._meta.app_label not in APPS:
            continue
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        seconds, queries, status = timed(client, url)
        print(f"{model._meta.label:<48} {seconds * 1000:>10.1f} {queries:>8} {status:>6}")
    order = Order.objects.order_by("-id").first()
    tracking = Shipment.objects.exclude(tracking_number="").order_by("-id").first().tracking_number
    url = reverse("admin:orders_order_changelist")
    searches = {
        "order search: number": order.number,
        "order search: e-mail": order.customer_email,
        "order search: postcode": order.shipping_postcode,
        "order search: phone (local)": order.customer_phone.split(" ", 2)[-1],
        "order search: tracking number": tracking,
        "order search: name": order.customer_name,
        "order filter: status=on_hold": None,
    }
    for label, term in searches.items():
        params = {"q": term} if term else {"status__exact": "on_hold"}
        seconds, queries, status = timed(client, url, params)
        print(f"{label:<48} {seconds * 1000:>10.1f} {queries:>8} {status:>6}")
    big_searches = [
        ("orders_orderline", "SKU", "TSH-M-BLK"),
        ("orders_orderevent", "order number", order.number),
        ("inventory_stockmovement", "SKU", "TSH-M-BLK"),
        ("inventory_allocation", "order number", order.number),
        ("logistics_shipment", "order number", order.number),
        ("logistics_shipment", "tracking number", tracking),
        ("logistics_trackingevent", "tracking number", tracking),
        ("logistics_parcel", "tracking number", tracking),
    ]
    for name, label, term in big_searches:
        seconds, queries, status = timed(client, reverse(f"admin:{name}_changelist"), {"q": term})
        row = f"{name} search: {label}"
        print(f"{row:<48} {seconds * 1000:>10.1f} {queries:>8} {status:>6}")
    seconds, queries, status = timed(client, reverse("admin:orders_order_change", args=[order.pk]))
    print(f"{'order change page':<48} {seconds * 1000:>10.1f} {queries:>8} {status:>6}")


if __name__ == "__main__":
    main()
