"""Channel.webhook_url/webhook_secret moved to logistics.WebhookEndpoint (logistics.0016)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("orders", "0012_feed_cursor_snapshot"),
        ("logistics", "0016_webhook_endpoints_from_channels"),
    ]

    operations = [
        migrations.RemoveField(model_name="channel", name="webhook_url"),
        migrations.RemoveField(model_name="channel", name="webhook_secret"),
    ]
