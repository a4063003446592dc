"""The demo's carrier: DHL Parcel Germany through karrio, played by the LSP sandbox.

One carrier Provider and one CarrierAccount whose base URL is the sandbox, which answers
as DHL's API (sandbox/carrier.py; docs/decisions/0010-carrier-offline.md). The account
ships from the Netherlands (the demo's own warehouse is in Tilburg) and carries its own
rate sheet, since DHL's published one prices German shipments only. Nothing here is a
real credential: DHL's sandbox needs none, and the sandbox checks none.
"""

from __future__ import annotations

import importlib.util
import json

from django.conf import settings

from logistics.models import Box, CarrierAccount, Provider

DEMO_PROVIDER = "dhl-sandbox"
DEMO_ACCOUNT = "dhl-demo"

# karrio ServiceLevel rate sheet (per parcel, EUR), read by the connector's rating.
_RATE_SHEET = [
    {
        "service_name": "DHL Paket",
        "service_code": "dhl_parcel_de_paket",
        "currency": "EUR",
        "transit_days": 2,
        "domicile": True,
        "zones": [{"label": "Benelux", "rate": 5.95, "max_weight": 31.5, "transit_days": 2}],
    },
    {
        "service_name": "DHL Paket International",
        "service_code": "dhl_parcel_de_paket_international",
        "currency": "EUR",
        "transit_days": 4,
        "international": True,
        "zones": [{"label": "EU", "rate": 13.49, "max_weight": 31.5, "transit_days": 4}],
    },
]


def demo_carrier_ensure() -> CarrierAccount | None:
    """The demo carrier provider and account (None without the `carriers` extra)."""
    if importlib.util.find_spec("karrio") is None:
        return None
    provider, _ = Provider.objects.get_or_create(
        code=DEMO_PROVIDER,
        defaults={
            "name": "DHL Parcel (sandbox, through karrio)",
            "kind": Provider.Kind.CARRIER,
            "adapter": "karrio",
            "supports_webhooks": False,
            "tracking_url_template": "https://www.dhl.com/de-en/home/tracking/"
            "tracking-parcel.html?submit=1&tracking-id={tracking_number}",
        },
    )
    account, _ = CarrierAccount.objects.get_or_create(
        code=DEMO_ACCOUNT,
        defaults={
            "provider": provider,
            "carrier_name": CarrierAccount.Connector.DHL_PARCEL_DE,
            "description": "Demo account: the LSP sandbox answers as DHL Parcel DE",
            "account_number": "33333333330102",
            "credentials": json.dumps(
                {
                    "username": "demo",
                    "password": "demo",
                    "client_id": "demo",
                    "client_secret": "demo",
                }
            ),
            "test_mode": True,
            "base_url": settings.LSP_SANDBOX_URL,
            "connector_settings": {"account_country_code": "NL", "services": _RATE_SHEET},
        },
    )
    return account


# The pack station's box catalogue: (code, name, inner length, width, height mm, tare g).
DEMO_BOXES = [
    ("S", "Small box", 250, 180, 100, 120),
    ("M", "Medium box", 380, 280, 180, 280),
    ("L", "Large box", 580, 380, 300, 550),
    ("MAILER", "Mailer bag", 350, 250, 20, 30),
]


def demo_boxes_ensure() -> int:
    """The demo's box catalogue (logistics.Box); returns how many boxes were added."""
    added = 0
    for code, name, length, width, height, tare in DEMO_BOXES:
        _, created = Box.objects.get_or_create(
            code=code,
            defaults={
                "name": name,
                "inner_length_mm": length,
                "inner_width_mm": width,
                "inner_height_mm": height,
                "tare_grams": tare,
            },
        )
        added += created
    return added
