"""ASNs (issue 18), step 2: old statuses to new ones (expected → sent, closed → received) and
a number for every existing ASN. Its own migration (transaction): Postgres refuses to alter
a table with pending trigger events, which the updates leave behind.
"""

from django.db import migrations


def statuses_and_numbers(apps, schema_editor):
    InboundShipment = apps.get_model("inventory", "InboundShipment")
    InboundShipment.objects.filter(status="expected").update(status="sent")
    InboundShipment.objects.filter(status="closed").update(status="received")
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "UPDATE inventory_inboundshipment SET number = 'ASN-' ||"
            " lpad(nextval('inventory_inbound_number_seq')::text, 6, '0') WHERE number IS NULL"
        )


class Migration(migrations.Migration):
    dependencies = [("inventory", "0006_inbound_asn")]

    operations = [migrations.RunPython(statuses_and_numbers, migrations.RunPython.noop)]
