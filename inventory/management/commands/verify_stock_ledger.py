"""Prove sum(StockMovement) == StockLevel for every SKU and warehouse; exit 1 on drift."""

from django.core.management.base import BaseCommand, CommandError

from inventory.selectors import stock_ledger_drift


class Command(BaseCommand):
    help = "Compare every stock level with the sum of its ledger movements; exit non-zero on drift."

    def add_arguments(self, parser):
        parser.add_argument("--limit", type=int, default=50, help="Drift rows to print at most.")

    def handle(self, *args, limit: int, **options):
        drift = stock_ledger_drift()
        if not drift:
            self.stdout.write(
                self.style.SUCCESS("Stock ledger OK: every level equals its movements.")
            )
            return
        for row in drift[:limit]:
            self.stderr.write(
                f"DRIFT {row['sku']}@{row['warehouse']}: level on_hand={row['on_hand']} "
                f"reserved={row['reserved']}, ledger on_hand={row['ledger_on_hand']} "
                f"reserved={row['ledger_reserved']}"
            )
        raise CommandError(f"Stock ledger drift on {len(drift)} level(s).", returncode=1)
