"""Routing: the decision's latency with many sites and rules, and intake with a rule set.

    uv run python bench/routing.py --part decision [--decisions 3000] [--warmup 300]
                                   [--allocations 600] [--rounds 3]
    uv run python bench/routing.py --part intake [--orders 1000000] [--duration 30]
                                   [--concurrency 16] [--rounds 6]
    uv run python bench/routing.py --part whatif [--whatif-orders 100000]

decision: its own database (BENCH_DATABASE_URL, default consign_routing_bench on the
local Postgres; created and migrated if missing, seeded once): 5 providers operating
50 sites (10 each) in 15 countries, each site with a calendar (time zone, cut-off,
working days, holidays), a rate card per provider (4 zones x 5 weight bands, remote
areas, fuel, customs), transit times per provider and zone, one channel with all 50
sites eligible, 500 products (some tagged), stock spread so that about a third of the
multi-line orders need a split, and a published rule set of 200 rules (most of them
matching no typical order, so the matcher walks far; a few only/prefer/exclude, every
objective; default cheapest_on_time). Then `routing.router.decision_for` on realistic
orders (1-5 lines, eight destination countries weighted as the demo's) with the tables
loaded once, as the cached production path has them: p50/p95/p99 over --decisions
decisions after --warmup unmeasured ones, in --rounds slices. For context the same
through `orders.services.allocation.order_allocate` (lock, stock read, route, reserve,
events, commit) on --allocations orders created for it.

The decision's wall time on a shared machine includes the time it spent descheduled;
its CPU time (thread time) is printed beside it.

intake: bench/api_intake.py's intake and floor phases in their own database
(BENCH_DATABASE_URL, default consign_routing_intake_bench; api_intake fills it with
--orders orders the first time) with a published rule set of 20 rules, three eligible
sites with calendars, transit times, a rate card and a site cost in place; the command
it runs is printed first. --baseline: the same with the rule set retired for the run
(the built-in routing: channel priority), for comparison on the same data.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import os
import random
import statistics
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/consign_routing_bench"
DEFAULT_INTAKE_DB = "postgres://postgres@127.0.0.1:5432/consign_routing_intake_bench"
TARGETS = {"decision_p95_ms": 15.0, "intake_vs_floor": 0.45}
RULE_SET_NAME = "Routing bench"

PROVIDERS = 5
SITES_PER_PROVIDER = 10
PRODUCTS = 500
RULES = 200
SITE_COUNTRIES = ["NL", "DE", "BE", "FR", "PL", "IT", "ES", "AT", "CZ", "DK", "SE", "PT", "IE", "GB", "CH"]  # fmt: skip
TIMEZONES = {
    "NL": "Europe/Amsterdam", "DE": "Europe/Berlin", "BE": "Europe/Brussels",
    "FR": "Europe/Paris", "PL": "Europe/Warsaw", "IT": "Europe/Rome", "ES": "Europe/Madrid",
    "AT": "Europe/Vienna", "CZ": "Europe/Prague", "DK": "Europe/Copenhagen",
    "SE": "Europe/Stockholm", "PT": "Europe/Lisbon", "IE": "Europe/Dublin",
    "GB": "Europe/London", "CH": "Europe/Zurich",
}  # fmt: skip
EU = ["NL", "DE", "BE", "LU", "FR", "PL", "IT", "ES", "AT", "CZ", "DK", "SE", "PT", "IE"]
OUTSIDE = ["GB", "CH", "NO"]
WEIGHT_BANDS: list[int | None] = [2_000, 5_000, 10_000, 31_500, None]
TAGS = ["fragile", "bulky", "hazmat", "cold"]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", choices=["decision", "intake", "whatif"], required=True)
    parser.add_argument("--decisions", type=int, default=3000, help="Measured decisions.")
    parser.add_argument("--warmup", type=int, default=300, help="Unmeasured decisions first.")
    parser.add_argument(
        "--allocations", type=int, default=600, help="Orders allocated via order_allocate."
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=None,
        help="Measurements in this many slices (default: decision 3, intake 6 as api_intake).",
    )
    parser.add_argument("--seed", type=int, default=20261207)
    parser.add_argument("--profile", action="store_true", help="cProfile the decisions.")
    # intake (passed on to bench/api_intake.py)
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument(
        "--baseline", action="store_true", help="intake: without the rule set, for comparison."
    )
    parser.add_argument(
        "--whatif-orders", type=int, default=100_000, help="whatif: at least this many orders."
    )
    return parser.parse_args()


def database_url(default: str) -> str:
    return os.environ.get("BENCH_DATABASE_URL", default)


def ensure_database(url: str) -> None:
    import psycopg

    parts = urlparse(url)
    name = parts.path.lstrip("/")
    admin = parts._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--verbosity", "0"],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": url, "DJANGO_DEBUG": "true"},
        check=True,
    )


def setup_django(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("DJANGO_DEBUG", "true")  # a development tool
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    # Celery tasks enqueued on commit (a card's repricing job) must not need a broker.
    os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "true")
    import django

    django.setup()


def quantiles(ms: list[float]) -> tuple[float, float, float]:
    cuts = statistics.quantiles(ms, n=100, method="inclusive")
    return cuts[49], cuts[94], cuts[98]


# --- seeding -------------------------------------------------------------------------


def rate_card_csv(*, zones: dict[str, list[str]], factor: Decimal, valid_from: dt.date) -> str:
    """A card as rate_card_import reads it: zones, parcel bands, surcharges."""
    from core.csv_safe import csv_writer
    from economics.services.rate_card_csv import COLUMNS

    out = io.StringIO()
    writer = csv_writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)

    def row(record: str, **values: object) -> None:
        writer.writerow([record, *(values.get(column, "") for column in COLUMNS[1:])])

    row("card", name="Bench rates", currency="EUR", valid_from=valid_from.isoformat())
    for code, countries in zones.items():
        row("zone", code=code, name=code, countries=" ".join(countries))
    row("rule", name="Fulfilment", charge_type="fulfilment", amount=f"{1.8 * float(factor):.2f}")
    row("rule", name="Additional unit", charge_type="additional_unit", amount="0.30",
        included_units=1)  # fmt: skip
    base = {"home": 3.6, "near": 5.2, "eu": 7.6, "intl": 12.0}
    for zone in zones:
        start = 0
        for step, upper in enumerate(WEIGHT_BANDS):
            price = Decimal(str(base[zone] * (1 + 0.3 * step))) * factor
            row("rule", name=f"Parcel {zone} {step}", charge_type="parcel", zone=zone,
                weight_from_grams=start, weight_to_grams=upper or "",
                amount=f"{price:.2f}")  # fmt: skip
            start = upper or start
    row("rule", name="Remote", charge_type="remote_area", zone="home", amount="3.50",
        postcode_prefixes="1791 1792 25849 HS ZE")  # fmt: skip
    row("rule", name="Customs declaration", charge_type="customs", amount="4.50")
    row("rule", name="Fuel", charge_type="surcharge", percent="8.5", applies_to="parcel")
    return out.getvalue()


def provider_zones(site_countries: list[str]) -> dict[str, list[str]]:
    """home: the EU countries it has sites in; near: three more; eu: the rest; intl."""
    home = sorted(set(site_countries) - set(OUTSIDE))
    rest = [c for c in EU if c not in home]
    zones = {"home": home, "near": rest[:3], "eu": rest[3:], "intl": OUTSIDE}
    return {code: countries for code, countries in zones.items() if countries}


def _seed_sites(rng: random.Random) -> tuple[list, list]:
    from inventory.models import Warehouse, WarehouseHoliday
    from logistics.models import Provider, ServiceLevel, TransitTime

    providers, sites = [], []
    year = dt.datetime.now(dt.UTC).date().year
    for p in range(PROVIDERS):
        provider = Provider.objects.create(
            code=f"lsp{p + 1}", name=f"Bench LSP {p + 1}", base_url="http://127.0.0.1:9"
        )
        ServiceLevel.objects.create(provider=provider, code="standard", name="Standard")
        ServiceLevel.objects.create(provider=provider, code="express", name="Express")
        providers.append(provider)
        countries = SITE_COUNTRIES[p * 3 :] + SITE_COUNTRIES[: p * 3]
        for s in range(SITES_PER_PROVIDER):
            country = countries[s % len(countries)]
            site = Warehouse.objects.create(
                code=f"b{p + 1}-{s + 1:02d}",
                name=f"Bench site {p + 1}/{s + 1}",
                kind=Warehouse.Kind.LSP,
                provider=provider,
                country=country,
                city="Bench",
                postcode="1000",
                line1="Benchweg 1",
                timezone=TIMEZONES[country],
                cutoff_time=dt.time(rng.choice([14, 15, 16, 17]), rng.choice([0, 30])),
                working_days=[1, 2, 3, 4, 5] if s % 3 else [1, 2, 3, 4, 5, 6],
            )
            WarehouseHoliday.objects.bulk_create(
                WarehouseHoliday(warehouse=site, date=day, name=name)
                for day, name in [
                    (dt.date(year, 12, 25), "Christmas"),
                    (dt.date(year, 12, 26), "Boxing day"),
                    (dt.date(year + 1, 1, 1), "New year"),
                ]
            )
            sites.append(site)
        # Home: the countries it has sites in; then near, the rest of the EU, outside.
        zones = provider_zones([s.country for s in sites[-SITES_PER_PROVIDER:]])
        for zone, days in [("home", 1), ("near", 2), ("eu", 3)]:
            if zones.get(zone):
                TransitTime.objects.create(provider=provider, countries=zones[zone], days=days)
        TransitTime.objects.create(provider=provider, countries=OUTSIDE, days=4)
        TransitTime.objects.create(provider=provider, countries=[], days=3)
        TransitTime.objects.create(
            provider=provider,
            service_level=provider.service_levels.get(code="express"),
            countries=[],
            days=1,
        )
    return providers, sites


def _seed_cards(providers: list) -> None:
    from economics.services.rate_card_csv import rate_card_import
    from economics.services.rate_cards import rate_card_activate

    valid_from = dt.date(dt.datetime.now(dt.UTC).date().year - 1, 1, 1)
    for index, provider in enumerate(providers):
        zones = provider_zones(list(provider.warehouses.values_list("country", flat=True)))
        card = rate_card_import(
            provider_id=provider.pk,
            text=rate_card_csv(
                zones=zones, factor=Decimal("1") + Decimal(index) / 20, valid_from=valid_from
            ),
        )
        rate_card_activate(card_id=card.pk, actor="bench")


def _seed_catalogue(rng: random.Random, sites: list) -> list:
    from inventory.models import Product, StockLevel

    products = Product.objects.bulk_create(
        Product(
            sku=f"RB-{i:04d}",
            name=f"Routing bench product {i}",
            weight_grams=rng.choice([120, 300, 650, 1200, 2500, 6000]),
            tags=[TAGS[i % len(TAGS)]] if i % 9 == 0 else [],
        )
        for i in range(PRODUCTS)
    )
    # Each product at about a third of the sites, in plenty: multi-line orders often find
    # no single site holding everything (a split), and nothing runs out during a run.
    StockLevel.objects.bulk_create(
        StockLevel(product=product, warehouse=site, on_hand=1_000_000)
        for product in products
        for site in sites
        if rng.random() < 0.33
    )
    return products


def _rule(index: int, rng: random.Random, sites: list, providers: list, channels: list[str]):
    """One of 200 rules: mostly conditions no typical order meets, some that some do."""
    from routing.models import Rule

    kind = index % 10
    site_codes = [s.code for s in rng.sample(sites, 3)]
    provider_code = providers[index % len(providers)].code
    objective = ["", "cheapest", "fastest", "cheapest_on_time", "priority"][index % 5]
    common = {"name": f"Bench rule {index + 1}", "objective": objective}
    if index >= RULES - 12:
        # The last few: broad country rules most orders end at, every site action.
        country = ["NL", "DE", "GB", "FR", "BE", "ES", "IT", "PL"][index % 8]
        action = ["prefer", "only", "exclude", "prefer"][index % 4]
        if country == "GB":
            return Rule(countries=["GB"], customs_required=True, action="exclude", **common)
        return Rule(countries=[country], action=action, providers=[provider_code], **common)
    if kind == 0:
        return Rule(channels=[rng.choice(channels)], action="only", sites=site_codes, **common)
    if kind == 1:
        return Rule(countries=[rng.choice(["MT", "CY", "LV", "LT", "EE"])], **common)
    if kind == 2:
        return Rule(postcode_prefixes=[f"9{rng.randrange(1000):03d}X"], action="prefer",
                    providers=[provider_code], **common)  # fmt: skip
    if kind == 3:
        return Rule(skus=[f"RB-X{rng.randrange(10000):04d}"], action="exclude",
                    sites=site_codes, **common)  # fmt: skip
    if kind == 4:
        return Rule(min_order_value=Decimal(50_000 + index), **common)
    if kind == 5:
        return Rule(max_weight_grams=rng.randrange(1, 50), split_policy="complete", **common)
    if kind == 6:
        return Rule(tags=["hazmat"], countries=["NO"], action="only", providers=[provider_code],
                    **common)  # fmt: skip
    if kind == 7:
        return Rule(service_levels=["express"], countries=["CH"], **common)
    if kind == 8:
        return Rule(countries=["DE"], min_weight_grams=40_000 + index, split_policy="max_shipments",
                    max_shipments=2, **common)  # fmt: skip
    return Rule(channels=[rng.choice(channels)], tags=["cold"], action="prefer",
                sites=site_codes, **common)  # fmt: skip


def seed_decision_world(seed: int) -> None:
    """The 50-site world, once (a database that has the bench rule set is kept)."""
    from django.db import transaction

    from orders.models import Channel, ChannelWarehouse
    from routing.models import RuleSet
    from routing.services.rulesets import rule_save, ruleset_draft_create, ruleset_publish

    if RuleSet.objects.filter(name=RULE_SET_NAME, status=RuleSet.Status.PUBLISHED).exists():
        return
    rng = random.Random(seed)
    started = time.monotonic()
    with transaction.atomic():
        providers, sites = _seed_sites(rng)
        _seed_cards(providers)
        _seed_catalogue(rng, sites)
        channel = Channel.objects.create(code="rbench", name="Routing bench")
        others = [
            Channel.objects.create(code=f"rother{i}", name=f"Other {i}").code for i in range(5)
        ]
        order = sites[:]
        rng.shuffle(order)
        ChannelWarehouse.objects.bulk_create(
            ChannelWarehouse(channel=channel, warehouse=site, priority=10 * (i + 1))
            for i, site in enumerate(order)
        )
        draft = ruleset_draft_create(name=RULE_SET_NAME, actor="bench")
        draft.default_objective = "cheapest_on_time"
        draft.save()
        for index in range(RULES):
            rule_save(rule_set_id=draft.pk, rule=_rule(index, rng, sites, providers, others))
        ruleset_publish(rule_set_id=draft.pk, actor="bench")
    print(f"seeded the 50-site world in {time.monotonic() - started:.1f} s", flush=True)


# --- decision ------------------------------------------------------------------------


def _orders(rng: random.Random, count: int):
    """Unsaved orders with their allocation lines, needs and stock: what the router gets."""
    from demo import pools
    from inventory.models import Product, StockLevel
    from logistics.models import ServiceLevel
    from orders.models import Channel, Order
    from orders.services.allocation_policy import AllocationLine

    channel = Channel.objects.get(code="rbench")
    sites = list(
        channel.fulfilment_rules.order_by("priority").values_list("warehouse_id", "warehouse__code")
    )
    products = list(Product.objects.filter(sku__startswith="RB-").order_by("pk"))
    stock: dict[int, dict[int, int]] = {}
    for product_id, warehouse_id, on_hand, reserved in StockLevel.objects.values_list(
        "product_id", "warehouse_id", "on_hand", "reserved"
    ):
        stock.setdefault(product_id, {})[warehouse_id] = on_hand - reserved
    levels = list(ServiceLevel.objects.values_list("pk", flat=True))
    countries = list(pools.COUNTRY_WEIGHTS)
    weights = list(pools.COUNTRY_WEIGHTS.values())
    made = []
    for n in range(count):
        country = rng.choices(countries, weights)[0]
        city, region, pattern = rng.choice(pools.CITIES[country])
        postcode = "".join(
            str(rng.randrange(10)) if ch == "9" else ("K" if ch == "A" else ch)
            for ch in pattern.replace("[", "").replace("]", "")
        )
        count_lines = rng.choices((1, 2, 3, 4, 5), weights=(45, 30, 14, 7, 4))[0]
        picked = rng.sample(products, count_lines)
        lines = [
            AllocationLine(
                id=n * 10 + i,
                line_number=i + 1,
                product_id=p.pk,
                sku=p.sku,
                quantity=rng.choice((1, 1, 1, 2, 3)),
                taken=0,
                weight_grams=p.weight_grams,
                tags=list(p.tags),
            )
            for i, p in enumerate(picked)
        ]
        order = Order(
            channel=channel,
            number=f"RB{n}",
            currency="EUR",
            total_amount=Decimal(rng.randrange(1500, 40000)) / 100,
            shipping_name="Bench",
            shipping_line1="1 Bench Street",
            shipping_city=city,
            shipping_postcode=postcode,
            shipping_country=country,
            service_level_id=rng.choice([None, *levels]),
            placed_at=dt.datetime.now(dt.UTC),
        )
        needs = {line.product_id: line.quantity for line in lines}
        available = {(p, w): q for p in needs for w, q in stock.get(p, {}).items() if q > 0}
        made.append((order, lines, needs, available))
    return sites, made


def _create_orders(rng: random.Random, count: int) -> list:
    """Orders in the database, received, for order_allocate."""
    from django.db import transaction

    from orders.models import Order, OrderLine

    _, made = _orders(rng, count)
    stamp = int(time.time())
    with transaction.atomic():
        for index, (order, _lines, _needs, _available) in enumerate(made):
            order.number = f"RB-{stamp}-{index:06d}"
            order.external_reference = order.number
            order.status = Order.Status.RECEIVED
        Order.objects.bulk_create([m[0] for m in made])
        OrderLine.objects.bulk_create(
            OrderLine(
                order=order,
                line_number=line.line_number,
                product_id=line.product_id,
                sku=line.sku,
                quantity=line.quantity,
                unit_price=Decimal("19.95"),
            )
            for order, lines, _needs, _available in made
            for line in lines
        )
    return [m[0] for m in made]


def run_decision(args: argparse.Namespace) -> None:
    from collections import Counter

    url = database_url(DEFAULT_DB)
    ensure_database(url)
    setup_django(url)
    from django.db import connection
    from django.utils import timezone

    from logistics.promise_tables import promise_tables_load
    from orders.models import Order
    from orders.services.allocation import order_allocate
    from routing.router import decision_for
    from routing.tables import tables_load

    seed_decision_world(args.seed)
    rng = random.Random(args.seed + 1)
    tables = tables_load()
    promises = promise_tables_load()
    sites, made = _orders(rng, args.warmup + args.decisions)
    print(
        f"{len(tables.sites)} sites, {len(tables.cards)} rate cards, "
        f"{len(tables.rule_set.rules)} rules (v{tables.rule_set.version}); "
        f"{len(sites)} eligible; {args.decisions} decisions after {args.warmup} warm-up",
        flush=True,
    )

    def decide(item):
        order, lines, needs, available = item
        return decision_for(
            order=order,
            lines=lines,
            needs=needs,
            sites=sites,
            available=available,
            tables=tables,
            promises=promises,
            at=timezone.now(),
        )

    for item in made[: args.warmup]:
        decide(item)
    measured = made[args.warmup :]
    profiler = None
    if args.profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    ms: list[float] = []
    # CPU time as well: on a shared machine a decision descheduled halfway shows the
    # wait in its wall time; the CPU time says what the decision itself costs.
    cpu_ms: list[float] = []
    per_round: list[tuple[float, float, float]] = []
    strategies: Counter[str] = Counter()
    matched: Counter[str] = Counter()
    size = max(1, len(measured) // args.rounds)
    for start in range(0, len(measured), size):
        chunk: list[float] = []
        for item in measured[start : start + size]:
            t0, c0 = time.perf_counter(), time.thread_time()
            decision = decide(item)
            chunk.append((time.perf_counter() - t0) * 1000)
            cpu_ms.append((time.thread_time() - c0) * 1000)
            strategies[decision.plan.strategy] += 1
            matched["default" if decision.rule.id is None else "rule"] += 1
        per_round.append(quantiles(chunk))
        ms += chunk
    if profiler is not None:
        import pstats

        profiler.disable()
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)
    p50, p95, p99 = quantiles(ms)

    verdict = "met" if p95 < TARGETS["decision_p95_ms"] else "MISSED"
    if not args.allocations:
        c50, c95, c99 = quantiles(cpu_ms)
        print(f"decision_for p50/p95/p99 {p50:.2f}/{p95:.2f}/{p99:.2f} ms: {verdict}; "
              f"CPU time {c50:.2f}/{c95:.2f}/{c99:.2f} ms")  # fmt: skip
        return
    # The whole allocation, for context: one transaction per order, as intake runs it.
    orders = _create_orders(random.Random(args.seed + 2), args.allocations)
    connection.close()
    alloc_ms: list[float] = []
    warm = min(50, len(orders) // 4)
    for index, order in enumerate(Order.objects.filter(pk__in=[o.pk for o in orders])):
        t0 = time.perf_counter()
        order_allocate(order=order, actor="bench")
        if index >= warm:
            alloc_ms.append((time.perf_counter() - t0) * 1000)
    statuses = Counter(
        Order.objects.filter(pk__in=[o.pk for o in orders]).values_list("status", flat=True)
    )
    a50, a95, a99 = quantiles(alloc_ms)

    print()
    print(
        f"routing decision, {len(sites)} sites x {PROVIDERS} providers x "
        f"{len(tables.rule_set.rules)} rules; {os.cpu_count()} CPUs"
    )
    print(f"{'':28} {'n':>6} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}")
    print(f"{'decision_for':28} {len(ms):6d} {p50:8.2f} {p95:8.2f} {p99:8.2f}")
    c50, c95, c99 = quantiles(cpu_ms)
    print(f"{'decision_for (CPU time)':28} {len(ms):6d} {c50:8.2f} {c95:8.2f} {c99:8.2f}")
    for index, (r50, r95, r99) in enumerate(per_round, start=1):
        print(f"{'  round ' + str(index):28} {'':6} {r50:8.2f} {r95:8.2f} {r99:8.2f}")
    print(f"{'order_allocate (full path)':28} {len(alloc_ms):6d} {a50:8.2f} {a95:8.2f} {a99:8.2f}")
    print(f"strategies: {dict(strategies)}; matched: {dict(matched)}")
    print(f"allocated orders' statuses: {dict(statuses)}")
    print(f"decision p95 {p95:.2f} ms (target < {TARGETS['decision_p95_ms']:.0f} ms): {verdict}")


# --- intake --------------------------------------------------------------------------


def seed_intake_routing(url: str) -> None:
    """Three sites for api_intake's bench channel, calendars, transit, a card, 20 rules."""
    from django.db import transaction

    from economics.services.rate_card_csv import rate_card_import
    from economics.services.rate_cards import rate_card_activate
    from inventory.models import Product, StockLevel, Warehouse, WarehouseHoliday
    from logistics.models import Provider, ServiceLevel, TransitTime
    from orders.models import Channel, ChannelWarehouse
    from routing.models import Rule, RuleSet, SiteCost
    from routing.services.rulesets import rule_save, ruleset_draft_create, ruleset_publish

    if RuleSet.objects.filter(name=RULE_SET_NAME).exists():
        return
    import api_intake

    year = dt.datetime.now(dt.UTC).date().year
    with transaction.atomic():
        # api_intake.setup_world's objects, made the way it makes them (it gets them later).
        channel, _ = Channel.objects.get_or_create(code="bench", defaults={"name": "Bench"})
        provider, _ = Provider.objects.get_or_create(
            code="benchlsp", defaults={"name": "Bench LSP", "base_url": "http://127.0.0.1:9"}
        )
        ServiceLevel.objects.get_or_create(
            provider=provider, code="standard", defaults={"name": "Standard"}
        )
        own, _ = Warehouse.objects.get_or_create(
            code="bench-wh", defaults={"name": "Bench warehouse", "country": "NL"}
        )
        ChannelWarehouse.objects.get_or_create(channel=channel, warehouse=own)
        lsp_sites = []
        for code, country, zone in [("bench-de", "DE", "Europe/Berlin"),
                                    ("bench-pl", "PL", "Europe/Warsaw")]:  # fmt: skip
            site, _ = Warehouse.objects.get_or_create(
                code=code,
                defaults={
                    "name": f"Bench LSP site {country}",
                    "country": country,
                    "kind": Warehouse.Kind.LSP,
                    "provider": provider,
                    "timezone": zone,
                },
            )
            ChannelWarehouse.objects.get_or_create(
                channel=channel, warehouse=site, defaults={"priority": 20 + len(lsp_sites)}
            )
            lsp_sites.append(site)
        Warehouse.objects.filter(pk=own.pk).update(timezone="Europe/Amsterdam")
        for site in [own, *lsp_sites]:
            for day, name in [(dt.date(year, 12, 25), "Christmas"),
                              (dt.date(year + 1, 1, 1), "New year")]:  # fmt: skip
                WarehouseHoliday.objects.get_or_create(warehouse=site, date=day, name=name)
        SiteCost.objects.get_or_create(
            warehouse=own, defaults={"per_order": "1.20", "per_unit": "0.25", "currency": "EUR"}
        )
        TransitTime.objects.get_or_create(provider=provider, countries=["NL", "BE"], days=1)
        TransitTime.objects.get_or_create(provider=provider, countries=[], days=3)
        existing = set(
            Product.objects.filter(sku__in=api_intake.SKUS).values_list("sku", flat=True)
        )
        Product.objects.bulk_create(
            Product(sku=sku, name=f"Bench product {sku}", weight_grams=300)
            for sku in api_intake.SKUS
            if sku not in existing
        )
        for product in Product.objects.filter(sku__in=api_intake.SKUS):
            for site in [own, *lsp_sites]:
                StockLevel.objects.get_or_create(
                    product=product, warehouse=site, defaults={"on_hand": 1_000_000_000}
                )
        card = rate_card_import(
            provider_id=provider.pk,
            text=rate_card_csv(
                zones={
                    "home": ["NL"],
                    "near": ["BE", "DE", "LU"],
                    "eu": [c for c in EU if c not in ("NL", "BE", "DE", "LU")],
                    "intl": OUTSIDE,
                },  # fmt: skip
                factor=Decimal(1),
                valid_from=dt.date(year - 1, 1, 1),
            ),
        )
        rate_card_activate(card_id=card.pk, actor="bench")
        draft = ruleset_draft_create(name=RULE_SET_NAME, actor="bench")
        draft.default_objective = "cheapest_on_time"
        draft.save()
        rules = [
            Rule(name=f"Rare country {c}", countries=[c], action="only", sites=["bench-pl"])
            for c in ["MT", "CY", "LV", "LT", "EE", "FI", "GR", "HU", "RO", "BG", "SK", "SI"]
        ] + [
            Rule(name="Heavy", min_weight_grams=30_000, split_policy="complete"),
            Rule(name="Big orders", min_order_value=Decimal(5000), objective="fastest"),
            Rule(name="Cold chain", tags=["cold"], action="only", sites=["bench-wh"]),
            Rule(name="Outside the EU", customs_required=True, action="exclude"),
            Rule(
                name="Islands",
                postcode_prefixes=["1791", "8881"],
                action="prefer",
                sites=["bench-wh"],
            ),  # fmt: skip
            Rule(
                name="Germany",
                countries=["DE", "AT"],
                action="prefer",
                sites=["bench-de"],
                objective="cheapest",
            ),  # fmt: skip
            Rule(name="Poland", countries=["PL", "CZ"], action="prefer", sites=["bench-pl"]),
            Rule(
                name="Benelux",
                countries=["NL", "BE", "LU"],
                action="prefer",
                sites=["bench-wh"],
                objective="cheapest_on_time",
            ),  # fmt: skip
        ]
        for rule in rules:
            rule_save(rule_set_id=draft.pk, rule=rule)
        ruleset_publish(rule_set_id=draft.pk, actor="bench")
    print(f"published {len(rules)} rules in {urlparse(url).path.lstrip('/')}", flush=True)


