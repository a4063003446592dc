"""Set a provider's API token or webhook secret without the admin (deploy scripts, drills).

The value is read from stdin, never from the command line (where `ps` and shell
history would keep it); `--generate` makes a new webhook secret and prints it alone on
the last stdout line, once.
"""

import sys

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from core.secrets import EncryptedSecretField
from logistics.models import Provider
from logistics.services.providers import SECRET_FIELDS, provider_secret_set


class Command(BaseCommand):
    help = (
        "Set a provider's api_token or webhook_secret from stdin (--stdin), or generate a new "
        "webhook secret (--generate, printed once on the last line). Stored encrypted."
    )

    def add_arguments(self, parser):
        parser.add_argument("provider_code")
        parser.add_argument("field", choices=SECRET_FIELDS)
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument("--stdin", action="store_true", help="Read the value from stdin.")
        source.add_argument(
            "--generate", action="store_true", help="Generate a new webhook secret."
        )

    def handle(self, *args, provider_code: str, field: str, stdin: bool, generate: bool, **opts):
        provider = Provider.objects.filter(code=provider_code).first()
        if provider is None:
            raise CommandError(f"No provider with code {provider_code!r}.")
        model_field = Provider._meta.get_field(field)
        if not isinstance(model_field, EncryptedSecretField):  # SECRET_FIELDS are all secrets
            raise CommandError(f"{field} is not a secret field.")
        if generate:
            if model_field.generate is None:
                raise CommandError(f"{field} cannot be generated: it is issued by the provider.")
            value = model_field.generate()
        else:
            value = sys.stdin.read().strip()
        try:
            provider_secret_set(provider=provider, field=field, value=value)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        action = "removed" if not value else "set"
        self.stdout.write(f"{field} of provider {provider.code} {action} (stored encrypted).")
        if generate:
            self.stdout.write(value)
