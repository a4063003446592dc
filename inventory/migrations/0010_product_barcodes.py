"""Every barcode of a product in inventory_productbarcode (unique), the primary one mirrored.

`Product.barcode` stays the primary barcode. The trigger keeps it in the barcode table:
whatever writes the column (admin, CSV import, demo seeder, tests' factories) keeps the
two in step without knowing about the table, and a primary barcode that another product
already holds (as primary or extra) is refused with the table's unique violation.
The existing primary barcodes are copied in.
"""

import django.db.models.deletion
from django.db import migrations, models

MIRROR_SQL = """
CREATE FUNCTION inventory_product_barcode_mirror() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND COALESCE(OLD.barcode, '') <> ''
            AND OLD.barcode IS DISTINCT FROM NEW.barcode THEN
        DELETE FROM inventory_productbarcode
        WHERE product_id = NEW.id AND barcode = OLD.barcode;
    END IF;
    IF COALESCE(NEW.barcode, '') <> '' THEN
        INSERT INTO inventory_productbarcode (product_id, barcode, created_at)
        VALUES (NEW.id, NEW.barcode, now())
        ON CONFLICT (barcode) DO NOTHING;
        IF NOT FOUND AND EXISTS (
            SELECT 1 FROM inventory_productbarcode
            WHERE barcode = NEW.barcode AND product_id <> NEW.id
        ) THEN
            RAISE unique_violation USING
                MESSAGE = format('Barcode %s belongs to another product.', NEW.barcode),
                CONSTRAINT = 'productbarcode_unique';
        END IF;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER inventory_product_barcode_mirror
AFTER INSERT OR UPDATE OF barcode ON inventory_product
FOR EACH ROW EXECUTE FUNCTION inventory_product_barcode_mirror();
"""
MIRROR_REVERSE_SQL = """
DROP TRIGGER inventory_product_barcode_mirror ON inventory_product;
DROP FUNCTION inventory_product_barcode_mirror();
"""
COPY_SQL = """
INSERT INTO inventory_productbarcode (product_id, barcode, created_at)
SELECT id, barcode, now() FROM inventory_product WHERE COALESCE(barcode, '') <> ''
"""


class Migration(migrations.Migration):
    dependencies = [
        ("inventory", "0009_stock_journal"),
        ("orders", "0001_initial"),
    ]

    operations = [
        migrations.CreateModel(
            name="ProductBarcode",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("barcode", models.CharField(max_length=64)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
            ],
            options={
                "ordering": ["product", "id"],
            },
        ),
        migrations.AddField(
            model_name="product",
            name="updated_by_channel",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to="orders.channel",
            ),
        ),
        migrations.AddIndex(
            model_name="product",
            index=models.Index(fields=["updated_at", "id"], name="product_updated"),
        ),
        migrations.AddField(
            model_name="productbarcode",
            name="product",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE,
                related_name="barcodes",
                to="inventory.product",
            ),
        ),
        migrations.AddConstraint(
            model_name="productbarcode",
            constraint=models.UniqueConstraint(fields=("barcode",), name="productbarcode_unique"),
        ),
        migrations.AddConstraint(
            model_name="productbarcode",
            constraint=models.CheckConstraint(
                condition=models.Q(("barcode", ""), _negated=True), name="productbarcode_not_blank"
            ),
        ),
        migrations.RunSQL(MIRROR_SQL, reverse_sql=MIRROR_REVERSE_SQL),
        migrations.RunSQL(COPY_SQL, reverse_sql=migrations.RunSQL.noop),
    ]
