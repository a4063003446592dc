"""Prove sum(StockMovement) == StockLevel for every SKU and warehouse, and that the bins
agree with their journal and hold no more than on hand; exit 1 on drift."""

from django.core.management.base import BaseCommand, CommandError

from inventory.bin_selectors import bin_ledger_drift
from inventory.selectors import stock_ledger_drift


class Command(BaseCommand):
    help = (
        "Compare every stock level with the sum of its ledger movements, and every bin's "
        "stock with its journal and its level; exit non-zero on drift."
    )

    def add_arguments(self, parser):
        parser.add_argument("--limit", type=int, default=50, help="Drift rows to print at most.")

    def handle(self, *args, limit: int, **options):
        drift = stock_ledger_drift()
        bins = bin_ledger_drift()
        if not drift and not bins:
            self.stdout.write(
                self.style.SUCCESS(
                    "Stock ledger OK: every level equals its movements, every bin its journal."
                )
            )
            return
        for row in drift[:limit]:
            self.stderr.write(
                f"DRIFT {row['sku']}@{row['warehouse']}: level on_hand={row['on_hand']} "
                f"reserved={row['reserved']}, ledger on_hand={row['ledger_on_hand']} "
                f"reserved={row['ledger_reserved']}"
            )
        for row in bins[:limit]:
            if row["kind"] == "journal":
                self.stderr.write(
                    f"BIN DRIFT {row['sku']}@{row['warehouse']}/{row['bin']}: "
                    f"bin stock={row['quantity']}, journal={row['journal']}"
                )
            else:
                self.stderr.write(
                    f"BINS OVER ON HAND {row['sku']}@{row['warehouse']}: "
                    f"in bins={row['binned']}, on_hand={row['on_hand']}"
                )
        raise CommandError(
            f"Stock ledger drift on {len(drift)} level(s), {len(bins)} bin problem(s).",
            returncode=1,
        )
