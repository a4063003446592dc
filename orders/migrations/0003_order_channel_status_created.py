from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    # CREATE INDEX CONCURRENTLY: a live orders table keeps taking writes meanwhile.
    atomic = False

    dependencies = [
        ("orders", "0002_order_number_sequence"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="order",
            index=models.Index(
                fields=["channel", "status", "created_at", "id"],
                name="order_channel_status_created",
            ),
        ),
    ]
