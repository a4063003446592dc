"""Each channel's one webhook URL and secret become a webhook endpoint (issue 18).

The endpoint subscribes to every topic the channel received before, keeps the same
secret (copied as the stored token: the plaintext is never read), and takes over the
channel's delivery log. orders.0011 then removes Channel.webhook_url/webhook_secret.
Backwards, a channel gets its oldest endpoint's URL and secret again.
"""

from django.db import migrations

# What a channel's URL received before endpoints by topic.
LEGACY_TOPICS = [
    "order.shipped",
    "order.delivered",
    "order.exception",
    "order.cancelled",
    "order.rest_cancelled",
    "return.received",
]


def channels_to_endpoints(apps, schema_editor):
    Channel = apps.get_model("orders", "Channel")
    WebhookEndpoint = apps.get_model("logistics", "WebhookEndpoint")
    Delivery = apps.get_model("logistics", "PartnerWebhookDelivery")
    rows = (
        Channel.objects.exclude(webhook_url="")
        .exclude(webhook_secret="")
        .order_by("pk")
        .values_list("pk", "webhook_url", "webhook_secret")
    )
    for channel_id, url, token in rows:
        # values_list hands back the stored token (a Ciphertext), saved back as it is.
        endpoint = WebhookEndpoint.objects.create(
            channel_id=channel_id,
            url=url,
            topics=LEGACY_TOPICS,
            description="Migrated from the channel's webhook URL",
            secret=token,
        )
        Delivery.objects.filter(channel_id=channel_id, endpoint__isnull=True).update(
            endpoint=endpoint
        )


def endpoints_to_channels(apps, schema_editor):
    Channel = apps.get_model("orders", "Channel")
    WebhookEndpoint = apps.get_model("logistics", "WebhookEndpoint")
    seen = set()
    for channel_id, url, token in WebhookEndpoint.objects.order_by("channel_id", "pk").values_list(
        "channel_id", "url", "secret"
    ):
        if channel_id in seen:
            continue
        seen.add(channel_id)
        Channel.objects.filter(pk=channel_id).update(webhook_url=url, webhook_secret=token)


class Migration(migrations.Migration):
    dependencies = [
        ("logistics", "0015_webhook_endpoints"),
        ("orders", "0009_shipped_within_ordered_folded"),
    ]

    operations = [migrations.RunPython(channels_to_endpoints, endpoints_to_channels)]
