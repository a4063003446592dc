"""Print a new random key for CONSIGN_SECRETS_KEY (nothing is stored or changed)."""

from typing import Any

from django.core.management.base import BaseCommand

from core.secrets import secrets_key_generate


class Command(BaseCommand):
    help = "Print a new Fernet key for CONSIGN_SECRETS_KEY on the last stdout line."
    requires_system_checks = []  # it is what fixes a failing secrets-key check

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(secrets_key_generate())
