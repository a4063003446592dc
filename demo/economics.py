"""LSP economics in the demo: a rate card per provider, priced shipments, an invoice to import.

`seed_demo` gives every demo provider an active rate card (imported from CSV and
activated through the economics services, as staff would), prices the demo's
shipments with the expected-cost sweep, and writes an example invoice of one
provider's last 30 days of work, with a few faults in it, for
`python manage.py lsp_invoice_import` (docs/economics.md, "Try it with the demo").
Everything here is idempotent: a provider that has an active card keeps it.

`invoice_from_expected` is also what bench/invoice_reconcile.py bills with.
"""

from __future__ import annotations

import datetime as dt
import io
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from multiprocessing import get_context
from pathlib import Path

from django.conf import settings
from django.db import connection, connections, transaction
from django.db.models import Exists, OuterRef, Sum

from core.csv_safe import csv_writer
from economics.models import ChargeType, Outcome, RateCard, ShipmentCharge, ShipmentCost
from economics.services.expected_cost import (
    expected_costs_sweep,
    new_shipments_cursor_catch_up,
    shipments_price,
)
from economics.services.invoice_import import Tolerance
from economics.services.invoice_parsing import COLUMNS as INVOICE_COLUMNS
from economics.services.rate_card_csv import COLUMNS as CARD_COLUMNS
from economics.services.rate_card_csv import rate_card_import
from economics.services.rate_cards import rate_card_activate
from logistics.models import Provider, Shipment

DEMO_CARD_NAME = "Demo rates"
# Pricing in parallel: shipments per task, and per transaction within it (the sweep's batch).
PRICE_SLICE = 20_000
PRICE_BATCH = 1_000
DEMO_INVOICE_PROVIDER = "sandbox"
DEMO_INVOICE_DAYS = 30
# Where the example invoice goes when seed_demo is not told (None: var/); the test suite
# points it elsewhere so that a test's seed never overwrites the developer's example.
DEFAULT_INVOICE_DIR: Path | None = None
# The demo's example invoice: every 10th charge line 10 % too high, a line of every 7th
# shipment billed twice, a reference nobody knows after every 11th, every 9th left out.
DEMO_FAULTS = {"overcharge_every": 10, "duplicate_every": 7, "unknown_every": 11, "omit_every": 9}


@dataclass(frozen=True)
class _Tariff:
    """One provider's prices (EUR), by zone: countries, then parcel bands (to grams, price)."""

    zones: dict[str, tuple[str, list[str]]]
    bands: dict[str, list[tuple[int | None, str]]]
    fulfilment: str
    additional_unit: str
    fuel_percent: str
    monthly_minimum: str


# Bands: up to 2 kg, 5 kg, 10 kg, 31.5 kg and heavier (the last band open-ended).
_WEIGHTS: list[int | None] = [2_000, 5_000, 10_000, 31_500, None]

TARIFFS = {
    # The sandbox ships from Venlo (NL), FulfilNet from Erfurt (DE).
    "sandbox": _Tariff(
        zones={
            "home": ("Netherlands", ["NL"]),
            "near": ("Benelux and Germany", ["BE", "LU", "DE"]),
            "eu": ("Rest of the EU", ["FR", "AT", "DK", "IT", "ES", "PT", "PL", "CZ", "SE", "IE"]),
            "intl": ("Outside the EU", ["GB", "CH", "NO"]),
        },
        bands={
            "home": list(zip(_WEIGHTS, ["3.95", "4.60", "6.20", "9.80", "24.00"], strict=True)),
            "near": list(zip(_WEIGHTS, ["5.10", "5.95", "7.40", "11.90", "29.00"], strict=True)),
            "eu": list(zip(_WEIGHTS, ["7.80", "9.40", "12.60", "18.50", "42.00"], strict=True)),
            "intl": list(zip(_WEIGHTS, ["11.50", "14.20", "19.90", "29.50", "65.00"], strict=True)),
        },
        fulfilment="1.95",
        additional_unit="0.35",
        fuel_percent="8.5",
        monthly_minimum="250.00",
    ),
    "fulfilnet": _Tariff(
        zones={
            "home": ("Germany", ["DE"]),
            "near": ("Neighbours", ["AT", "NL", "BE", "LU", "PL", "CZ", "DK"]),
            "eu": ("Rest of the EU", ["FR", "IT", "ES", "PT", "SE", "IE"]),
            "intl": ("Outside the EU", ["GB", "CH", "NO"]),
        },
        bands={
            "home": list(zip(_WEIGHTS, ["3.70", "4.35", "5.90", "9.20", "22.50"], strict=True)),
            "near": list(zip(_WEIGHTS, ["5.40", "6.30", "7.90", "12.40", "30.00"], strict=True)),
            "eu": list(zip(_WEIGHTS, ["7.50", "9.10", "12.20", "17.90", "40.00"], strict=True)),
            "intl": list(zip(_WEIGHTS, ["12.90", "15.40", "21.00", "31.00", "68.00"], strict=True)),
        },
        fulfilment="1.80",
        additional_unit="0.30",
        fuel_percent="9.5",
        monthly_minimum="300.00",
    ),
}

