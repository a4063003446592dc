"""What LSPs charge: rate cards, their zones and charge rules (docs/economics.md).

A card is edited as a draft and priced from only once it is active; activation
validates it as a whole (economics.services.rate_cards), and the database refuses
two active cards of one provider whose validity overlaps.
"""

from __future__ import annotations

from django.contrib.postgres.constraints import ExclusionConstraint
from django.contrib.postgres.fields import ArrayField, DateRangeField, RangeBoundary, RangeOperators
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Func, Q

from core.models import TimeStampedModel
from inventory.models import currency_code_validator


class DateRange(Func):
    function = "daterange"
    output_field = DateRangeField()


class RateCard(TimeStampedModel):
    """One version of a provider's prices, valid from a day until (not including) another."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        ACTIVE = "active", "Active"
        RETIRED = "retired", "Retired"

    provider = models.ForeignKey(
        "logistics.Provider", on_delete=models.PROTECT, related_name="rate_cards"
    )
    name = models.CharField(max_length=100)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.DRAFT)
    currency = models.CharField(max_length=3, validators=[currency_code_validator])
    valid_from = models.DateField()
    valid_to = models.DateField(
        null=True, blank=True, help_text="First day it no longer applies; empty: open-ended."
    )
    monthly_minimum = models.DecimalField(
        max_digits=14,
        decimal_places=4,
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
        help_text="The least the provider bills for a calendar month, whatever the work.",
    )
    activated_at = models.DateTimeField(null=True, blank=True, editable=False)
    activated_by = models.CharField(max_length=150, blank=True, default="", editable=False)

    class Meta:
        ordering = ["provider", "-valid_from"]
        permissions = [("activate_ratecard", "Can activate a rate card")]
        constraints = [
            models.CheckConstraint(
                condition=Q(valid_to__isnull=True) | Q(valid_to__gt=models.F("valid_from")),
                name="ratecard_valid_to_after_from",
            ),
            models.CheckConstraint(
                condition=Q(monthly_minimum__isnull=True) | Q(monthly_minimum__gte=0),
                name="ratecard_minimum_non_negative",
            ),
            models.CheckConstraint(
                condition=Q(status__in=["draft", "active", "retired"]), name="ratecard_status_known"
            ),
            ExclusionConstraint(
                name="ratecard_active_versions_do_not_overlap",
                expressions=[
                    ("provider", RangeOperators.EQUAL),
                    (DateRange("valid_from", "valid_to", RangeBoundary()), RangeOperators.OVERLAPS),
                ],
                condition=Q(status="active"),
            ),
        ]

    def __str__(self) -> str:
        until = self.valid_to.isoformat() if self.valid_to else "…"
        return f"{self.provider_id} {self.name} ({self.valid_from.isoformat()}–{until})"


class Zone(models.Model):
    """A group of destination countries priced alike on one card."""

    card = models.ForeignKey(RateCard, on_delete=models.CASCADE, related_name="zones")
    code = models.SlugField(max_length=32)
    name = models.CharField(max_length=100, blank=True, default="")
    countries = ArrayField(models.CharField(max_length=2), help_text="ISO 3166-1 alpha-2 codes.")

    class Meta:
        ordering = ["card", "code"]
        constraints = [
            models.UniqueConstraint(fields=["card", "code"], name="zone_code_per_card"),
            models.CheckConstraint(condition=Q(countries__len__gt=0), name="zone_has_countries"),
        ]

    def __str__(self) -> str:
        return f"{self.code} ({', '.join(self.countries)})"


class ChargeType(models.TextChoices):
    FULFILMENT = "fulfilment", "Per order (fulfilment fee)"
    ADDITIONAL_UNIT = "additional_unit", "Per additional unit (pick)"
    PARCEL = "parcel", "Per parcel, by zone and weight band"
    REMOTE_AREA = "remote_area", "Remote-area surcharge per parcel"
    RETURN = "return", "Per return received"
    INBOUND_UNIT = "inbound_unit", "Per inbound unit received"
    STORAGE = "storage", "Storage per unit (or pallet, bin) per day"
    CUSTOMS = "customs", "Per customs declaration"
    SURCHARGE = "surcharge", "Percentage surcharge"


class ChargeRule(models.Model):
    """One price on a card. Which fields matter depends on `charge_type` (docs/economics.md)."""

    class StorageBasis(models.TextChoices):
        UNIT = "unit", "Per unit"
        PALLET = "pallet", "Per pallet"
        BIN = "bin", "Per bin"

    card = models.ForeignKey(RateCard, on_delete=models.CASCADE, related_name="rules")
    charge_type = models.CharField(max_length=16, choices=ChargeType.choices)
    name = models.CharField(max_length=100, help_text="Shown on every charge line it produces.")
    amount = models.DecimalField(
        max_digits=14, decimal_places=4, null=True, blank=True, validators=[MinValueValidator(0)]
    )
    percent = models.DecimalField(
        max_digits=7, decimal_places=4, null=True, blank=True, help_text="Surcharges only."
    )
    applies_to = ArrayField(
        models.CharField(max_length=16, choices=ChargeType.choices),
        default=list,
        blank=True,
        help_text="Surcharges only: the charge types the percentage is taken of.",
    )
    zone = models.ForeignKey(
        Zone, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    weight_from_grams = models.PositiveIntegerField(null=True, blank=True)
    weight_to_grams = models.PositiveIntegerField(
        null=True, blank=True, help_text="Exclusive; empty: no upper bound."
    )
    included_units = models.PositiveSmallIntegerField(
        default=1, help_text="Additional-unit rules: units the fulfilment fee already covers."
    )
    postcode_prefixes = ArrayField(
        models.CharField(max_length=12), default=list, blank=True, help_text="Remote-area rules."
    )
    storage_basis = models.CharField(
        max_length=8, choices=StorageBasis.choices, default=StorageBasis.UNIT
    )

    class Meta:
        ordering = ["card", "charge_type", "zone", "weight_from_grams", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(charge_type__in=[choice.value for choice in ChargeType]),
                name="chargerule_type_known",
            ),
            # A surcharge is a percentage of other charges; everything else is an amount.
            models.CheckConstraint(
                condition=(
                    Q(charge_type="surcharge", percent__isnull=False, amount__isnull=True)
                    & Q(percent__gte=0, percent__lte=100)
                )
                | (~Q(charge_type="surcharge") & Q(amount__isnull=False, percent__isnull=True)),
                name="chargerule_amount_or_percent",
            ),
            models.CheckConstraint(
                condition=Q(amount__isnull=True) | Q(amount__gte=0),
                name="chargerule_amount_non_negative",
            ),
            models.CheckConstraint(
                condition=~Q(charge_type="parcel")
                | Q(zone__isnull=False, weight_from_grams__isnull=False),
                name="chargerule_parcel_has_zone_and_band",
            ),
            models.CheckConstraint(
                condition=Q(weight_to_grams__isnull=True)
                | Q(
                    weight_from_grams__isnull=False,
                    weight_to_grams__gt=models.F("weight_from_grams"),
                ),
                name="chargerule_band_not_empty",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_charge_type_display()}: {self.name}"
