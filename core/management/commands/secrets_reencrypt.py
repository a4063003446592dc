"""Re-encrypt every stored secret with the first key of CONSIGN_SECRETS_KEY (key rotation)."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from core.secrets import SecretUndecryptable, secrets_reencrypt_all


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored secret (provider tokens, webhook secrets) with the first key "
        "of CONSIGN_SECRETS_KEY. Run after putting a new key first; then the old key can go "
        "(docs/operations.md)."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            done = secrets_reencrypt_all()
        except SecretUndecryptable as exc:
            raise CommandError(str(exc)) from None
        total = sum(done.values())
        parts = ", ".join(f"{label} {count}" for label, count in sorted(done.items()))
        self.stdout.write(f"Re-encrypted {total} secret(s) with the first key: {parts}.")
