"""The pack station's two costly steps (issue 21): buying labels and building waves.

--part label: the label purchase round trip (logistics.services.labels.label_purchase_buy:
the attempt row committed, karrio's DHL Parcel DE connector, the answer stored) against
a local fake carrier (the sandbox's carrier, sandbox/carrier.py) answering every request
in 300 ms. Two parcels per shipment. karrio's connectors are loaded first (a one-off
cost per process, reported apart); the OAuth token is fetched once and cached, as in
production. Target: p95 < 600 ms.

--part waves: building pick waves over --shipments open own-site shipments (target
< 2 s). Seeds an own site with --bins bins and --products products put away in them, and
--shipments `pending` shipments of one to three lines each, inside a transaction that is
rolled back (nothing is left in the database); times
logistics.services.picking.waves_build --rounds times (each round rolled back to a
savepoint) and prints the median, the worst and the waves built.

    DATABASE_URL=... uv run python bench/pack_station.py --part label --purchases 50
    DATABASE_URL=... uv run python bench/pack_station.py --part waves --shipments 2000
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time

from _logistics_common import bulk_shipments, percentile


def bench_label(*, purchases: int, latency_ms: float) -> int:
    from django.conf import settings

    from logistics.adapters.base import ParcelSpec
    from logistics.adapters.karrio_transport import warm_up
    from logistics.models import CarrierAccount, Provider, Shipment
    from logistics.services.labels import label_purchase_buy
    from orders.models import Order
    from sandbox.server import SandboxConfig, make_server

    started = time.perf_counter()
    warm_up()
    load_seconds = time.perf_counter() - started

    server, box = make_server(
        SandboxConfig(port=0, webhooks=False, step_seconds=3600, latency_ms=latency_ms)
    )
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    settings.OUTBOUND_ALLOW_HOSTS = [*settings.OUTBOUND_ALLOW_HOSTS, f"127.0.0.1:{box.config.port}"]
    try:
        tag = f"label{box.config.port}"
        provider, _ = Provider.objects.get_or_create(
            code=f"bench-{tag}",
            defaults={"name": "bench carrier", "kind": "carrier", "adapter": "karrio"},
        )
        account = CarrierAccount.objects.create(
            provider=provider,
            code=f"bench-{tag}",
            carrier_name="dhl_parcel_de",
            account_number="33333333330102",
            credentials='{"username": "b", "password": "b", "client_id": "b", '
            '"client_secret": "b"}',
            base_url=box.base_url,
            connector_settings={"account_country_code": "NL"},
        )
        created = bulk_shipments(count=purchases + 1, provider=provider, status="pending", tag=tag)
        # The bench orders have no postcode; DHL refuses a label without one.
        Order.objects.filter(channel__code=f"bench-{tag}").update(shipping_postcode="1011 AB")
        shipments = list(
            Shipment.objects.filter(pk__in=[s.pk for s in created])
            .select_related("order", "warehouse")
            .order_by("pk")
        )
        parcels = [
            ParcelSpec(
                weight_grams=1500,
                length_mm=300,
                width_mm=200,
                height_mm=150,
                reference=f"bench/{i}",
            )
            for i in (1, 2)
        ]
        timings = []
        for index, shipment in enumerate(shipments):
            began = time.perf_counter()
            purchase = label_purchase_buy(
                shipment=shipment,
                carrier_account=account,
                parcels=parcels,
                service="dhl_parcel_de_paket",
            )
            elapsed = time.perf_counter() - began
            assert len(purchase.tracking_numbers) == 2  # noqa: S101
            if index:  # the first one also fetches the OAuth token
                timings.append(elapsed)
    finally:
        server.shutdown()
        box.stop()
        server.server_close()
    ms = [t * 1000 for t in timings]
    print(f"karrio connectors loaded in {load_seconds:.2f} s (once per process)")
    print(
        f"label purchase, 2 parcels, carrier at {latency_ms:.0f} ms, n={len(ms)}: "
        f"p50 {statistics.median(ms):.0f} ms, p95 {percentile(ms, 95):.0f} ms, "
        f"max {max(ms):.0f} ms (target p95 < 600 ms)"
    )
    return 0 if percentile(ms, 95) < 600 else 1


# --- waves: imports after django.setup() (in _logistics_common) --------------------

import datetime as dt  # noqa: E402
import random  # noqa: E402
from decimal import Decimal  # noqa: E402

from django.db import transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

from inventory.models import Bin, Product, Warehouse  # noqa: E402
from inventory.services.bins import bin_putaway  # noqa: E402
from inventory.services.stock import stock_receive  # noqa: E402
from logistics.models import Provider, ServiceLevel, Shipment, ShipmentLine  # noqa: E402
from logistics.services.picking import waves_build  # noqa: E402
from orders.models import Channel, Order, OrderLine  # noqa: E402

# --- waves ----------------------------------------------------------------------------


def _seed_site(*, bins: int, products: int) -> tuple[Warehouse, list[Product]]:
    site = Warehouse.objects.create(
        code="bench-pick", name="Bench own DC", country="NL", kind=Warehouse.Kind.OWN
    )
    zones = ["A", "B", "C", "D"]
    shelf = Bin.objects.bulk_create(
        [
            Bin(warehouse=site, code=f"{zones[n % 4]}-{n:04d}", zone=zones[n % 4], pick_sequence=n)
            for n in range(bins)
        ]
    )
    items = Product.objects.bulk_create(
        [Product(sku=f"BENCH-PICK-{n:05d}", name=f"Bench item {n}") for n in range(products)]
    )
    for n, product in enumerate(items):
        # Enough for every shipment, in two bins of the path.
        stock_receive(product=product, warehouse=site, quantity=400, reference="bench")
        bin_putaway(warehouse=site, product=product, bin=shelf[n % bins], quantity=200)
        bin_putaway(warehouse=site, product=product, bin=shelf[(n * 7 + 3) % bins], quantity=200)
    return site, items


def _seed_shipments(*, site: Warehouse, items: list[Product], count: int) -> None:
    rng = random.Random(21)
    channel = Channel.objects.create(code="bench-pick", name="Bench")
    provider = Provider.objects.create(code="bench-pick", name="Bench carrier")
    levels = [
        ServiceLevel.objects.create(provider=provider, code=code, name=code)
        for code in ("standard", "express")
    ]
    now = timezone.now()
    today = timezone.localdate()
    orders = Order.objects.bulk_create(
        [
            Order(
                number=f"CS-BPICK{n:06d}",
                channel=channel,
                external_reference=f"BENCH-PICK-{n}",
                status=Order.Status.IN_FULFILMENT,
                currency="EUR",
                customer_email="b@example.com",
                customer_name="Bench",
                shipping_name="Bench",
                shipping_line1="1 Main St",
                shipping_city="Utrecht",
                shipping_postcode="3511 AA",
                shipping_country="NL",
                placed_at=now,
            )
            for n in range(count)
        ]
    )
    lines: list[OrderLine] = []
    for order in orders:
        for number, product in enumerate(rng.sample(items, rng.randint(1, 3)), start=1):
            lines.append(
                OrderLine(
                    order=order,
                    line_number=number,
                    product=product,
                    sku=product.sku,
                    quantity=rng.randint(1, 2),
                    unit_price=Decimal("9.95"),
                )
            )
    OrderLine.objects.bulk_create(lines, batch_size=2000)
    shipments = Shipment.objects.bulk_create(
        [
            Shipment(
                order=order,
                warehouse=site,
                provider=provider,
                service_level=rng.choice(levels),
                ship_by=today + dt.timedelta(days=rng.randint(0, 2)),
            )
            for order in orders
        ],
        batch_size=2000,
    )
    by_order = {s.order_id: s for s in shipments}
    ShipmentLine.objects.bulk_create(
        [
            ShipmentLine(shipment=by_order[ln.order_id], order_line=ln, quantity=ln.quantity)
            for ln in lines
        ],
        batch_size=2000,
    )


def bench_waves(args: argparse.Namespace) -> int:
    print(  # noqa: T201
        f"seeding {args.shipments} shipments, {args.products} products in {args.bins} bins…"
    )
    site, items = _seed_site(bins=args.bins, products=args.products)
    _seed_shipments(site=site, items=items, count=args.shipments)
    times: list[float] = []
    built = 0
    for _ in range(args.rounds):
        sid = transaction.savepoint()
        started = time.perf_counter()
        waves = waves_build(
            warehouse=site, max_shipments=args.max_shipments, max_units=args.max_units
        )
        times.append(time.perf_counter() - started)
        built = len(waves)
        transaction.savepoint_rollback(sid)
    print(  # noqa: T201
        f"waves_build over {args.shipments} open shipments: median {statistics.median(times):.3f} s, "
        f"worst {max(times):.3f} s ({built} waves of <= {args.max_shipments} shipments / "
        f"{args.max_units} units; target < 2 s)"
    )
    return 0 if statistics.median(times) < 2 else 1


class Rollback(Exception):  # noqa: N818 - control flow
    pass


def bench_waves_rolled_back(args: argparse.Namespace) -> int:
    try:
        with transaction.atomic():
            code = bench_waves(args)
            raise Rollback
    except Rollback:
        pass
    return code


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--part", choices=["label", "waves"], default="label")
    parser.add_argument("--purchases", type=int, default=50)
    parser.add_argument("--latency-ms", type=float, default=300.0)
    parser.add_argument("--shipments", type=int, default=2000)
    parser.add_argument("--products", type=int, default=300)
    parser.add_argument("--bins", type=int, default=400)
    parser.add_argument("--max-shipments", type=int, default=25)
    parser.add_argument("--max-units", type=int, default=250)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    if args.part == "label":
        return bench_label(purchases=args.purchases, latency_ms=args.latency_ms)
    return bench_waves_rolled_back(args)


if __name__ == "__main__":
    raise SystemExit(main())
