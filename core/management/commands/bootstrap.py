"""`bootstrap`: what `make run` does before starting processes, in one Django start-up.

Applies pending migrations (skipped when there are none, which keeps a second
`make run` fast) and runs `seed_demo`.
"""

from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser
from django.db import connection
from django.db.migrations.executor import MigrationExecutor


def _pending_migrations() -> int:
    executor = MigrationExecutor(connection)
    return len(executor.migration_plan(executor.loader.graph.leaf_nodes()))


class Command(BaseCommand):
    help = "Apply pending migrations and make sure the demo data exists."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--no-seed", action="store_true", help="Only migrate.")

    def handle(self, *args: Any, no_seed: bool, **options: Any) -> None:
        pending = _pending_migrations()
        if pending:
            self.stdout.write(f"Applying {pending} migrations…")
            call_command("migrate", interactive=False, verbosity=0)
        else:
            self.stdout.write("Database schema is up to date.")
        if not no_seed:
            call_command("seed_demo", stdout=self.stdout)
