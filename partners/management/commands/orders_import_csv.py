"""python manage.py orders_import_csv <channel_code> <file> [--dry-run]

Imports (or with --dry-run checks) a CSV of orders for a channel; the last line of the
output is a JSON summary (docs/channels.md, "CSV order import")."""

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from core.errors import ValidationFailed
from orders.models import Channel
from partners.order_import import orders_csv_import


class Command(BaseCommand):
    help = "Import orders from a CSV file (one row per order line) for a channel."

    def add_arguments(self, parser):
        parser.add_argument("channel_code")
        parser.add_argument("file")
        parser.add_argument(
            "--dry-run", action="store_true", help="Check every row; create nothing."
        )

    def handle(self, *args, channel_code, file, dry_run, **options):
        channel = Channel.objects.filter(code=channel_code).first()
        if channel is None:
            raise CommandError(f"Unknown channel {channel_code!r}.")
        try:
            text = Path(file).read_bytes().decode("utf-8-sig")
        except OSError as exc:
            raise CommandError(f"Cannot read {file}: {exc.strerror}.") from None
        except UnicodeDecodeError:
            raise CommandError("The file is not UTF-8 text.") from None
        try:
            summary = orders_csv_import(channel=channel, text=text, dry_run=dry_run)
        except ValidationFailed as exc:
            raise CommandError(exc.detail) from None
        for error in summary.errors:
            self.stderr.write(f"row {error['row']}, {error['column']}: {error['message']}")
        self.stdout.write(json.dumps(summary.as_dict(), sort_keys=True))
