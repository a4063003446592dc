"""python manage.py lsp_invoice_import <provider_code> <file> [--profile NAME]

Imports and reconciles one LSP invoice (economics.services.invoice_import). Progress
goes to stderr; the last line of stdout is the JSON summary (docs/economics.md). A
refused file (bad rows, an invoice imported before) exits non-zero and changes nothing.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from core.errors import DomainError, ValidationFailed
from economics.services.invoice_import import lsp_invoice_import


class Command(BaseCommand):
    help = "Import an LSP invoice (CSV) and reconcile it with the expected costs."

    def add_arguments(self, parser):
        parser.add_argument("provider_code")
        parser.add_argument("file", type=Path)
        parser.add_argument("--profile", default=None, help="The provider's invoice profile.")

    def handle(self, *args, provider_code: str, file: Path, profile: str | None, **options):
        try:
            text = file.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"Cannot read {file}: {exc}") from exc

        def progress(done: int, total: int) -> None:
            sys.stderr.write(f"\rreconciled {done:,} of {total:,} lines")
            if done == total:
                sys.stderr.write("\n")

        try:
            invoice = lsp_invoice_import(
                provider_code=provider_code,
                text=text,
                profile_name=profile,
                source_name=file.name,
                actor="lsp_invoice_import",
                progress=progress,
            )
        except ValidationFailed as exc:
            details = "\n".join(f"  {e['field']}: {e['message']}" for e in exc.errors[:50])
            raise CommandError(f"{exc.detail}\n{details}") from exc
        except DomainError as exc:
            raise CommandError(exc.detail) from exc
        self.stdout.write(json.dumps(invoice.summary))
