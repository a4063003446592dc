import django.db.models.functions.text
from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    # CREATE INDEX CONCURRENTLY: a live orders table keeps taking writes meanwhile.
    atomic = False

    dependencies = [
        ("orders", "0006_hold_owner_assignment"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="order",
            index=models.Index(
                django.db.models.functions.text.Upper("shipping_city"),
                models.F("placed_at"),
                models.F("id"),
                name="order_city_ci",
            ),
        ),
        AddIndexConcurrently(
            model_name="order",
            index=models.Index(fields=["placed_at", "id"], name="order_placed"),
        ),
        AddIndexConcurrently(
            model_name="hold",
            index=models.Index(
                condition=models.Q(("released_at__isnull", True)),
                fields=["placed_by", "created_at"],
                name="hold_active_placed_by",
            ),
        ),
    ]