def run_intake(args: argparse.Namespace) -> None:
    url = database_url(DEFAULT_INTAKE_DB)
    ensure_database(url)
    setup_django(url)
    seed_intake_routing(url)
    from django.db import connection
    from django.utils import timezone

    from routing.models import RuleSet

    # The bench's own rule set is its only one: switched off and on for a baseline run.
    RuleSet.objects.filter(name=RULE_SET_NAME).update(
        status=RuleSet.Status.RETIRED if args.baseline else RuleSet.Status.PUBLISHED,
        published_at=timezone.now(),
    )
    connection.close()
    command = [
        sys.executable,
        "bench/api_intake.py",
        "--phases",
        "intake,floor",
        "--orders",
        str(args.orders),
        "--duration",
        str(args.duration),
        "--concurrency",
        str(args.concurrency),
        "--workers",
        str(args.workers),
        "--rounds",
        str(args.rounds),
    ]
    label = "without rules (baseline)" if args.baseline else "with the 20-rule set published"
    print(f"{label}: BENCH_DATABASE_URL={url} {' '.join(command[1:])}", flush=True)
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL",)}
    env["BENCH_DATABASE_URL"] = url
    for key in ("DJANGO_SETTINGS_MODULE", "DJANGO_DEBUG", "CELERY_TASK_ALWAYS_EAGER"):
        env.pop(key, None)
    subprocess.run(command, cwd=ROOT, env=env, check=True)


