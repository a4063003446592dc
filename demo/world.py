"""The fixed demo world: channels, catalogue, warehouses, providers, users, opening stock.

Every function here is idempotent: objects are looked up by their natural key
(code, SKU, username) and only created when missing, so a second run changes
nothing. Demo users are created here and never by migrations.
"""

from __future__ import annotations

import base64
import random
import secrets
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser, Group
from django.db import transaction

from core import roles
from demo import pools
from inventory.models import Product, StockLevel, StockMovement, Warehouse
from inventory.services.bins import BinRow, bins_import, bins_putaway_unbinned
from logistics.models import Provider, ServiceLevel
from orders.models import Channel, ChannelWarehouse

# The seed of every random choice in the demo world: the same catalogue every time.
WORLD_SEED = 20260101

DEMO_USERS = [
    # (username, role group or None for the superuser, first name, last name)
    ("warehouse", roles.WAREHOUSE, "Wim", "Magazijn"),
    ("agent", roles.CUSTOMER_SERVICE, "Alex", "Agent"),
    ("manager", roles.OPERATIONS_MANAGER, "Mara", "Manager"),
    ("admin", None, "Ada", "Admin"),
]

CHANNELS = [
    # code, name, warehouse codes in priority order, value limit, incoterm
    ("webshop", "Consign webshop", ["tilburg", "sandbox-venlo"], None, Channel.Incoterm.DAP),
    ("marketplace", "Marketplace (EU)", ["sandbox-venlo", "fulfilnet-erfurt"], None, "DAP"),
    ("wholesale", "Wholesale accounts", ["tilburg", "fulfilnet-erfurt"], Decimal("5000"), "DDP"),
]


@dataclass(frozen=True)
class DemoWorld:
    channels: dict[str, Channel]
    warehouses: dict[str, Warehouse]
    providers: dict[str, Provider]
    service_levels: dict[str, list[ServiceLevel]]
    products: list[Product]
    users: dict[str, AbstractUser]
    channel_warehouses: dict[str, list[str]]
    warehouse_provider: dict[str, str]


def _webhook_secret() -> str:
    # Standard Webhooks secrets are "whsec_" + base64 of random bytes.
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def _ean13(body12: str) -> str:
    digits = [int(c) for c in body12]
    check = (10 - sum(d * (3 if i % 2 else 1) for i, d in enumerate(digits)) % 10) % 10
    return body12 + str(check)


def demo_providers_ensure() -> tuple[dict[str, Provider], dict[str, list[ServiceLevel]]]:
    """The LSP sandbox provider (webhooks) and a second 3PL served by the sandbox via polling."""
    sandbox, _ = Provider.objects.get_or_create(
        code="sandbox",
        defaults={
            "name": "Consign LSP sandbox",
            "kind": Provider.Kind.THREE_PL,
            "adapter": "generic_http",
            "base_url": settings.LSP_SANDBOX_URL,
            "webhook_secret": settings.LSP_SANDBOX_WEBHOOK_SECRET or _webhook_secret(),
            "supports_webhooks": True,
            "tracking_url_template": settings.LSP_SANDBOX_URL.rstrip("/")
            + "/track/{tracking_number}",
        },
    )
    fulfilnet, _ = Provider.objects.get_or_create(
        code="fulfilnet",
        defaults={
            "name": "FulfilNet 3PL (served by the sandbox, polled)",
            "kind": Provider.Kind.THREE_PL,
            "adapter": "generic_http",
            "base_url": settings.LSP_SANDBOX_URL,
            "webhook_secret": _webhook_secret(),
            "supports_webhooks": False,
            "tracking_url_template": settings.LSP_SANDBOX_URL.rstrip("/")
            + "/track/{tracking_number}",
        },
    )
    levels = {
        "sandbox": [("standard", "Parcel standard", 72), ("express", "Parcel express", 24)],
        "fulfilnet": [("economy", "Economy road", 120), ("standard", "Standard parcel", 72)],
    }
    providers = {"sandbox": sandbox, "fulfilnet": fulfilnet}
    service_levels: dict[str, list[ServiceLevel]] = {}
    for provider_code, rows in levels.items():
        service_levels[provider_code] = [
            ServiceLevel.objects.get_or_create(
                provider=providers[provider_code],
                code=code,
                defaults={"name": name, "max_transit_hours": hours},
            )[0]
            for code, name, hours in rows
        ]
    return providers, service_levels


