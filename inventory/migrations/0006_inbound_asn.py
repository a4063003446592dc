"""ASNs for the partner API (issue 18): public numbers, channel, carrier, LSP reference, and
the status machine draft|sent → in_transit → receiving → received | cancelled.

Old statuses map to the new ones: expected → sent (an own site's ASN, or an LSP site's
that was never sent through an outbox: nothing to send now), closed → received.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("inventory", "0005_low_stock_alerts_sync"),
        ("orders", "0009_shipped_within_ordered_folded"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RunSQL(
            "CREATE SEQUENCE IF NOT EXISTS inventory_inbound_number_seq START 1",
            "DROP SEQUENCE IF EXISTS inventory_inbound_number_seq",
        ),
        migrations.AddField(
            model_name="inboundshipment",
            name="carrier",
            field=models.CharField(blank=True, default="", max_length=100),
        ),
        migrations.AddField(
            model_name="inboundshipment",
            name="channel",
            field=models.ForeignKey(
                blank=True,
                help_text="The channel whose API key announced it; empty for staff-created ASNs.",
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="orders.channel",
            ),
        ),
        migrations.AddField(
            model_name="inboundshipment",
            name="last_error",
            field=models.TextField(blank=True, default=""),
        ),
        migrations.AddField(
            model_name="inboundshipment",
            name="number",
            field=models.CharField(editable=False, max_length=16, null=True),
        ),
        migrations.AddField(
            model_name="inboundshipment",
            name="provider_reference",
            field=models.CharField(
                blank=True, default="", help_text="The LSP's id of this ASN.", max_length=128
            ),
        ),
        migrations.AddField(
            model_name="inboundshipment",
            name="sent_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="inboundshipment",
            name="tracking_number",
            field=models.CharField(blank=True, default="", max_length=100),
        ),
        migrations.AlterField(
            model_name="inboundshipment",
            name="status",
            field=models.CharField(
                choices=[
                    ("draft", "Draft (not yet accepted by the LSP)"),
                    ("sent", "Sent"),
                    ("in_transit", "In transit"),
                    ("receiving", "Receiving"),
                    ("received", "Received"),
                    ("cancelled", "Cancelled"),
                ],
                default="sent",
                max_length=16,
            ),
        ),
    ]
