"""Shipping documents: milliseconds to render a commercial invoice and a packing slip.

Builds one cross-border shipment with --lines lines inside a transaction that is
rolled back (nothing is left in the database), renders each document --rounds
times and prints the median and p95 per document and the PDF sizes.

    DATABASE_URL=... uv run python bench/documents.py --lines 40 --rounds 50
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DJANGO_DEBUG", "true")  # a development tool: production is the default

import django  # noqa: E402

django.setup()

from decimal import Decimal  # noqa: E402

from django.db import transaction  # noqa: E402

from inventory.models import Product, Warehouse  # noqa: E402
from logistics.documents import shipment_document_pdf  # noqa: E402
from logistics.models import Provider, Shipment, ShipmentLine  # noqa: E402
from logistics.services.customs import customs_declaration_build  # noqa: E402
from orders.models import Channel, Order, OrderLine  # noqa: E402


class Rollback(Exception):  # noqa: N818 - control flow
    pass


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=50)
    args = parser.parse_args()
    try:
        with transaction.atomic():
            run(args.lines, args.rounds)
            raise Rollback
    except Rollback:
        pass
    return 0


def run(lines: int, rounds: int) -> None:
    from django.utils import timezone

    channel = Channel.objects.create(code="bench-docs", name="Bench")
    warehouse = Warehouse.objects.create(code="bench-docs", name="Bench DC", country="NL")
    provider = Provider.objects.create(code="bench-docs", name="Bench LSP")
    order = Order.objects.create(
        number="CS-BENCHDOC",
        channel=channel,
        external_reference="BENCH-DOC",
        currency="EUR",
        customer_email="b@example.com",
        customer_name="Bench",
        shipping_name="Bench",
        shipping_line1="1 Main St",
        shipping_city="New York",
        shipping_postcode="10001",
        shipping_country="US",
        placed_at=timezone.now(),
    )
    shipment = Shipment.objects.create(order=order, warehouse=warehouse, provider=provider)
    for n in range(1, lines + 1):
        product = Product.objects.create(
            sku=f"BENCH-DOC-{n:04d}",
            name=f"Bench product {n}",
            hs_code="610910",
            country_of_origin="PT",
            customs_value=Decimal("12.50"),
            customs_currency="EUR",
            weight_grams=200,
        )
        line = OrderLine.objects.create(
            order=order,
            line_number=n,
            product=product,
            sku=product.sku,
            quantity=2,
            unit_price=Decimal("19.95"),
        )
        ShipmentLine.objects.create(shipment=shipment, order_line=line, quantity=2)
    customs_declaration_build(shipment=shipment)
    shipment = Shipment.objects.select_related("order__channel", "warehouse", "provider").get(
        pk=shipment.pk
    )
    for kind in ("commercial-invoice", "packing-slip"):
        times, size = [], 0
        for _ in range(rounds):
            started = time.perf_counter()
            content, _ = shipment_document_pdf(shipment=shipment, kind=kind)
            times.append((time.perf_counter() - started) * 1000)
            size = len(content)
        times.sort()
        p95 = times[max(0, int(len(times) * 0.95) - 1)]
        print(  # noqa: T201
            f"{kind:20s} {lines} lines: median {statistics.median(times):6.1f} ms, "
            f"p95 {p95:6.1f} ms, {size / 1024:.1f} KiB"
        )


if __name__ == "__main__":
    raise SystemExit(main())
