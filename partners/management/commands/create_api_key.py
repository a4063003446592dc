from django.core.management.base import BaseCommand, CommandError

from orders.models import Channel
from partners.services import api_key_create


class Command(BaseCommand):
    help = "Create an API key for a channel. The raw key is printed once, alone on the last line."

    def add_arguments(self, parser):
        parser.add_argument("channel_code")
        parser.add_argument("--name", default="", help="A label, e.g. the partner's system.")

    def handle(self, *args, channel_code: str, name: str, **options):
        channel = Channel.objects.filter(code=channel_code).first()
        if channel is None:
            raise CommandError(f"No channel with code {channel_code!r}.")
        api_key, raw = api_key_create(channel=channel, name=name)
        self.stdout.write(
            f"Created API key {api_key.prefix}… for channel {channel.code}"
            + (f" ({name})" if name else "")
            + ". Store it now: it is not shown again."
        )
        self.stdout.write(raw)
