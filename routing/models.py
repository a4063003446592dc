"""Routing rules: which site and provider ship an order (docs/routing.md).

A rule set is a version: a draft is edited and simulated (what-if), then published;
at most one version is published at a time (the database says so). Rules are tried in
position order and the first whose conditions match decides; an order no rule matches
gets the rule set's defaults. Sites and providers are named by code, so a rule set
reads the same in the ops screen, the admin and its CSV.
"""

from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q

from core.models import TimeStampedModel
from inventory.models import currency_code_validator


class SplitPolicy(models.TextChoices):
    COMPLETE = "complete", "Ship complete from one site"
    FEWEST = "fewest", "Fewest shipments"
    AVAILABLE_NOW = "available_now", "Ship what is available now, backorder the rest"
    MAX_SHIPMENTS = "max_shipments", "At most N shipments"


class Objective(models.TextChoices):
    PRIORITY = "priority", "Channel priority"
    CHEAPEST = "cheapest", "Cheapest"
    FASTEST = "fastest", "Fastest"
    CHEAPEST_ON_TIME = "cheapest_on_time", "Cheapest that meets the promise"


class SiteAction(models.TextChoices):
    NONE = "none", "No site action"
    ONLY = "only", "Only these sites or providers"
    PREFER = "prefer", "Prefer these sites or providers"
    EXCLUDE = "exclude", "Exclude these sites or providers"


class RuleSet(TimeStampedModel):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        PUBLISHED = "published", "Published"
        RETIRED = "retired", "Retired"

    version = models.PositiveIntegerField(unique=True, editable=False)
    name = models.CharField(max_length=100)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    note = models.TextField(blank=True, default="")
    default_split_policy = models.CharField(
        max_length=16, choices=SplitPolicy.choices, default=SplitPolicy.FEWEST
    )
    default_max_shipments = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1)]
    )
    default_objective = models.CharField(
        max_length=20, choices=Objective.choices, default=Objective.PRIORITY
    )
    default_max_delivery_days = models.PositiveSmallIntegerField(
        default=5,
        help_text="The promise a `cheapest that meets the promise` objective keeps: delivered "
        "within this many days of the order being placed.",
    )
    created_by = models.CharField(max_length=150, blank=True, default="", editable=False)
    published_by = models.CharField(max_length=150, blank=True, default="", editable=False)
    published_at = models.DateTimeField(null=True, blank=True, editable=False)
    based_on = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="+", editable=False
    )

    class Meta:
        ordering = ["-version"]
        permissions = [("publish_ruleset", "Can publish a routing rule set")]
        constraints = [
            models.UniqueConstraint(
                fields=["status"],
                condition=Q(status="published"),
                name="ruleset_one_published",
            ),
            models.CheckConstraint(
                condition=Q(status="draft") | Q(published_at__isnull=False),
                name="ruleset_published_has_time",
            ),
            models.CheckConstraint(
                condition=~Q(default_split_policy="max_shipments")
                | Q(default_max_shipments__isnull=False),
                name="ruleset_max_shipments_needs_n",
            ),
        ]

    def __str__(self) -> str:
        return f"v{self.version} {self.name} ({self.status})"


