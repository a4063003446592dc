"""python manage.py routing_rules_import <version> <file>

Replaces the rules of draft version <version> with the file's (docs/routing.md, "CSV").
The last line of stdout is a JSON summary; a refused file names every bad row and
changes nothing. A published or retired version is refused: make a draft from it first.
"""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from core.errors import DomainError, ValidationFailed
from routing.models import RuleSet
from routing.services.rules_csv import rules_csv_import


class Command(BaseCommand):
    help = "Replace the rules of a draft routing rule set with a CSV file's."

    def add_arguments(self, parser):
        parser.add_argument("version", type=int)
        parser.add_argument("file", type=Path)

    def handle(self, *args, version: int, file: Path, **options):
        rule_set = RuleSet.objects.filter(version=version).first()
        if rule_set is None:
            raise CommandError(f"There is no rule set version {version}.")
        try:
            text = file.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"Cannot read {file}: {exc}") from exc
        try:
            count = rules_csv_import(rule_set_id=rule_set.pk, text=text)
        except ValidationFailed as exc:
            details = "\n".join(f"  {e['field']}: {e['message']}" for e in exc.errors)
            raise CommandError(f"{exc.detail}\n{details}") from exc
        except DomainError as exc:
            raise CommandError(exc.detail) from exc
        self.stdout.write(
            json.dumps({"version": version, "status": rule_set.status, "rules": count})
        )
