"""Channel.webhook_secret is encrypted at rest (core/secrets.py).

The column becomes text (a Fernet token is longer than the secret), every stored
plaintext is encrypted with the first key of CONSIGN_SECRETS_KEY, then the field
becomes an EncryptedSecretField. Reversible: going back decrypts it again (a token
longer than the old 128 characters would not fit, so the column stays text then).
"""

from django.db import migrations, models

import core.secrets


def encrypt_existing(apps, schema_editor):
    Channel = apps.get_model("orders", "Channel")
    rows = Channel.objects.exclude(webhook_secret="").order_by("pk")
    for pk, value in rows.values_list("pk", "webhook_secret"):
        if not core.secrets.secret_is_ciphertext(value):
            Channel.objects.filter(pk=pk).update(webhook_secret=core.secrets.secret_encrypt(value))


def decrypt_existing(apps, schema_editor):
    Channel = apps.get_model("orders", "Channel")
    rows = Channel.objects.exclude(webhook_secret="").order_by("pk")
    for pk, value in rows.values_list("pk", "webhook_secret"):
        if core.secrets.secret_is_ciphertext(value):
            Channel.objects.filter(pk=pk).update(webhook_secret=core.secrets.secret_decrypt(value))


class Migration(migrations.Migration):
    dependencies = [
        ("orders", "0003_order_channel_status_created"),
    ]

    operations = [
        migrations.AlterField(
            model_name="channel",
            name="webhook_secret",
            field=models.TextField(blank=True, default=""),
        ),
        migrations.RunPython(encrypt_existing, decrypt_existing, elidable=False),
        migrations.AlterField(
            model_name="channel",
            name="webhook_secret",
            field=core.secrets.EncryptedSecretField(
                help_text="Standard Webhooks secret (whsec_…) our webhooks to this channel are signed with."
            ),
        ),
    ]
