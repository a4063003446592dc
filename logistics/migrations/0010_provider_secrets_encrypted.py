"""Provider.api_token and Provider.webhook_secret are encrypted at rest (core/secrets.py).

The columns become text (a Fernet token is longer than the secret), every stored
plaintext is encrypted with the first key of CONSIGN_SECRETS_KEY, then the fields
become EncryptedSecretFields. Reversible: going back decrypts them again.
"""

from django.db import migrations, models

import core.secrets

FIELDS = ("api_token", "webhook_secret")


def encrypt_existing(apps, schema_editor):
    Provider = apps.get_model("logistics", "Provider")
    for row in Provider.objects.order_by("pk").values("pk", *FIELDS):
        changes = {
            name: core.secrets.secret_encrypt(row[name])
            for name in FIELDS
            if row[name] and not core.secrets.secret_is_ciphertext(row[name])
        }
        if changes:
            Provider.objects.filter(pk=row["pk"]).update(**changes)


def decrypt_existing(apps, schema_editor):
    Provider = apps.get_model("logistics", "Provider")
    for row in Provider.objects.order_by("pk").values("pk", *FIELDS):
        changes = {
            name: core.secrets.secret_decrypt(row[name])
            for name in FIELDS
            if row[name] and core.secrets.secret_is_ciphertext(row[name])
        }
        if changes:
            Provider.objects.filter(pk=row["pk"]).update(**changes)


class Migration(migrations.Migration):
    dependencies = [
        ("logistics", "0009_inboundwebhook_failed_index"),
    ]

    operations = [
        migrations.AlterField(
            model_name="provider",
            name="api_token",
            field=models.TextField(blank=True, default=""),
        ),
        migrations.AlterField(
            model_name="provider",
            name="webhook_secret",
            field=models.TextField(blank=True, default=""),
        ),
        migrations.RunPython(encrypt_existing, decrypt_existing, elidable=False),
        migrations.AlterField(
            model_name="provider",
            name="api_token",
            field=core.secrets.EncryptedSecretField(
                help_text="Sent to the LSP as `Authorization: Bearer <token>`.",
                verbose_name="API token",
            ),
        ),
        migrations.AlterField(
            model_name="provider",
            name="webhook_secret",
            field=core.secrets.EncryptedSecretField(
                help_text="Standard Webhooks secret (whsec_…) the LSP signs its webhooks with."
            ),
        ),
    ]
