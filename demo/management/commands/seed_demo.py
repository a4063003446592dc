"""`seed_demo`: the demo world and demo orders (idempotent); `--orders N`: N more orders, fast."""

import datetime as dt
import sqlite3
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from demo import bulk, carriers, economics, routing, world
from demo.sandbox import demo_sandbox_sync, sandbox_state_for_demo
from economics.services.scorecard import provider_days_backfill
from inventory.services.stock import low_stock_alerts_sync

# Days of provider scorecard computed for the demo (the beat keeps the last two fresh).
SCORECARD_DEMO_DAYS = 30


class Command(BaseCommand):
    help = (
        "Create the demo data (channels, products, warehouses, providers, users, orders in "
        "every status); idempotent. With --orders N also generate N realistic orders in bulk."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--orders", type=int, default=0, help="Generate this many additional orders (bulk)."
        )
        parser.add_argument(
            "--chunk-size", type=int, default=10_000, help="Orders per COPY transaction."
        )
        parser.add_argument(
            "--workers", type=int, default=2, help="Processes writing chunks in parallel."
        )
        parser.add_argument("--seed", type=int, default=None, help="Random seed for --orders.")
        parser.add_argument(
            "--no-pricing",
            action="store_true",
            help="Leave the expected costs of new shipments to the beat's sweep.",
        )
        parser.add_argument(
            "--invoice-dir",
            type=Path,
            default=None,
            help="Where the example LSP invoice goes (default var/).",
        )

    def handle(
        self,
        *args: Any,
        orders: int,
        chunk_size: int,
        workers: int,
        seed: int | None,
        invoice_dir: Path | None = None,
        no_pricing: bool = False,
        **options: Any,
    ) -> None:
        if not settings.DEBUG:
            self.stderr.write(
                "WARNING: DEBUG is off. seed_demo creates staff users with the known password "
                "DEMO_PASSWORD; never run it against a production database."
            )
        demo = world.demo_world_ensure()
        self._carrier()
        # Cards before orders: activating one re-prices the provider's shipments of its
        # period (a job), and there are none yet on a fresh database.
        cards = economics.demo_rate_cards_ensure(
            providers=demo.providers.values(), today=timezone.now().date()
        )
        # Routing after the cards (its rules weigh their prices), before the orders (they
        # ship from the sites the rules choose).
        demo = routing.demo_routing_ensure(world=demo)
        # The LSP sandbox learns of the dispatched shipments as they are generated;
        # the sync at the end adds any it lacks (a new or lost state file).
        state = sandbox_state_for_demo()
        created = bulk.demo_orders_ensure(world=demo, sandbox_state=state)
        self.stdout.write(
            f"Demo world ready: {len(demo.channels)} channels, {len(demo.products)} products, "
            f"{len(demo.warehouses)} warehouses, {len(demo.providers)} providers; "
            f"{created} demo orders created."
        )
        if orders > 0:
            self.stdout.write(f"Generating {orders:,} orders in chunks of {chunk_size:,}…")
            bulk.orders_generate(
                world=demo,
                count=orders,
                chunk_size=chunk_size,
                seed=seed,
                workers=workers,
                on_progress=self._progress,
                sandbox_state=state,
            )
        # After the orders: the own site's bins get what is on hand now (reserved units
        # included: they wait in their bins to be picked).
        put = world.demo_bins_ensure(warehouses=demo.warehouses)
        if put:
            self.stdout.write(f"Bins: {put:,} units put away at the own warehouses.")
        # The bulk loaders write levels without the stock service, which keeps the alerts.
        raised, resolved = low_stock_alerts_sync()
        if raised or resolved:
            self.stdout.write(f"Low-stock alerts: {raised} raised, {resolved} resolved.")
        self._sandbox_sync(state)
        if not no_pricing:
            self._economics(cards, invoice_dir, workers)
        self.stdout.write("")
        self.stdout.write("Demo logins (admin at /admin/):")
        for username, role, *_ in world.DEMO_USERS:
            label = role or "superuser"
            self.stdout.write(f"  {username:<10} password {settings.DEMO_PASSWORD}   ({label})")

    def _economics(self, cards: int, invoice_dir: Path | None, workers: int) -> None:
        """Expected costs and an example invoice (demo/economics.py)."""
        now = timezone.now()
        started = time.monotonic()
        priced = economics.demo_expected_costs_price(workers=workers)
        seconds = time.monotonic() - started
        self.stdout.write(
            f"LSP economics: {cards} rate cards activated, {priced:,} shipments priced"
            + (f" in {seconds:.1f} s ({priced / seconds:,.0f}/s)." if priced else ".")
        )
        # The provider scorecard reads daily aggregates; the beat keeps today and yesterday
        # fresh, so the demo's past month is computed here once.
        started = time.monotonic()
        days = provider_days_backfill(
            first=now.date() - dt.timedelta(days=SCORECARD_DEMO_DAYS - 1), last=now.date()
        )
        self.stdout.write(
            f"Provider scorecard: {days} provider-days of the last {SCORECARD_DEMO_DAYS} days "
            f"in {time.monotonic() - started:.1f} s."
        )
        invoice = economics.demo_invoice_write(directory=invoice_dir, now=now)
        if invoice is not None:
            path = economics.demo_invoice_path(invoice_dir)
            self.stdout.write(
                f"Example LSP invoice {invoice.number} ({invoice.lines} lines) in {path}; import it "
                f"with: python manage.py lsp_invoice_import {economics.DEMO_INVOICE_PROVIDER} {path}"
            )

    def _carrier(self) -> None:
        """The demo carrier account, answered by the sandbox, and the pack station's boxes
        (demo/carriers.py)."""
        account = carriers.demo_carrier_ensure()
        carriers.demo_boxes_ensure()
        if account is None:
            self.stdout.write("Carriers: karrio is not installed (the `carriers` extra).")
        else:
            self.stdout.write(f"Carrier account {account.code}: DHL Parcel DE at the sandbox.")

    def _sandbox_sync(self, state: str | None) -> None:
        """Make the LSP sandbox know the demo's dispatched shipments (demo/sandbox.py)."""
        if state is None:
            self.stdout.write(
                "LSP sandbox state is not on this machine: demo shipments not registered."
            )
            return
        try:
            result = demo_sandbox_sync(state=state)
        except (sqlite3.Error, RuntimeError) as exc:
            # The demo data is in place; only the sandbox's copy is missing. Say so.
            self.stderr.write(f"WARNING: demo shipments not registered at the LSP sandbox: {exc}")
            return
        self.stdout.write(
            f"LSP sandbox: {result.demo_shipments:,} demo shipments, {result.added:,} newly "
            f"registered in {result.state}."
        )

    def _progress(self, progress: bulk.Progress) -> None:
        remaining = (progress.total - progress.done) / progress.rate if progress.rate else 0
        self.stdout.write(
            f"  {progress.done:>10,} / {progress.total:,} orders "
            f"({100 * progress.done / progress.total:5.1f}%)  "
            f"{progress.rate:,.0f} orders/s  elapsed {progress.seconds:6.1f}s  "
            f"eta {remaining:6.1f}s"
        )
        self.stdout.flush()
