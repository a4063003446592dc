import django.db.models.functions.text
from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    # CREATE INDEX CONCURRENTLY: shipments keep being dispatched and tracked meanwhile.
    atomic = False

    dependencies = [
        ("logistics", "0010_provider_secrets_encrypted"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="shipment",
            index=models.Index(
                django.db.models.functions.text.Upper("tracking_number"),
                name="shipment_tracking_ci",
            ),
        ),
        AddIndexConcurrently(
            model_name="parcel",
            index=models.Index(
                django.db.models.functions.text.Upper("tracking_number"),
                name="parcel_tracking_ci",
            ),
        ),
    ]
