"""Bring the open low-stock alerts in line with the one rule (inventory.models.LOW_STOCK).

Before, quantity changes raised alerts on `available <= threshold`, clearing a threshold
left its alert open, and seeded levels had none, so the admin's open alerts disagreed
with the dashboard and the exception queue.
"""

from django.db import migrations
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone

# Frozen copy of inventory.models.LOW_STOCK as it was when this migration was written.
LOW_STOCK = Q(low_stock_threshold__gt=0) & Q(on_hand__lte=F("reserved") + F("low_stock_threshold"))


def sync(apps, schema_editor):
    StockLevel = apps.get_model("inventory", "StockLevel")
    LowStockAlert = apps.get_model("inventory", "LowStockAlert")
    same_level = {"product_id": OuterRef("product_id"), "warehouse_id": OuterRef("warehouse_id")}
    missing = (
        StockLevel.objects.filter(LOW_STOCK)
        .filter(~Exists(LowStockAlert.objects.filter(resolved_at__isnull=True, **same_level)))
        .values_list("product_id", "warehouse_id", "low_stock_threshold", "on_hand", "reserved")
    )
    LowStockAlert.objects.bulk_create(
        [
            LowStockAlert(
                product_id=p, warehouse_id=w, threshold=threshold, available=on_hand - reserved
            )
            for p, w, threshold, on_hand, reserved in missing.iterator(chunk_size=2000)
        ],
        ignore_conflicts=True,
        batch_size=1000,
    )
    LowStockAlert.objects.filter(resolved_at__isnull=True).exclude(
        Exists(StockLevel.objects.filter(LOW_STOCK).filter(**same_level))
    ).update(resolved_at=timezone.now())


class Migration(migrations.Migration):
    dependencies = [("inventory", "0004_import_job")]

    operations = [migrations.RunPython(sync, migrations.RunPython.noop)]
