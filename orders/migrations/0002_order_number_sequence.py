from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("orders", "0001_initial")]

    operations = [
        # Order numbers come from a sequence: gap-tolerant, never reused, no lock
        # on a counter row under concurrent intake.
        migrations.RunSQL(
            "CREATE SEQUENCE IF NOT EXISTS orders_order_number_seq START 1",
            "DROP SEQUENCE IF EXISTS orders_order_number_seq",
        ),
    ]
