"""ASNs (issue 18), step 3: numbers unique with their default, the status check, the indexes."""

from django.db import migrations, models

import inventory.numbers


class Migration(migrations.Migration):
    dependencies = [("inventory", "0007_inbound_asn_data")]

    operations = [
        migrations.AlterField(
            model_name="inboundshipment",
            name="number",
            field=models.CharField(
                default=inventory.numbers.inbound_number_next,
                editable=False,
                help_text="Public identifier, e.g. ASN-000123.",
                max_length=16,
                unique=True,
            ),
        ),
        migrations.AddIndex(
            model_name="inboundshipment",
            index=models.Index(
                fields=["channel", "created_at", "id"], name="inbound_channel_created"
            ),
        ),
        migrations.AddIndex(
            model_name="inboundshipment",
            index=models.Index(fields=["status", "updated_at"], name="inbound_status_updated"),
        ),
        migrations.AddConstraint(
            model_name="inboundshipment",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    (
                        "status__in",
                        ["draft", "sent", "in_transit", "receiving", "received", "cancelled"],
                    )
                ),
                name="inbound_status_valid",
            ),
        ),
    ]