# Islands and remote regions the carriers charge extra for, per zone (normalised postcode
# prefixes, which must not name a mainland postcode of another country of the zone): the
# Wadden islands, the German North and Baltic Sea islands, the Scottish Highlands and
# islands and Northern Ireland.
WADDEN = "1791 1792 1793 1794 1795 1796 1797 8881 8882 8883 8884 8891 8892 8893 8894 8895 8896 8897 8899 9161 9162 9163 9164 9166"  # noqa: E501
GERMAN_ISLANDS = "18565 25849 25859 25863 25869 25938 25946 25980 25992 25996 25999 26465 26474 26486 26548 26571 26579 26757 27498"  # noqa: E501
HIGHLANDS = "HS IV KW ZE BT"
REMOTE = {
    "sandbox": {"home": WADDEN, "near": GERMAN_ISLANDS, "intl": HIGHLANDS},
    "fulfilnet": {"home": GERMAN_ISLANDS, "intl": HIGHLANDS},
}


def demo_rate_card_csv(*, provider_code: str, valid_from: dt.date) -> str:
    """The demo card of a provider as the CSV that rate_card_import reads (docs/economics.md)."""
    tariff = TARIFFS.get(provider_code, TARIFFS["sandbox"])
    out = io.StringIO()
    writer = csv_writer(out, lineterminator="\n")
    writer.writerow(CARD_COLUMNS)

    def row(record: str, **values: object) -> None:
        writer.writerow([record, *(values.get(column, "") for column in CARD_COLUMNS[1:])])

    row(
        "card", name=DEMO_CARD_NAME, currency="EUR", valid_from=valid_from.isoformat(),
        monthly_minimum=tariff.monthly_minimum,
    )  # fmt: skip
    for code, (name, countries) in tariff.zones.items():
        row("zone", code=code, name=name, countries=" ".join(countries))
    row("rule", name="Fulfilment (pick, pack, label)", charge_type="fulfilment",
        amount=tariff.fulfilment)  # fmt: skip
    row("rule", name="Additional unit", charge_type="additional_unit",
        amount=tariff.additional_unit, included_units=1)  # fmt: skip
    for code, bands in tariff.bands.items():
        start = 0
        for upper, price in bands:
            label = f"{start / 1000:g}–{upper / 1000:g} kg" if upper else f"{start / 1000:g} kg+"
            row("rule", name=f"Parcel {code} {label}", charge_type="parcel", zone=code,
                weight_from_grams=start, weight_to_grams=upper or "", amount=price)  # fmt: skip
            start = upper or start
    for zone, prefixes in REMOTE.get(provider_code, REMOTE["sandbox"]).items():
        row("rule", name=f"Remote area ({zone})", charge_type="remote_area", zone=zone,
            amount="3.50", postcode_prefixes=prefixes)  # fmt: skip
    row("rule", name="Customs declaration", charge_type="customs", amount="4.50")
    row("rule", name="Fuel surcharge", charge_type="surcharge", percent=tariff.fuel_percent,
        applies_to="parcel remote_area")  # fmt: skip
    row("rule", name="Storage per pallet per day", charge_type="storage", amount="0.45",
        storage_basis="pallet")  # fmt: skip
    row("rule", name="Return received", charge_type="return", amount="2.50")
    row("rule", name="Inbound unit received", charge_type="inbound_unit", amount="0.15")
    return out.getvalue()