def demo_warehouses_ensure(*, providers: dict[str, Provider]) -> dict[str, Warehouse]:
    """One own site (Tilburg) and two LSP-operated sites, each linked to its provider."""
    rows = [
        ("tilburg", "Tilburg own warehouse", Warehouse.Kind.OWN, None, "NL", "Tilburg", "5048 AB"),
        ("sandbox-venlo", "Venlo (sandbox 3PL)", Warehouse.Kind.LSP, "sandbox", "NL", "Venlo", "5928 LX"),
        ("fulfilnet-erfurt", "Erfurt (FulfilNet 3PL)", Warehouse.Kind.LSP, "fulfilnet", "DE", "Erfurt", "99095"),
    ]  # fmt: skip
    warehouses = {}
    for code, name, kind, provider_code, country, city, postcode in rows:
        warehouses[code], _ = Warehouse.objects.get_or_create(
            code=code,
            defaults={
                "name": name,
                "kind": kind,
                "provider": providers[provider_code] if provider_code else None,
                "country": country,
                "city": city,
                "postcode": postcode,
                "line1": "Logistiekweg 1",
            },
        )
    return warehouses


def demo_channels_ensure(*, warehouses: dict[str, Warehouse]) -> dict[str, Channel]:
    """webshop, marketplace and wholesale, with their fulfilment warehouses in priority order.

    The fulfilment rules are only written when the channel is created, so rules
    staff changed later are left alone.
    """
    channels = {}
    for code, name, warehouse_codes, limit, incoterm in CHANNELS:
        channel, created = Channel.objects.get_or_create(
            code=code,
            defaults={
                "name": name,
                "order_value_limit": limit,
                "incoterm": incoterm,
                # The webshop is the demo's catalogue master (docs/api.md, "Catalogue").
                "catalogue_write": code == "webshop",
            },
        )
        if created:
            for priority, warehouse_code in enumerate(warehouse_codes, start=1):
                ChannelWarehouse.objects.get_or_create(
                    channel=channel,
                    warehouse=warehouses[warehouse_code],
                    defaults={"priority": priority * 10},
                )
        channels[code] = channel
    return channels


def demo_products_ensure() -> list[Product]:
    """About 200 SKUs with barcodes, weights, dimensions and customs data."""
    rng = random.Random(WORLD_SEED)
    wanted = []
    for family_no, family in enumerate(pools.PRODUCT_FAMILIES):
        prefix, name, hs_code, origins, grams, dims, customs, _price, variants = family
        for variant_no, variant in enumerate(variants):
            sku = f"{prefix}-{variant}"
            wanted.append(
                Product(
                    sku=sku,
                    name=f"{name} {variant.replace('-', ' ').lower()}",
                    barcode=_ean13(f"87{family_no:03d}{variant_no:03d}{rng.randrange(10000):04d}"),
                    weight_grams=max(10, int(grams * rng.uniform(0.9, 1.1))),
                    length_mm=dims[0],
                    width_mm=dims[1],
                    height_mm=dims[2],
                    hs_code=hs_code,
                    country_of_origin=rng.choice(origins),
                    customs_description=name,
                    customs_value=Decimal(customs),
                    customs_currency="EUR",
                )
            )
    existing = set(
        Product.objects.filter(sku__in=[p.sku for p in wanted]).values_list("sku", flat=True)
    )
    Product.objects.bulk_create([p for p in wanted if p.sku not in existing])
    return list(Product.objects.filter(sku__in=[p.sku for p in wanted]).order_by("id"))


