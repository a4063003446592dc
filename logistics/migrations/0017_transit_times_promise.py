import django.contrib.postgres.fields
import django.core.validators
import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("logistics", "0016_webhook_endpoints_from_channels"),
    ]

    operations = [
        migrations.CreateModel(
            name="TransitTime",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
                (
                    "countries",
                    django.contrib.postgres.fields.ArrayField(
                        base_field=models.CharField(
                            max_length=2,
                            validators=[
                                django.core.validators.RegexValidator(
                                    "^[A-Z]{2}$", "Use an ISO 3166-1 alpha-2 country code."
                                )
                            ],
                        ),
                        blank=True,
                        default=list,
                        help_text="ISO 3166-1 alpha-2 destinations, e.g. DE,AT; empty: every other destination.",
                        size=None,
                    ),
                ),
                (
                    "days",
                    models.PositiveSmallIntegerField(
                        help_text="Carrier delivery days (Monday to Friday) from hand-over to delivery."
                    ),
                ),
            ],
            options={
                "ordering": ["provider", "service_level", "pk"],
            },
        ),
        migrations.AddField(
            model_name="shipment",
            name="promised_delivery_date",
            field=models.DateField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="shipment",
            name="ship_by",
            field=models.DateField(blank=True, null=True),
        ),
        migrations.AddConstraint(
            model_name="shipment",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("ship_by__isnull", True),
                    ("promised_delivery_date__isnull", True),
                    ("ship_by__lte", models.F("promised_delivery_date")),
                    _connector="OR",
                ),
                name="shipment_ships_before_delivery",
            ),
        ),
        migrations.AddField(
            model_name="transittime",
            name="provider",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE,
                related_name="transit_times",
                to="logistics.provider",
            ),
        ),
        migrations.AddField(
            model_name="transittime",
            name="service_level",
            field=models.ForeignKey(
                blank=True,
                help_text="Empty: any service level of the provider.",
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="transit_times",
                to="logistics.servicelevel",
            ),
        ),
        migrations.AddConstraint(
            model_name="transittime",
            constraint=models.CheckConstraint(
                condition=models.Q(("days__lte", 60)), name="transittime_days_sane"
            ),
        ),
        migrations.AddConstraint(
            model_name="transittime",
            constraint=models.UniqueConstraint(
                condition=models.Q(("countries", [])),
                fields=("provider", "service_level"),
                name="transittime_one_default_zone",
                nulls_distinct=False,
            ),
        ),
    ]
