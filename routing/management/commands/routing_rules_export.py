"""python manage.py routing_rules_export <version> [--output FILE]

Writes the rules of rule set version <version> as CSV (docs/routing.md, "CSV"), to stdout
or to FILE.
"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from routing.models import RuleSet
from routing.services.rules_csv import rules_csv_export


class Command(BaseCommand):
    help = "Export the rules of a routing rule set version as CSV."

    def add_arguments(self, parser):
        parser.add_argument("version", type=int)
        parser.add_argument("--output", type=Path)

    def handle(self, *args, version: int, output: Path | str | None, **options):
        rule_set = RuleSet.objects.filter(version=version).first()
        if rule_set is None:
            raise CommandError(f"There is no rule set version {version}.")
        text = rules_csv_export(rule_set=rule_set)
        if output is None:
            self.stdout.write(text, ending="")
            return
        try:
            Path(output).write_text(text, encoding="utf-8")
        except OSError as exc:
            raise CommandError(f"Cannot write {output}: {exc}") from exc
        self.stderr.write(f"Wrote {rule_set.rules.count()} rule(s) of v{version} to {output}.")