def demo_users_ensure() -> dict[str, AbstractUser]:
    """One staff user per role plus a superuser, all with settings.DEMO_PASSWORD."""
    roles.roles_sync()
    user_model = get_user_model()
    users: dict[str, AbstractUser] = {}
    for username, role, first_name, last_name in DEMO_USERS:
        user = user_model.objects.filter(username=username).first()
        if user is None:
            user = user_model(
                username=username,
                first_name=first_name,
                last_name=last_name,
                email=f"{username}@consign.example",
                is_staff=True,
                is_superuser=role is None,
            )
            user.set_password(settings.DEMO_PASSWORD)
            user.save()
        if role is not None and not user.groups.filter(name=role).exists():
            user.groups.add(Group.objects.get(name=role))
        users[username] = user
    return users


def demo_opening_stock_ensure(*, products: list[Product], warehouses: dict[str, Warehouse]) -> int:
    """A stock level for every product at every warehouse, opened with one receipt movement.

    Levels that already exist are left alone, so the ledger and the levels stay equal.
    Returns how many levels were created.
    """
    rng = random.Random(WORLD_SEED + 1)
    existing = set(StockLevel.objects.values_list("product_id", "warehouse_id"))
    levels, movements = [], []
    for warehouse in warehouses.values():
        for product in products:
            quantity = rng.choice([0, 40, 80, 120, 200, 350, 500, 800])
            if (product.id, warehouse.id) in existing:
                continue
            levels.append(
                StockLevel(
                    product=product,
                    warehouse=warehouse,
                    on_hand=quantity,
                    low_stock_threshold=20,
                )
            )
            if quantity:
                movements.append(
                    StockMovement(
                        product=product,
                        warehouse=warehouse,
                        type=StockMovement.Type.RECEIPT,
                        on_hand_delta=quantity,
                        reason="opening_stock",
                        reference="seed_demo",
                    )
                )
    StockLevel.objects.bulk_create(levels)
    StockMovement.objects.bulk_create(movements)
    return len(levels)


DEMO_BIN_ZONES = ("A", "B", "C")
DEMO_BINS_PER_ZONE = 20


def demo_bins_ensure(*, warehouses: dict[str, Warehouse]) -> int:
    """A grid of bins at each own site (zones A to C, 20 bins each, A first on the pick
    path) and the site's unbinned stock put away into them. Returns the units put away."""
    put = 0
    for warehouse in warehouses.values():
        if warehouse.kind != Warehouse.Kind.OWN:
            continue
        bins_import(
            warehouse=warehouse,
            rows=[
                BinRow(code=f"{zone}-{n:02d}", zone=zone, pick_sequence=z * 100 + n)
                for z, zone in enumerate(DEMO_BIN_ZONES)
                for n in range(1, DEMO_BINS_PER_ZONE + 1)
            ],
        )
        put += bins_putaway_unbinned(warehouse=warehouse, reference="demo")
    return put


@transaction.atomic
def demo_world_ensure() -> DemoWorld:
    """Create whatever part of the demo world is missing and return all of it."""
    providers, service_levels = demo_providers_ensure()
    warehouses = demo_warehouses_ensure(providers=providers)
    channels = demo_channels_ensure(warehouses=warehouses)
    products = demo_products_ensure()
    users = demo_users_ensure()
    demo_opening_stock_ensure(products=products, warehouses=warehouses)
    channel_warehouses = {
        code: [
            rule.warehouse.code
            for rule in channel.fulfilment_rules.select_related("warehouse").order_by("priority")
        ]
        for code, channel in channels.items()
    }
    return DemoWorld(
        channels=channels,
        warehouses=warehouses,
        providers=providers,
        service_levels=service_levels,
        products=products,
        users=users,
        channel_warehouses=channel_warehouses,
        warehouse_provider={
            code: (w.provider.code if w.provider is not None else "sandbox")
            for code, w in warehouses.items()
        },
    )
