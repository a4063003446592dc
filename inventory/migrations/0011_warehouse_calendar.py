import datetime

import django.contrib.postgres.fields
import django.core.validators
import django.db.models.deletion
from django.db import migrations, models

import inventory.models


class Migration(migrations.Migration):
    dependencies = [
        ("inventory", "0010_product_barcodes"),
    ]

    operations = [
        migrations.CreateModel(
            name="WarehouseHoliday",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
                ("date", models.DateField()),
                ("name", models.CharField(blank=True, default="", max_length=100)),
            ],
            options={
                "ordering": ["warehouse", "date"],
            },
        ),
        migrations.AddField(
            model_name="warehouse",
            name="cutoff_time",
            field=models.TimeField(
                default=datetime.time(15, 0),
                help_text="Orders placed before this local time on a working day ship that day.",
            ),
        ),
        migrations.AddField(
            model_name="warehouse",
            name="timezone",
            field=models.CharField(
                default="Europe/Berlin",
                help_text="IANA time zone of the site, e.g. Europe/Berlin; cut-off and days are local.",
                max_length=64,
                validators=[inventory.models.timezone_name_validator],
            ),
        ),
        migrations.AddField(
            model_name="warehouse",
            name="working_days",
            field=django.contrib.postgres.fields.ArrayField(
                base_field=models.PositiveSmallIntegerField(
                    validators=[
                        django.core.validators.MinValueValidator(1),
                        django.core.validators.MaxValueValidator(7),
                    ]
                ),
                default=inventory.models._default_working_days,
                help_text="ISO weekdays the site ships on: 1 = Monday ... 7 = Sunday, e.g. 1,2,3,4,5.",
                size=None,
                validators=[inventory.models.working_days_validator],
            ),
        ),
        migrations.AddConstraint(
            model_name="warehouse",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("working_days__contained_by", [1, 2, 3, 4, 5, 6, 7]),
                    models.Q(("working_days", []), _negated=True),
                ),
                name="warehouse_working_days_iso",
            ),
        ),
        migrations.AddField(
            model_name="warehouseholiday",
            name="warehouse",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE,
                related_name="holidays",
                to="inventory.warehouse",
            ),
        ),
        migrations.AddConstraint(
            model_name="warehouseholiday",
            constraint=models.UniqueConstraint(
                fields=("warehouse", "date"), name="warehouseholiday_unique"
            ),
        ),
    ]
