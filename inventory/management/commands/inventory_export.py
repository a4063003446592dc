"""Write products or stock levels as CSV (the same columns the import reads)."""

import sys

from django.core.management.base import BaseCommand

from inventory.selectors import products_export_csv, stock_levels_export_csv


class Command(BaseCommand):
    help = "Export products or stock levels as CSV to stdout or --output."

    def add_arguments(self, parser):
        parser.add_argument("kind", choices=["products", "stock_levels"])
        parser.add_argument("--output", help="File path (default: stdout).")

    def handle(self, *args, kind: str, output: str | None, **options):
        write = products_export_csv if kind == "products" else stock_levels_export_csv
        if output:
            with open(output, "w", newline="", encoding="utf-8") as handle:
                rows = write(out=handle)
            self.stderr.write(f"{rows} row(s) written to {output}")
        else:
            write(out=sys.stdout)