def whatif_period(want: int) -> tuple[dt.date, dt.date, int]:
    """The most recent whole days whose orders (not cancelled) number at least `want`."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT (placed_at AT TIME ZONE 'UTC')::date AS day, count(*) FROM orders_order"
            " WHERE status <> 'cancelled' GROUP BY day ORDER BY day DESC"
        )
        days = cursor.fetchall()
    total, first = 0, None
    for day, count in days:
        total += count
        first = day
        if total >= want:
            break
    if first is None:
        raise SystemExit("no orders: run --part intake first (it seeds the database)")
    return first, days[0][0], total


def run_whatif(args: argparse.Namespace) -> None:
    """A what-if of a draft copy of the bench's rule set over the last days holding at least
    --whatif-orders orders of the intake database (its 1,000,000 seeded orders), timed from
    the start of whatif_execute to its end, in this process (no worker)."""
    url = database_url(DEFAULT_INTAKE_DB)
    ensure_database(url)
    setup_django(url)
    seed_intake_routing(url)
    from django.db import connection

    from routing.models import RuleSet
    from routing.services import whatif
    from routing.services.rulesets import ruleset_draft_create

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE orders_order; ANALYZE orders_orderline; ANALYZE logistics_shipment")
    start, end, expected = whatif_period(args.whatif_orders)
    base = RuleSet.objects.get(name=RULE_SET_NAME)
    draft = ruleset_draft_create(
        name=f"what-if bench {time.time():.0f}", actor="bench", based_on=base
    )
    run = whatif.whatif_create(
        rule_set_id=draft.pk, period_start=start, period_end=end, actor="bench", enqueue=False
    )
    began = time.perf_counter()
    run = whatif.whatif_execute(run_id=run.pk)
    seconds = time.perf_counter() - began
    print(
        f"what-if of v{draft.version} over {start}..{end}: {run.processed:,} orders "
        f"({expected:,} placed), status {run.status}, {seconds:.1f} s "
        f"({run.processed / seconds:,.0f} orders/s); {os.cpu_count()} CPUs"
    )
    verdict = (
        "met"
        if run.status == "done" and run.processed >= args.whatif_orders and seconds < 120
        else "MISSED"
    )
    print(
        f"what-if {run.processed:,} orders in {seconds:.1f} s (target < 120 s for 100,000): {verdict}"
    )


def main() -> None:
    args = parse_args()
    if args.rounds is None:
        args.rounds = 3 if args.part == "decision" else 6
    if args.part == "decision":
        run_decision(args)
    elif args.part == "whatif":
        run_whatif(args)
    else:
        run_intake(args)


if __name__ == "__main__":
    main()
