"""Import products or stock levels from CSV in the foreground (the admin queues a worker job)."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from core.errors import ValidationFailed
from inventory.services.imports import (
    PRODUCT_REQUIRED,
    STOCK_REQUIRED,
    products_import,
    rows_from_csv,
    stock_levels_import,
)


class Command(BaseCommand):
    help = "Import a CSV of products or stock levels. Dry run unless --apply."

    def add_arguments(self, parser):
        parser.add_argument("kind", choices=["products", "stock_levels"])
        parser.add_argument("path")
        parser.add_argument("--apply", action="store_true", help="Write the changes.")
        parser.add_argument(
            "--skip-bad-rows", action="store_true", help="Apply good rows even if some are bad."
        )

    def handle(self, *args, kind: str, path: str, apply: bool, skip_bad_rows: bool, **options):
        text = Path(path).read_text(encoding="utf-8-sig")
        required = PRODUCT_REQUIRED if kind == "products" else STOCK_REQUIRED
        run = products_import if kind == "products" else stock_levels_import
        try:
            result = run(
                rows=rows_from_csv(text=text, required=required),
                dry_run=not apply,
                skip_bad_rows=skip_bad_rows,
            )
        except ValidationFailed as exc:
            for error in exc.errors:
                self.stderr.write(f"{error['field']}: {error['message']}")
            raise CommandError(exc.detail) from exc
        for error in result.errors:
            self.stderr.write(f"row {error['row']} {error['field']}: {error['message']}")
        verb = "would apply" if result.dry_run else "applied"
        self.stdout.write(
            f"{result.total_rows} row(s) read, {verb} {len(result.preview) if result.dry_run else result.applied_rows}, {len(result.errors)} error(s)."
        )
