"""Building blocks for the carrier (karrio) tests: a carrier provider, accounts, a shipment."""

from __future__ import annotations

import json

from logistics.adapters.base import ParcelSpec
from logistics.models import CarrierAccount, Provider, Shipment
from tests.inventory.factories import WarehouseFactory
from tests.logistics.factories import ProviderFactory, ShipmentFactory
from tests.orders.factories import OrderFactory

# Credentials of each connector; every value is distinctive so a leak is easy to find.
CREDENTIALS = {
    "ups": {"client_id": "ups-client-id-7Q2", "client_secret": "ups-client-secret-Z9X"},
    "dhl_express": {"site_id": "dhlx-site-id-4KD", "password": "dhlx-password-P3W"},
    "dhl_parcel_de": {
        "username": "dhlde-user-8HN",
        "password": "dhlde-password-M5T",
        "client_id": "dhlde-client-id-R1V",
        "client_secret": "dhlde-client-secret-J6B",
    },
}
ACCOUNT_NUMBERS = {
    "ups": "UPSACCT9981",
    "dhl_express": "983451002",
    "dhl_parcel_de": "33333333330102",
}


def secret_values(connector: str) -> list[str]:
    return [*CREDENTIALS[connector].values(), ACCOUNT_NUMBERS[connector]]


def carrier_provider(code: str = "carriers") -> Provider:
    return ProviderFactory(
        code=code, kind=Provider.Kind.CARRIER, adapter="karrio", base_url="", webhook_secret=""
    )


def carrier_account(
    connector: str,
    *,
    base_url: str,
    provider: Provider | None = None,
    code: str = "",
    services: list[str] | None = None,
) -> CarrierAccount:
    return CarrierAccount.objects.create(
        provider=provider or carrier_provider(),
        code=code or connector.replace("_", "-"),
        carrier_name=connector,
        account_number=ACCOUNT_NUMBERS[connector],
        credentials=json.dumps(CREDENTIALS[connector]),
        test_mode=True,
        base_url=base_url,
        services=services or [],
    )


def carrier_shipment(*, origin: str = "NL", destination: str = "NL", provider=None) -> Shipment:
    warehouse = WarehouseFactory(
        country=origin,
        city="Tilburg" if origin == "NL" else "Bonn",
        postcode="5041 AA" if origin == "NL" else "53113",
        line1="Ringbaan Oost 102",
    )
    order = OrderFactory(
        shipping_country=destination,
        shipping_city="Amsterdam" if destination == "NL" else "Berlin",
        shipping_postcode="1011 AB" if destination == "NL" else "10115",
        shipping_line1="Damrak 1",
    )
    return ShipmentFactory(
        order=order,
        warehouse=warehouse,
        provider=provider or carrier_provider(),
        tracking_number="",
    )


def parcels(count: int = 1) -> list[ParcelSpec]:
    return [
        ParcelSpec(
            weight_grams=1200 + 100 * i,
            length_mm=300,
            width_mm=200,
            height_mm=100,
            reference=f"SHP-1/{i + 1}",
        )
        for i in range(count)
    ]
