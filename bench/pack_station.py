"""The pack station's two costly steps (issue 21): buying labels and building waves.

--part label: the label purchase round trip (logistics.services.labels.label_purchase_buy:
the attempt row committed, karrio's DHL Parcel DE connector, the answer stored) against
a local fake carrier (the sandbox's carrier, sandbox/carrier.py) answering every request
in 300 ms. Two parcels per shipment. karrio's connectors are loaded first (a one-off
cost per process, reported apart); the OAuth token is fetched once and cached, as in
production. Target: p95 < 600 ms.

--part waves: building waves over open shipments (added with the picking work).

    DATABASE_URL=... uv run python bench/pack_station.py --part label --purchases 50
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


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--part", choices=["label", "waves"], default="label")
    parser.add_argument("--purchases", type=int, default=50)
    parser.add_argument("--latency-ms", type=float, default=300.0)
    args = parser.parse_args()
    if args.part == "label":
        return bench_label(purchases=args.purchases, latency_ms=args.latency_ms)
    print("--part waves: not part of this script yet (the picking work adds it).")
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