def demo_rate_cards_ensure(*, providers: Iterable[Provider], today: dt.date) -> int:
    """An active card for every provider that has none; returns how many were activated.

    The card is valid from the first of January two years back, well before the oldest
    demo order (at most a year old), and open-ended.
    """
    valid_from = dt.date(today.year - 2, 1, 1)
    activated = 0
    for provider in providers:
        if RateCard.objects.filter(provider=provider, status=RateCard.Status.ACTIVE).exists():
            continue
        card = rate_card_import(
            provider_id=provider.pk,
            text=demo_rate_card_csv(provider_code=provider.code, valid_from=valid_from),
        )
        rate_card_activate(card_id=card.pk, actor="seed_demo")
        activated += 1
    return activated


def _price_slice(shipment_ids: list[int]) -> int:
    # Runs in a child process with its own database connection.
    priced = 0
    for start in range(0, len(shipment_ids), PRICE_BATCH):
        with transaction.atomic():
            priced += shipments_price(shipment_ids=shipment_ids[start : start + PRICE_BATCH])
    return priced


def demo_expected_costs_price(*, workers: int = 1) -> int:
    """Price every shipment that has no expected cost yet; returns how many were priced.

    One process: the beat's sweep, run until it finds nothing. With workers > 1 (a big
    `seed_demo --orders N`) the unpriced shipments are split among that many processes
    pricing batches with `shipments_price`, as the sweep does, and the sweep's cursor
    is moved past them; the sweep then prices whatever is left.
    """
    total = 0
    if workers > 1 and not connection.in_atomic_block:
        unpriced = list(
            Shipment.objects.filter(direction=Shipment.Direction.OUTBOUND)
            .filter(~Exists(ShipmentCost.objects.filter(shipment_id=OuterRef("pk"))))
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        if len(unpriced) > PRICE_SLICE:
            slices = [unpriced[i : i + PRICE_SLICE] for i in range(0, len(unpriced), PRICE_SLICE)]
            # Children must not share the parent's socket to Postgres.
            connections.close_all()
            context = get_context("fork")
            with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
                total += sum(pool.map(_price_slice, slices))
            new_shipments_cursor_catch_up()
    while priced := expected_costs_sweep(max_seconds=60.0):
        total += priced
    return total


@dataclass
class GeneratedInvoice:
    """An invoice file made from expected charges, and what reconciling it must find."""

    number: str
    text: str
    lines: int = 0
    shipments: int = 0
    expected: Counter[str] = field(default_factory=Counter)


def _charges_by_shipment(
    provider: Provider, start: dt.datetime, end: dt.datetime
) -> tuple[list[Mapping[str, object]], dict[int, list[tuple[str, Decimal]]]]:
    shipments: list[Mapping[str, object]] = list(
        Shipment.objects.filter(
            provider=provider,
            direction=Shipment.Direction.OUTBOUND,
            dispatched_at__gte=start,
            dispatched_at__lt=end,
        )
        .order_by("dispatched_at", "pk")
        .values("pk", "provider_reference", "tracking_number", "dispatched_at")
    )
    charges: dict[int, list[tuple[str, Decimal]]] = defaultdict(list)
    rows = (
        ShipmentCharge.objects.filter(
            shipment__provider=provider,
            shipment__dispatched_at__gte=start,
            shipment__dispatched_at__lt=end,
        )
        .values("shipment_id", "charge_type")
        .annotate(total=Sum("amount"))
        .order_by("shipment_id", "charge_type")
    )
    for row in rows:
        charges[row["shipment_id"]].append((row["charge_type"], row["total"]))
    return shipments, charges


def invoice_from_expected(
    *,
    provider: Provider,
    number: str,
    start: dt.datetime,
    end: dt.datetime,
    overcharge_every: int = 0,
    duplicate_every: int = 0,
    unknown_every: int = 0,
    omit_every: int = 0,
    charge_types: frozenset[str] | None = None,
) -> GeneratedInvoice:
    """Bill the provider's shipments dispatched in [start, end) at their expected charges.

    One line per shipment and charge type (of `charge_types`, default all), in dispatch
    order, with faults: every n-th line 10 % too high; every n-th shipment's first line
    billed twice; after every n-th shipment a line for a reference nobody knows; every
    n-th shipment left out. `expected` counts what reconciliation must report (a fresh
    provider: nothing billed before). Shipments must be priced (dispatched stage).
    """
    shipments, charges = _charges_by_shipment(provider, start, end)
    places = Decimal("0.01")
    out = io.StringIO()
    writer = csv_writer(out, lineterminator="\n")
    writer.writerow(INVOICE_COLUMNS)
    invoice = GeneratedInvoice(number=number, text="")
    invoice_date = (end - dt.timedelta(seconds=1)).date().isoformat()
    omitted: list[tuple[dt.date, int]] = []
    billed_days: list[dt.date] = []
    line_count = 0
    tolerance = Tolerance.of(None)

    def line(shipment: Mapping[str, object], charge_type: str, amount: Decimal, day: str) -> None:
        writer.writerow([
            number, invoice_date, shipment["provider_reference"], shipment["tracking_number"],
            charge_type, ChargeType(charge_type).label, 1, f"{amount:f}", "EUR", day,
        ])  # fmt: skip

    for index, shipment in enumerate(shipments, start=1):
        pk = int(str(shipment["pk"]))
        dispatched_at = shipment["dispatched_at"]
        assert isinstance(dispatched_at, dt.datetime)  # noqa: S101 - filtered on it above
        day_of = dispatched_at.astimezone(dt.UTC).date()
        lines = [
            (charge_type, amount)
            for charge_type, amount in charges.get(pk, [])
            if charge_types is None or charge_type in charge_types
        ]
        if omit_every and index % omit_every == 0:
            omitted.append((day_of, pk))
            continue
        if not lines:
            continue
        invoice.shipments += 1
        billed_days.append(day_of)
        for charge_type, amount in lines:
            line_count += 1
            if overcharge_every and line_count % overcharge_every == 0:
                billed = (amount * Decimal("1.10")).quantize(places)
                invoice.expected[tolerance.outcome(expected=amount, invoiced=billed)] += 1
            else:
                billed = amount.quantize(places)
                invoice.expected[Outcome.MATCHED] += 1
            line(shipment, charge_type, billed, day_of.isoformat())
        if duplicate_every and index % duplicate_every == 0:
            charge_type, amount = lines[0]
            line(shipment, charge_type, amount.quantize(places), day_of.isoformat())
            invoice.expected[Outcome.DUPLICATE] += 1
            line_count += 1
        if unknown_every and index % unknown_every == 0:
            ghost = {"provider_reference": f"{provider.code.upper()}-X{pk}", "tracking_number": ""}
            line(ghost, ChargeType.PARCEL, Decimal("4.20"), day_of.isoformat())
            invoice.expected[Outcome.UNKNOWN_REFERENCE] += 1
            line_count += 1
    invoice.lines = line_count
    if billed_days:
        first, last = min(billed_days), max(billed_days)
        left_out = [pk for day, pk in omitted if first <= day <= last]
        invoice.expected[Outcome.NOT_INVOICED] = ShipmentCost.objects.filter(
            shipment_id__in=left_out, total__gt=0
        ).count()
    invoice.text = out.getvalue()
    return invoice


def demo_invoice_path(directory: Path | None = None) -> Path:
    directory = directory or DEFAULT_INVOICE_DIR or Path(settings.BASE_DIR) / "var"
    return directory / f"demo-invoice-{DEMO_INVOICE_PROVIDER}.csv"


def demo_invoice_write(
    *, directory: Path | None = None, now: dt.datetime
) -> GeneratedInvoice | None:
    """Write the example invoice of the sandbox provider's last 30 days; None without work.

    The invoice number names its last day, so a later seed writes a new invoice rather
    than one already imported.
    """
    provider = Provider.objects.filter(code=DEMO_INVOICE_PROVIDER).first()
    if provider is None:
        return None
    end = now.astimezone(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start = end - dt.timedelta(days=DEMO_INVOICE_DAYS)
    last_day = (end - dt.timedelta(days=1)).date()
    invoice = invoice_from_expected(
        provider=provider,
        number=f"{provider.code.upper()}-{last_day:%Y%m%d}",
        start=start,
        end=end,
        overcharge_every=DEMO_FAULTS["overcharge_every"],
        duplicate_every=DEMO_FAULTS["duplicate_every"],
        unknown_every=DEMO_FAULTS["unknown_every"],
        omit_every=DEMO_FAULTS["omit_every"],
    )
    if not invoice.lines:
        return None
    path = demo_invoice_path(directory)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(invoice.text, encoding="utf-8")
    return invoice
