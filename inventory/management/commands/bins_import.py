"""Create or update the bins of an own warehouse from a CSV file `code,zone,pick_sequence`."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from core.errors import ValidationFailed
from inventory.models import Warehouse
from inventory.services.bins import bin_rows_from_csv, bins_import


class Command(BaseCommand):
    help = (
        "Import bins (CSV columns code,zone,pick_sequence) into an own warehouse: new codes "
        "are created, existing ones get the file's zone and sequence. All or nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("warehouse", help="The warehouse code.")
        parser.add_argument("path", help="The CSV file.")

    def handle(self, *args, warehouse: str, path: str, **options):
        site = Warehouse.objects.filter(code=warehouse).first()
        if site is None:
            raise CommandError(f"No warehouse {warehouse!r}.")
        try:
            text = Path(path).read_text(encoding="utf-8-sig")
        except OSError as exc:
            raise CommandError(f"Cannot read {path}: {exc}") from exc
        try:
            created, updated = bins_import(warehouse=site, rows=bin_rows_from_csv(text=text))
        except ValidationFailed as exc:
            for error in exc.errors or []:
                self.stderr.write(f"{error['field']}: {error['message']}")
            raise CommandError(exc.detail) from exc
        self.stdout.write(f"{site.code}: {created} bin(s) created, {updated} updated.")
