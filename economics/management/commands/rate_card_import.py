"""python manage.py rate_card_import <provider_code> <file> [--activate]

Imports a rate card from CSV (docs/economics.md, "CSV") as a draft of the provider's;
with --activate, activates it too (which re-prices its period). The last line of
stdout is a JSON summary; a refused file names every bad row and imports nothing.
"""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from core.errors import DomainError, ValidationFailed
from economics.services.rate_card_csv import rate_card_import
from economics.services.rate_cards import rate_card_activate
from logistics.models import Provider


class Command(BaseCommand):
    help = "Import a rate card (CSV) as a draft of a provider's, optionally activating it."

    def add_arguments(self, parser):
        parser.add_argument("provider_code")
        parser.add_argument("file", type=Path)
        parser.add_argument("--activate", action="store_true")

    def handle(self, *args, provider_code: str, file: Path, activate: bool, **options):
        provider = Provider.objects.filter(code=provider_code).first()
        if provider is None:
            raise CommandError(f"There is no provider {provider_code!r}.")
        try:
            text = file.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"Cannot read {file}: {exc}") from exc
        try:
            card = rate_card_import(provider_id=provider.pk, text=text)
            if activate:
                card = rate_card_activate(card_id=card.pk, actor="rate_card_import")
        except ValidationFailed as exc:
            details = "\n".join(f"  {e['field']}: {e['message']}" for e in exc.errors[:50])
            raise CommandError(f"{exc.detail}\n{details}") from exc
        except DomainError as exc:
            raise CommandError(exc.detail) from exc
        self.stdout.write(
            json.dumps(
                {
                    "card": card.pk,
                    "provider": provider.code,
                    "status": card.status,
                    "valid_from": card.valid_from.isoformat(),
                    "valid_to": card.valid_to.isoformat() if card.valid_to else None,
                    "zones": card.zones.count(),
                    "rules": card.rules.count(),
                }
            )
        )