class Rule(models.Model):
    """One routing rule: conditions on the order, then what it does with the candidates.

    An empty condition matches everything. `customs_required` is judged per site (does
    shipping from that site to the destination cross a customs border?): the rule matches
    when some site satisfies it, and a site action without listed sites or providers
    applies to exactly those sites.
    """

    rule_set = models.ForeignKey(RuleSet, on_delete=models.CASCADE, related_name="rules")
    position = models.PositiveIntegerField()
    name = models.CharField(max_length=100)
    # Conditions
    channels = ArrayField(models.CharField(max_length=32), default=list, blank=True)
    countries = ArrayField(models.CharField(max_length=2), default=list, blank=True)
    postcode_prefixes = ArrayField(models.CharField(max_length=20), default=list, blank=True)
    service_levels = ArrayField(models.CharField(max_length=32), default=list, blank=True)
    skus = ArrayField(models.CharField(max_length=64), default=list, blank=True)
    tags = ArrayField(models.CharField(max_length=32), default=list, blank=True)
    min_order_value = models.DecimalField(max_digits=14, decimal_places=4, null=True, blank=True)
    max_order_value = models.DecimalField(max_digits=14, decimal_places=4, null=True, blank=True)
    min_weight_grams = models.PositiveIntegerField(null=True, blank=True)
    max_weight_grams = models.PositiveIntegerField(null=True, blank=True)
    customs_required = models.BooleanField(null=True, blank=True)
    # Actions
    action = models.CharField(max_length=8, choices=SiteAction.choices, default=SiteAction.NONE)
    sites = ArrayField(models.CharField(max_length=32), default=list, blank=True)
    providers = ArrayField(models.CharField(max_length=32), default=list, blank=True)
    split_policy = models.CharField(
        max_length=16,
        choices=SplitPolicy.choices,
        blank=True,
        default="",
        help_text="Empty: the rule set's default.",
    )
    max_shipments = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1)]
    )
    objective = models.CharField(
        max_length=20,
        choices=Objective.choices,
        blank=True,
        default="",
        help_text="Empty: the rule set's default.",
    )
    max_delivery_days = models.PositiveSmallIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["rule_set", "position"]
        constraints = [
            models.UniqueConstraint(fields=["rule_set", "position"], name="rule_position_unique"),
            models.CheckConstraint(
                condition=Q(min_order_value__isnull=True)
                | Q(max_order_value__isnull=True)
                | Q(min_order_value__lte=models.F("max_order_value")),
                name="rule_value_range",
            ),
            models.CheckConstraint(
                condition=Q(min_weight_grams__isnull=True)
                | Q(max_weight_grams__isnull=True)
                | Q(min_weight_grams__lte=models.F("max_weight_grams")),
                name="rule_weight_range",
            ),
            models.CheckConstraint(
                condition=~Q(split_policy="max_shipments") | Q(max_shipments__isnull=False),
                name="rule_max_shipments_needs_n",
            ),
            # Only, prefer and exclude need a target: listed sites or providers, or the
            # sites a customs condition picks out.
            models.CheckConstraint(
                condition=Q(action="none")
                | ~Q(sites=[])
                | ~Q(providers=[])
                | Q(customs_required__isnull=False),
                name="rule_action_has_target",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.position} {self.name}"


class SiteCost(models.Model):
    """What handling an order costs at a site of our own, which no LSP rate card prices."""

    warehouse = models.OneToOneField(
        "inventory.Warehouse", on_delete=models.CASCADE, related_name="routing_cost"
    )
    per_order = models.DecimalField(max_digits=14, decimal_places=4, default=0)
    per_unit = models.DecimalField(max_digits=14, decimal_places=4, default=0)
    currency = models.CharField(max_length=3, validators=[currency_code_validator])

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(per_order__gte=0) & Q(per_unit__gte=0), name="sitecost_non_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.warehouse_id}: {self.per_order} + {self.per_unit}/unit {self.currency}"


class WhatIfRun(TimeStampedModel):
    """A draft rule set replayed over the orders of a past period (docs/routing.md, "What-if").

    A worker routes every order of the period with the rule set and writes one
    WhatIfOrder per order; `summary` holds the simulated and the actual totals once done.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    rule_set = models.ForeignKey(RuleSet, on_delete=models.CASCADE, related_name="whatif_runs")
    period_start = models.DateField()
    period_end = models.DateField()
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.QUEUED)
    processed = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(default=0)
    started_by = models.CharField(max_length=150, blank=True, default="")
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True, default="")
    stock_assumption = models.TextField(blank=True, default="")
    summary = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["queued", "running", "done", "failed"]),
                name="whatifrun_status_known",
            ),
            models.CheckConstraint(
                condition=Q(period_start__lte=models.F("period_end")),
                name="whatifrun_period_ordered",
            ),
            models.CheckConstraint(
                condition=Q(processed__lte=models.F("total")), name="whatifrun_processed_le_total"
            ),
        ]

    def __str__(self) -> str:
        return f"What-if #{self.pk}"

    @property
    def is_finished(self) -> bool:
        return self.status in {self.Status.DONE, self.Status.FAILED}


class WhatIfOrder(models.Model):
    """One order of a what-if run: the plan the rule set gives it, and what really happened.

    `order_id` is a plain number, not a foreign key: the rows are written with COPY by
    the hundred thousand and deleted with their run, and neither should pay for a
    reference check per row; the order's number is copied for the CSV.
    """

    run = models.ForeignKey(WhatIfRun, on_delete=models.CASCADE, related_name="orders")
    order_id = models.BigIntegerField()
    order_number = models.CharField(max_length=20)
    placed_at = models.DateTimeField()
    # Simulated
    strategy = models.CharField(max_length=8)  # single | split | partial | none
    rule_position = models.PositiveIntegerField(null=True, blank=True)  # None: the default
    sites = ArrayField(models.CharField(max_length=32), default=list, blank=True)
    providers = ArrayField(models.CharField(max_length=32), default=list, blank=True)
    shipments = models.PositiveSmallIntegerField(default=0)
    cost = models.DecimalField(max_digits=14, decimal_places=4, null=True, blank=True)
    currency = models.CharField(max_length=3, blank=True, default="")
    ship_by = models.DateField(null=True, blank=True)
    promised_delivery_date = models.DateField(null=True, blank=True)
    deadline = models.DateField(null=True, blank=True)
    # Actual
    actual_sites = ArrayField(models.CharField(max_length=32), default=list, blank=True)
    actual_shipments = models.PositiveSmallIntegerField(default=0)
    actual_cost = models.DecimalField(max_digits=14, decimal_places=4, null=True, blank=True)
    actual_currency = models.CharField(max_length=3, blank=True, default="")
    actual_delivered_on = models.DateField(null=True, blank=True)

    class Meta:
        # A restarted run deletes its rows first; the database refuses a second row anyway.
        constraints = [
            models.UniqueConstraint(fields=["run", "order_id"], name="whatiforder_once_per_run")
        ]

    def __str__(self) -> str:
        return f"{self.run_id}: {self.order_number}"
