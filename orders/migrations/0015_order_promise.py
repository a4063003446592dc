from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    # CREATE INDEX CONCURRENTLY: a live orders table keeps taking writes meanwhile.
    atomic = False

    dependencies = [
        ("orders", "0014_channel_catalogue_write"),
    ]

    operations = [
        migrations.AddField(
            model_name="order",
            name="ship_by",
            field=models.DateField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="order",
            name="promised_delivery_date",
            field=models.DateField(blank=True, null=True),
        ),
        # Both columns are new and empty: the check scans nothing it could refuse.
        migrations.AddConstraint(
            model_name="order",
            constraint=models.CheckConstraint(
                condition=models.Q(ship_by__isnull=True)
                | models.Q(promised_delivery_date__isnull=True)
                | models.Q(ship_by__lte=models.F("promised_delivery_date")),
                name="order_ships_before_delivery",
            ),
        ),
        AddIndexConcurrently(
            model_name="order",
            index=models.Index(
                fields=["ship_by", "id"],
                condition=models.Q(
                    status__in=("allocated", "backordered", "on_hold", "in_fulfilment"),
                    ship_by__isnull=False,
                ),
                name="order_promise_open",
            ),
        ),
    ]
