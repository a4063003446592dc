"""What LSPs charge: rate cards, their zones and charge rules (docs/economics.md).

A card is edited as a draft and priced from only once it is active; activation
validates it as a whole (economics.services.rate_cards), and the database refuses
two active cards of one provider whose validity overlaps.
"""

from __future__ import annotations

from django.conf import settings
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


class Stage(models.TextChoices):
    PLANNED = "planned", "Planned"
    DISPATCHED = "dispatched", "Dispatched"
    CANCELLED = "cancelled", "Cancelled before dispatch"
    # A return shipment: priced once the return is received at the warehouse.
    RECEIVED = "received", "Return received"


class ShipmentCost(models.Model):
    """What a shipment is expected to cost under the card in force, and at which stage.

    Written by the pricing sweep (economics.services.expected_cost), never by the
    dispatch path: planned shipments are priced within a sweep period of being
    created, and priced again once dispatched.
    """

    shipment = models.OneToOneField(
        "logistics.Shipment", on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    stage = models.CharField(max_length=12, choices=Stage.choices)
    card = models.ForeignKey(
        RateCard, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    currency = models.CharField(max_length=3, blank=True, default="")
    total = models.DecimalField(max_digits=14, decimal_places=4, null=True, blank=True)
    problems = ArrayField(models.CharField(max_length=300), default=list, blank=True)
    priced_at = models.DateTimeField()

    class Meta:
        permissions = [("view_expected_cost", "Can see what shipments are expected to cost")]
        constraints = [
            models.CheckConstraint(
                condition=Q(stage__in=["planned", "dispatched", "cancelled", "received"]),
                name="shipmentcost_stage_known",
            ),
            # No card in force: nothing priced, and the reason is in `problems`.
            models.CheckConstraint(
                condition=Q(card__isnull=True, total__isnull=True)
                | Q(card__isnull=False, total__isnull=False),
                name="shipmentcost_total_iff_card",
            ),
        ]
        indexes = [
            # The dispatched-stage sweep reads the planned ones only.
            models.Index(
                fields=["shipment"], condition=Q(stage="planned"), name="shipmentcost_planned"
            )
        ]

    def __str__(self) -> str:
        return f"{self.shipment_id} {self.stage} {self.total} {self.currency}"


class ShipmentCharge(models.Model):
    """One expected charge line of a shipment, naming the rule that produced it."""

    shipment = models.ForeignKey("logistics.Shipment", on_delete=models.CASCADE, related_name="+")
    rule = models.ForeignKey(ChargeRule, on_delete=models.PROTECT, related_name="+")
    charge_type = models.CharField(max_length=16, choices=ChargeType.choices)
    description = models.CharField(max_length=150)
    quantity = models.PositiveIntegerField()
    unit_amount = models.DecimalField(max_digits=14, decimal_places=4)
    amount = models.DecimalField(max_digits=14, decimal_places=4)

    class Meta:
        ordering = ["shipment", "id"]
        indexes = [models.Index(fields=["shipment", "id"], name="shipmentcharge_shipment")]

    def __str__(self) -> str:
        return f"{self.shipment_id} {self.description} {self.amount}"


class SweepCursor(models.Model):
    """How far a sweep of economics has read (one row per sweep)."""

    name = models.SlugField(max_length=50, primary_key=True)
    position = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.name}@{self.position}"


class InvoiceProfile(models.Model):
    """How one provider's invoice CSV is laid out: its column names and number formats."""

    provider = models.ForeignKey(
        "logistics.Provider", on_delete=models.CASCADE, related_name="invoice_profiles"
    )
    name = models.SlugField(max_length=50)
    # Our column name → the provider's (economics.services.invoice_parsing.COLUMNS).
    columns = models.JSONField(default=dict, blank=True)
    # The provider's charge code → ours (ChargeType); codes not listed are read as ours.
    charge_types = models.JSONField(default=dict, blank=True)
    delimiter = models.CharField(max_length=1, default=",")
    date_format = models.CharField(max_length=32, default="%Y-%m-%d")
    decimal_separator = models.CharField(max_length=1, default=".")
    thousands_separator = models.CharField(max_length=1, blank=True, default="")
    tolerance_absolute = models.DecimalField(
        max_digits=10, decimal_places=4, null=True, blank=True,
        help_text="Empty: ECONOMICS_TOLERANCE_ABSOLUTE.",
    )  # fmt: skip
    tolerance_percent = models.DecimalField(
        max_digits=7, decimal_places=4, null=True, blank=True,
        help_text="Empty: ECONOMICS_TOLERANCE_PERCENT.",
    )  # fmt: skip

    class Meta:
        ordering = ["provider", "name"]
        constraints = [
            models.UniqueConstraint(fields=["provider", "name"], name="invoiceprofile_name"),
            models.CheckConstraint(
                condition=Q(decimal_separator__in=[".", ","]),
                name="invoiceprofile_decimal_separator",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.provider_id}:{self.name}"


class Outcome(models.TextChoices):
    MATCHED = "matched", "Matched"
    OVERCHARGED = "overcharged", "Overcharged"
    UNDERCHARGED = "undercharged", "Undercharged"
    UNKNOWN_REFERENCE = "unknown_reference", "Unknown reference"
    DUPLICATE = "duplicate", "Billed twice"
    NOT_INVOICED = "not_invoiced", "Work not invoiced"


class Invoice(TimeStampedModel):
    """One LSP invoice, imported once, with what reconciliation found."""

    provider = models.ForeignKey("logistics.Provider", on_delete=models.PROTECT, related_name="+")
    number = models.CharField(max_length=64)
    currency = models.CharField(max_length=3, validators=[currency_code_validator])
    period_start = models.DateField()
    period_end = models.DateField(help_text="Inclusive.")
    invoiced_total = models.DecimalField(max_digits=16, decimal_places=4)
    expected_total = models.DecimalField(max_digits=16, decimal_places=4)
    summary = models.JSONField(default=dict)
    source_name = models.CharField(max_length=255, blank=True, default="")
    imported_by = models.CharField(max_length=150, blank=True, default="")

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["provider", "number"], name="invoice_number_once"),
            models.CheckConstraint(
                condition=Q(period_end__gte=models.F("period_start")), name="invoice_period"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.provider_id} {self.number}"


class InvoiceLine(models.Model):
    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="lines")
    line_number = models.PositiveIntegerField()
    reference = models.CharField(max_length=100, blank=True, default="")
    tracking_number = models.CharField(max_length=100, blank=True, default="")
    charge_type = models.CharField(max_length=16, choices=ChargeType.choices)
    description = models.CharField(max_length=200, blank=True, default="")
    quantity = models.IntegerField(default=1)
    amount = models.DecimalField(max_digits=14, decimal_places=4)
    service_date = models.DateField(null=True, blank=True)
    shipment = models.ForeignKey(
        "logistics.Shipment", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # An `inbound_unit` line matches an inbound shipment (ASN) instead.
    inbound = models.ForeignKey(
        "inventory.InboundShipment",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    expected_amount = models.DecimalField(max_digits=14, decimal_places=4, null=True, blank=True)
    outcome = models.CharField(max_length=20, choices=Outcome.choices)

    class Meta:
        ordering = ["invoice", "line_number"]
        constraints = [
            models.UniqueConstraint(fields=["invoice", "line_number"], name="invoiceline_once"),
        ]
        indexes = [
            # "Was this work billed before?" for the duplicate check of later invoices.
            models.Index(fields=["shipment", "charge_type"], name="invoiceline_shipment_charge"),
            models.Index(
                fields=["inbound"], condition=Q(inbound__isnull=False), name="invoiceline_inbound"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.invoice_id}#{self.line_number} {self.outcome}"


class Dispute(TimeStampedModel):
    """A discrepancy between the bill and the contract, followed until it is settled."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        DISPUTED = "disputed", "Disputed with the provider"
        CREDITED = "credited", "Credited by the provider"
        ACCEPTED = "accepted", "Accepted as billed"
        WRITTEN_OFF = "written_off", "Written off"

    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="disputes")
    line = models.OneToOneField(
        InvoiceLine, on_delete=models.CASCADE, null=True, blank=True, related_name="dispute"
    )
    shipment = models.ForeignKey(
        "logistics.Shipment", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    kind = models.CharField(max_length=20, choices=Outcome.choices)
    expected = models.DecimalField(max_digits=14, decimal_places=4, null=True, blank=True)
    invoiced = models.DecimalField(max_digits=14, decimal_places=4, null=True, blank=True)
    difference = models.DecimalField(max_digits=14, decimal_places=4)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.OPEN)
    note = models.TextField(blank=True, default="")
    decided_by = models.CharField(max_length=150, blank=True, default="")
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["invoice", "id"]
        permissions = [("decide_dispute", "Can dispute, accept or write off invoice lines")]
        constraints = [
            models.CheckConstraint(condition=~Q(kind="matched"), name="dispute_is_a_discrepancy"),
            models.CheckConstraint(
                condition=Q(status__in=["open", "disputed", "credited", "accepted", "written_off"]),
                name="dispute_status_known",
            ),
        ]
        indexes = [models.Index(fields=["status", "invoice"], name="dispute_status")]

    def __str__(self) -> str:
        return f"dispute {self.pk} {self.kind} {self.status}"


class DisputeEvent(models.Model):
    """Who moved a dispute, when, from which status to which, and why."""

    dispute = models.ForeignKey(Dispute, on_delete=models.CASCADE, related_name="events")
    from_status = models.CharField(max_length=12)
    to_status = models.CharField(max_length=12)
    note = models.TextField(blank=True, default="")
    actor = models.CharField(max_length=150)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["dispute", "at", "id"]

    def __str__(self) -> str:
        return f"{self.dispute_id} {self.from_status}→{self.to_status}"


class InvoiceImportJob(TimeStampedModel):
    """An invoice file uploaded in the ops screens, imported by a worker with progress."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    provider = models.ForeignKey("logistics.Provider", on_delete=models.PROTECT, related_name="+")
    profile_name = models.CharField(max_length=50, blank=True, default="")
    file = models.FileField(upload_to="invoices/%Y/%m/")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.QUEUED)
    total = models.PositiveIntegerField(default=0)
    invoice = models.ForeignKey(
        Invoice, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    error = models.TextField(blank=True, default="")
    errors = models.JSONField(default=list, blank=True, help_text="Unreadable lines, if any.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["queued", "running", "done", "failed"]),
                name="invoiceimportjob_status_known",
            ),
        ]

    def __str__(self) -> str:
        return f"Invoice import #{self.pk}"

    @property
    def is_finished(self) -> bool:
        return self.status in {self.Status.DONE, self.Status.FAILED}


class StorageCharge(models.Model):
    """A day of storage at an LSP-operated site: the units held and what the card charges."""

    warehouse = models.ForeignKey("inventory.Warehouse", on_delete=models.PROTECT, related_name="+")
    day = models.DateField()
    provider = models.ForeignKey("logistics.Provider", on_delete=models.PROTECT, related_name="+")
    card = models.ForeignKey(
        RateCard, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    units = models.PositiveIntegerField()
    currency = models.CharField(max_length=3, blank=True, default="")
    amount = models.DecimalField(max_digits=14, decimal_places=4, null=True, blank=True)
    problems = ArrayField(models.CharField(max_length=300), default=list, blank=True)
    accrued_at = models.DateTimeField()

    class Meta:
        ordering = ["-day", "warehouse"]
        constraints = [
            models.UniqueConstraint(fields=["warehouse", "day"], name="storagecharge_once_a_day"),
        ]

    def __str__(self) -> str:
        return f"{self.warehouse_id} {self.day} {self.units} {self.amount}"


class RepricingJob(TimeStampedModel):
    """Pricing a provider's shipments again after its cards changed (a card activated or
    retired), batch by batch, with progress read from the row."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"

    provider = models.ForeignKey("logistics.Provider", on_delete=models.PROTECT, related_name="+")
    card = models.ForeignKey(RateCard, on_delete=models.CASCADE, related_name="repricing_jobs")
    reason = models.CharField(max_length=200)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.QUEUED)
    period_start = models.DateField()
    period_end = models.DateField(null=True, blank=True, help_text="Exclusive; empty: open.")
    total = models.PositiveIntegerField(default=0)
    processed = models.PositiveIntegerField(default=0)
    # The last shipment id priced: a re-run after a lost worker resumes after it.
    position = models.BigIntegerField(default=0)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(processed__lte=models.F("total")), name="repricingjob_progress"
            ),
        ]

    def __str__(self) -> str:
        return f"Re-pricing #{self.pk}"

    @property
    def percent(self) -> int:
        if self.status == self.Status.DONE:
            return 100
        return int(self.processed * 100 / self.total) if self.total else 0


class ProviderDay(models.Model):
    """One provider's figures for one day: what the scorecard sums (docs/economics.md).

    Written only by economics.services.scorecard (recomputed whole, never incremented),
    so the page reads a few hundred rows whatever the traffic. Durations are sparse
    log-scale histograms (economics.histogram): {"bucket": count}.
    """

    provider = models.ForeignKey("logistics.Provider", on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    # Outbound shipments dispatched that day, and of those, the time to the first scan.
    shipments = models.PositiveIntegerField(default=0)
    to_first_scan = models.JSONField(default=dict)
    # Outbound shipments created that day, and how many of them failed to dispatch.
    planned = models.PositiveIntegerField(default=0)
    dispatch_failed = models.PositiveIntegerField(default=0)
    # Outbound shipments delivered that day: with a promise to judge them by, on time.
    delivered = models.PositiveIntegerField(default=0)
    on_time_sample = models.PositiveIntegerField(default=0)
    on_time = models.PositiveIntegerField(default=0)
    to_delivered = models.JSONField(default=dict)
    # Shipments with an exception-type tracking event that day, by reason.
    exceptions = models.JSONField(default=dict)
    # Tracking events received that day: event time → received.
    event_latency = models.JSONField(default=dict)
    webhooks = models.PositiveIntegerField(default=0)
    webhooks_refused = models.PositiveIntegerField(default=0)
    # Inbound receipts (dock to stock) and returns received that day.
    dock_to_stock = models.JSONField(default=dict)
    returns_received = models.PositiveIntegerField(default=0)
    return_processing = models.JSONField(default=dict)
    # Expected cost of the shipments dispatched that day: {"EUR": "123.4500"}.
    cost_totals = models.JSONField(default=dict)
    cost_shipments = models.PositiveIntegerField(default=0)
    cost_orders = models.PositiveIntegerField(default=0)
    computed_at = models.DateTimeField()

    class Meta:
        ordering = ["day", "provider"]
        constraints = [
            models.UniqueConstraint(fields=["provider", "day"], name="providerday_once"),
            models.CheckConstraint(
                condition=Q(on_time__lte=models.F("on_time_sample"))
                & Q(on_time_sample__lte=models.F("delivered"))
                & Q(dispatch_failed__lte=models.F("planned"))
                & Q(webhooks_refused__lte=models.F("webhooks")),
                name="providerday_counts_consistent",
            ),
        ]
        indexes = [models.Index(fields=["day", "provider"], name="providerday_day")]

    def __str__(self) -> str:
        return f"{self.provider_id} {self.day.isoformat()}"


class InboundCost(models.Model):
    """What receiving an inbound shipment (ASN) at an LSP-operated site is expected to cost:
    the card's `inbound_unit` rules over the units received, priced once it is received."""

    inbound = models.OneToOneField(
        "inventory.InboundShipment", on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    provider = models.ForeignKey("logistics.Provider", on_delete=models.PROTECT, related_name="+")
    card = models.ForeignKey(
        RateCard, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    units = models.PositiveIntegerField()
    currency = models.CharField(max_length=3, blank=True, default="")
    total = models.DecimalField(max_digits=14, decimal_places=4, null=True, blank=True)
    problems = ArrayField(models.CharField(max_length=300), default=list, blank=True)
    priced_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(card__isnull=True, total__isnull=True)
                | Q(card__isnull=False, total__isnull=False),
                name="inboundcost_total_iff_card",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.inbound_id} {self.units} units {self.total} {self.currency}"
