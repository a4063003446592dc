import datetime
import zoneinfo
from typing import TYPE_CHECKING

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import BrinIndex
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import F, Func, Q

from core.models import TimeStampedModel
from inventory.numbers import inbound_number_next

country_code_validator = RegexValidator(r"^[A-Z]{2}$", "Use an ISO 3166-1 alpha-2 country code.")
currency_code_validator = RegexValidator(r"^[A-Z]{3}$", "Use an ISO 4217 currency code.")


def timezone_name_validator(value: str) -> None:
    """An IANA time zone name this Python knows (zoneinfo), e.g. Europe/Berlin."""
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationError(
            "%(value)s is not an IANA time zone name (e.g. Europe/Berlin).",
            params={"value": value},
        ) from exc


def working_days_validator(value: list[int]) -> None:
    if not value:
        raise ValidationError("A site ships on at least one day of the week.")
    if len(set(value)) != len(value):
        raise ValidationError("Name each day once.")


# The site calendar's defaults (docs/routing.md, "The delivery promise"). A fixed zone
# rather than settings.TIME_ZONE: that is the server's (UTC by default), while a site's
# cut-off is a wall-clock time where its people work; the demo and most sites are in
# central Europe. Every site says its own zone anyway.
WAREHOUSE_DEFAULT_TIMEZONE = "Europe/Berlin"
WAREHOUSE_DEFAULT_CUTOFF = datetime.time(15, 0)
WAREHOUSE_DEFAULT_WORKING_DAYS = (1, 2, 3, 4, 5)  # ISO weekdays: Monday to Friday


def _default_working_days() -> list[int]:
    return list(WAREHOUSE_DEFAULT_WORKING_DAYS)


if TYPE_CHECKING:
    _TransactionIdBase = models.Field[int | None, int | None]
else:
    _TransactionIdBase = models.Field


class TransactionIdField(_TransactionIdBase):
    """A Postgres `xid8`: the 64-bit id of the transaction that wrote the row.

    Read as an int. Compared in SQL only (`inventory/sql.py` casts the cursor to xid8):
    the ORM has no lookups for it.
    """

    def db_type(self, connection: BaseDatabaseWrapper) -> str:
        return "xid8"

    def from_db_value(self, value: object, expression: object, connection: object) -> int | None:
        return None if value is None else int(str(value))


class Product(TimeStampedModel):
    sku = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    barcode = models.CharField(max_length=64, unique=True, null=True, blank=True)
    weight_grams = models.PositiveIntegerField(default=0)
    length_mm = models.PositiveIntegerField(default=0)
    width_mm = models.PositiveIntegerField(default=0)
    height_mm = models.PositiveIntegerField(default=0)
    hs_code = models.CharField(max_length=10, blank=True, default="")
    country_of_origin = models.CharField(
        max_length=2, blank=True, default="", validators=[country_code_validator]
    )
    customs_description = models.CharField(max_length=200, blank=True, default="")
    customs_value = models.DecimalField(
        max_digits=14, decimal_places=4, null=True, blank=True, validators=[MinValueValidator(0)]
    )
    customs_currency = models.CharField(
        max_length=3, blank=True, default="", validators=[currency_code_validator]
    )
    is_active = models.BooleanField(default=True)
    # Free labels routing rules match on (e.g. "fragile", "bulky"); lower case.
    tags = ArrayField(models.CharField(max_length=32), default=list, blank=True)
    # The shared catalogue (docs/decisions/0008): who wrote the product last through the
    # partner API; null for staff and imports. orders.Channel, named by string (no import).
    updated_by_channel = models.ForeignKey(
        "orders.Channel", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["sku"]
        indexes = [
            # The partner API's catalogue feed: keyset on (updated_at, id).
            models.Index(fields=["updated_at", "id"], name="product_updated"),
        ]
        constraints = [
            models.CheckConstraint(condition=~Q(sku=""), name="product_sku_not_blank"),
            models.CheckConstraint(
                condition=Q(customs_value__isnull=True) | Q(customs_value__gte=0),
                name="product_customs_value_non_negative",
            ),
            models.CheckConstraint(
                condition=Q(hs_code="") | Q(hs_code__regex=r"^[0-9]{6,10}$"),
                name="product_hs_code_digits",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.sku} {self.name}"


class ProductBarcode(models.Model):
    """Every barcode of a product, each on one product only: the table barcode lookups use.

    `Product.barcode` is the primary one (printed on documents, shown on screens); a
    database trigger (migration 0009) keeps it in this table too, so whatever writes
    that column (admin, import, demo, tests) keeps the two in step, and a primary
    barcode another product already has is refused like any duplicate here.
    """

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="barcodes")
    barcode = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["product", "id"]
        constraints = [
            models.UniqueConstraint(fields=["barcode"], name="productbarcode_unique"),
            models.CheckConstraint(condition=~Q(barcode=""), name="productbarcode_not_blank"),
        ]

    def __str__(self) -> str:
        return self.barcode


class Warehouse(TimeStampedModel):
    class Kind(models.TextChoices):
        OWN = "own", "Own site"
        LSP = "lsp", "LSP-operated"

    code = models.SlugField(max_length=32, unique=True)
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.OWN)
    provider = models.ForeignKey(
        "logistics.Provider",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="warehouses",
        help_text="The LSP that operates this site (LSP-operated sites only).",
    )
    country = models.CharField(max_length=2, validators=[country_code_validator])
    city = models.CharField(max_length=100, blank=True, default="")
    postcode = models.CharField(max_length=20, blank=True, default="")
    line1 = models.CharField(max_length=200, blank=True, default="")
    is_active = models.BooleanField(default=True)
    # The site calendar of the delivery promise (logistics/promise.py).
    timezone = models.CharField(
        max_length=64,
        default=WAREHOUSE_DEFAULT_TIMEZONE,
        validators=[timezone_name_validator],
        help_text="IANA time zone of the site, e.g. Europe/Berlin; cut-off and days are local.",
    )
    cutoff_time = models.TimeField(
        default=WAREHOUSE_DEFAULT_CUTOFF,
        help_text="Orders placed before this local time on a working day ship that day.",
    )
    working_days = ArrayField(
        models.PositiveSmallIntegerField(validators=[MinValueValidator(1), MaxValueValidator(7)]),
        default=_default_working_days,
        validators=[working_days_validator],
        help_text="ISO weekdays the site ships on: 1 = Monday ... 7 = Sunday, e.g. 1,2,3,4,5.",
    )

    class Meta:
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind="own") | Q(provider__isnull=False),
                name="warehouse_lsp_site_has_provider",
            ),
            models.CheckConstraint(
                condition=Q(working_days__contained_by=[1, 2, 3, 4, 5, 6, 7]) & ~Q(working_days=[]),
                name="warehouse_working_days_iso",
            ),
        ]

    def __str__(self) -> str:
        return self.code


class WarehouseHoliday(TimeStampedModel):
    """A day a site does not ship although it is one of its working days."""

    warehouse = models.ForeignKey(Warehouse, on_delete=models.CASCADE, related_name="holidays")
    date = models.DateField()
    name = models.CharField(max_length=100, blank=True, default="")

    class Meta:
        ordering = ["warehouse", "date"]
        constraints = [
            models.UniqueConstraint(fields=["warehouse", "date"], name="warehouseholiday_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.warehouse_id} {self.date}"


# THE definition of "low stock" (docs/architecture.md, "Where each rule lives"): a level is
# low when it has a threshold (> 0) and what can still be promised to orders, on hand minus
# reserved, is at or below it. Reserved units are already sold, so counting them as stock
# would hide a shortage until the parcels leave. LOW_STOCK is the SQL form, used through
# StockLevel.objects.low(); StockLevel.is_low is the same rule in Python (the stock service's
# LowStockAlert rows follow it). tests/inventory/test_low_stock.py holds the two equal.
LOW_STOCK = Q(low_stock_threshold__gt=0) & Q(on_hand__lte=F("reserved") + F("low_stock_threshold"))


class StockLevelQuerySet(models.QuerySet["StockLevel"]):
    def low(self) -> "StockLevelQuerySet":
        """Levels that are low stock (LOW_STOCK)."""
        return self.filter(LOW_STOCK)


class StockLevel(models.Model):
    """What one warehouse holds of one product. Changed only by inventory.services.stock."""

    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="stock_levels")
    warehouse = models.ForeignKey(Warehouse, on_delete=models.PROTECT, related_name="stock_levels")
    on_hand = models.IntegerField(default=0)
    reserved = models.IntegerField(default=0)
    low_stock_threshold = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    objects = StockLevelQuerySet.as_manager()

    class Meta:
        permissions = [
            ("receive_stock", "Can receive inbound stock"),
            ("adjust_stock", "Can adjust stock levels"),
            ("count_stock", "Can record stock counts"),
            ("transfer_stock", "Can transfer stock between warehouses"),
            ("accept_reconciliation", "Can accept LSP stock reconciliation differences"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["product", "warehouse"], name="stocklevel_one_per_product_warehouse"
            ),
            models.CheckConstraint(
                condition=Q(reserved__gte=0) & Q(reserved__lte=F("on_hand")),
                name="stocklevel_reserved_within_on_hand",
            ),
        ]
        indexes = [models.Index(fields=["warehouse", "product"], name="stocklevel_wh_product")]

    def __str__(self) -> str:
        return f"{self.product_id}@{self.warehouse_id}: {self.on_hand}/{self.reserved}"

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved

    @property
    def is_low(self) -> bool:
        """LOW_STOCK for this one level."""
        return self.low_stock_threshold > 0 and self.available <= self.low_stock_threshold


class StockMovement(models.Model):
    """Append-only ledger: the sum of the deltas per (product, warehouse) equals the level."""

    class Type(models.TextChoices):
        RECEIPT = "receipt", "Receipt"
        ADJUSTMENT = "adjustment", "Adjustment"
        RESERVATION = "reservation", "Reservation"
        RELEASE = "release", "Release"
        SHIPMENT = "shipment", "Shipment"
        RETURN = "return", "Return"
        TRANSFER = "transfer", "Transfer"
        COUNT = "count", "Count"

    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="movements")
    warehouse = models.ForeignKey(Warehouse, on_delete=models.PROTECT, related_name="movements")
    type = models.CharField(max_length=16, choices=Type.choices)
    on_hand_delta = models.IntegerField(default=0)
    reserved_delta = models.IntegerField(default=0)
    reason = models.CharField(max_length=64, blank=True, default="")
    reference = models.CharField(
        max_length=100, blank=True, default="", help_text="e.g. order:CS-000123, asn:42"
    )
    order = models.ForeignKey(
        "orders.Order", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    note = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    # The journal of stock changes (the inventory feed's deltas, inventory.selectors
    # .stock_changes_since): the writing transaction's id, filled by the database on
    # every path (ORM, raw INSERT, COPY). Null on rows written before the column existed.
    xid = TransactionIdField(
        null=True, editable=False, db_default=Func(function="pg_current_xact_id")
    )

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=~(Q(on_hand_delta=0) & Q(reserved_delta=0)),
                name="stockmovement_changes_something",
            ),
        ]
        indexes = [
            models.Index(
                fields=["product", "warehouse", "-created_at"], name="stockmovement_level_hist"
            ),
            models.Index(fields=["order"], name="stockmovement_order"),
            # Appended at the right edge (ids only grow), so it costs intake little.
            models.Index(fields=["xid"], name="stockmovement_xid"),
            # Deltas by time: rows arrive in created_at order, so a BRIN index (a few
            # pages for millions of rows, next to nothing per insert) finds the tail.
            BrinIndex(fields=["created_at"], name="stockmovement_created_brin", autosummarize=True),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.on_hand_delta:+}/{self.reserved_delta:+}"


class Allocation(TimeStampedModel):
    """A reservation of some quantity of one order line at one warehouse."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Reserved"
        FULFILLED = "fulfilled", "Shipped"
        RELEASED = "released", "Released"

    order_line = models.ForeignKey(
        "orders.OrderLine", on_delete=models.CASCADE, related_name="allocations"
    )
    warehouse = models.ForeignKey(Warehouse, on_delete=models.PROTECT, related_name="allocations")
    quantity = models.PositiveIntegerField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(quantity__gt=0), name="allocation_quantity_positive"
            ),
            models.UniqueConstraint(
                fields=["order_line", "warehouse"],
                condition=Q(status="active"),
                name="allocation_one_active_per_line_warehouse",
            ),
        ]
        indexes = [models.Index(fields=["warehouse", "status"], name="allocation_wh_status")]

    def __str__(self) -> str:
        return f"{self.quantity} of line {self.order_line_id} at {self.warehouse_id}"


class AdjustmentReason(models.TextChoices):
    """Reason codes for manual and system adjustments (StockMovement.reason)."""

    DAMAGED = "damaged", "Damaged"
    LOST = "lost", "Lost / missing"
    FOUND = "found", "Found"
    EXPIRED = "expired", "Expired"
    CORRECTION = "correction", "Data correction"
    LSP_RECONCILIATION = "lsp_reconciliation", "LSP stock reconciliation"
    IMPORT = "import", "Stock level import"
    OTHER = "other", "Other"


class StockCount(TimeStampedModel):
    """A cycle count of one SKU at one warehouse.

    While a count is open the stock level is locked against adjustments,
    transfers and other counts (receipts and allocations still flow; the
    counted quantity is compared with on_hand at completion).
    """

    class Status(models.TextChoices):
        OPEN = "open", "In progress"
        COMPLETED = "completed", "Completed"
        CANCELLED = "cancelled", "Cancelled"

    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="counts")
    warehouse = models.ForeignKey(Warehouse, on_delete=models.PROTECT, related_name="counts")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    expected_on_hand = models.IntegerField(help_text="on_hand when the count started.")
    counted = models.IntegerField(null=True, blank=True)
    difference = models.IntegerField(null=True, blank=True)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    completed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["product", "warehouse"],
                condition=Q(status="open"),
                name="stockcount_one_open_per_level",
            ),
            models.CheckConstraint(
                condition=Q(counted__isnull=True) | Q(counted__gte=0),
                name="stockcount_counted_non_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"count {self.pk} {self.product_id}@{self.warehouse_id} ({self.status})"


class InboundShipment(TimeStampedModel):
    """An advance shipping notice (ASN): stock expected at one warehouse.

    Statuses move only through inventory.services.receiving (`INBOUND_TRANSITIONS`):
    an LSP site's ASN starts `draft` and becomes `sent` when the LSP accepted it; an own
    site's starts `sent` (there is nobody to send it to). Then `in_transit` (optional),
    `receiving` on the first receipt, `received` when closed; `cancelled` before any receipt.
    """

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft (not yet accepted by the LSP)"
        SENT = "sent", "Sent"
        IN_TRANSIT = "in_transit", "In transit"
        RECEIVING = "receiving", "Receiving"
        RECEIVED = "received", "Received"
        CANCELLED = "cancelled", "Cancelled"

    number = models.CharField(
        max_length=16,
        unique=True,
        default=inbound_number_next,
        editable=False,
        help_text="Public identifier, e.g. ASN-000123.",
    )
    reference = models.CharField(max_length=64)
    warehouse = models.ForeignKey(Warehouse, on_delete=models.PROTECT, related_name="inbounds")
    # By string: orders sits above inventory (no import); staff-created ASNs have none.
    channel = models.ForeignKey(
        "orders.Channel",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="The channel whose API key announced it; empty for staff-created ASNs.",
    )
    supplier = models.CharField(max_length=200, blank=True, default="")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.SENT)
    expected_at = models.DateTimeField(null=True, blank=True)
    carrier = models.CharField(max_length=100, blank=True, default="")
    tracking_number = models.CharField(max_length=100, blank=True, default="")
    provider_reference = models.CharField(
        max_length=128, blank=True, default="", help_text="The LSP's id of this ASN."
    )
    last_error = models.TextField(blank=True, default="")
    sent_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["warehouse", "reference"], name="inbound_reference_per_warehouse"
            ),
            models.CheckConstraint(
                condition=Q(
                    status__in=[
                        "draft",
                        "sent",
                        "in_transit",
                        "receiving",
                        "received",
                        "cancelled",
                    ]
                ),
                name="inbound_status_valid",
            ),
        ]
        indexes = [
            models.Index(fields=["channel", "created_at", "id"], name="inbound_channel_created"),
            models.Index(fields=["status", "updated_at"], name="inbound_status_updated"),
        ]

    def __str__(self) -> str:
        return f"{self.number} {self.reference} → {self.warehouse_id}"


class InboundLine(models.Model):
    inbound = models.ForeignKey(InboundShipment, on_delete=models.CASCADE, related_name="lines")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="+")
    expected_quantity = models.PositiveIntegerField(default=0)
    received_quantity = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["inbound", "id"]
        constraints = [
            models.UniqueConstraint(fields=["inbound", "product"], name="inboundline_one_per_sku"),
        ]

    def __str__(self) -> str:
        return f"{self.product_id}: {self.received_quantity}/{self.expected_quantity}"

    @property
    def discrepancy(self) -> int:
        """Received minus expected: negative is short, positive is over or unexpected."""
        return self.received_quantity - self.expected_quantity


class InboundReceipt(models.Model):
    """One scan/entry/LSP event that put received stock away (the ledger's reference)."""

    class Source(models.TextChoices):
        SCAN = "scan", "Barcode scan"
        MANUAL = "manual", "Typed"
        LSP = "lsp", "LSP event"

    line = models.ForeignKey(InboundLine, on_delete=models.CASCADE, related_name="receipts")
    quantity = models.PositiveIntegerField()
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.MANUAL)
    external_id = models.CharField(
        max_length=128,
        null=True,
        blank=True,
        unique=True,
        help_text="LSP event id; a redelivered event is recognised and ignored.",
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="inboundreceipt_qty_positive"),
        ]

    def __str__(self) -> str:
        return f"receipt {self.quantity} on line {self.line_id}"


class LowStockAlert(models.Model):
    """Open while its level is low stock (LOW_STOCK); resolved when it no longer is.

    Kept by inventory.services.stock on every change of a level or its threshold, and by
    `low_stock_alerts_sync` after bulk loads that bypass it, so the open alerts are
    exactly the levels StockLevel.objects.low() returns.
    """

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="+")
    warehouse = models.ForeignKey(Warehouse, on_delete=models.CASCADE, related_name="+")
    threshold = models.PositiveIntegerField()
    available = models.IntegerField(help_text="Available stock when the alert was raised.")
    raised_at = models.DateTimeField(auto_now_add=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-raised_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["product", "warehouse"],
                condition=Q(resolved_at__isnull=True),
                name="lowstockalert_one_open_per_level",
            ),
        ]

    def __str__(self) -> str:
        return f"low stock {self.product_id}@{self.warehouse_id}: {self.available}"


class StockSnapshot(TimeStampedModel):
    """What an LSP says it holds at one of its warehouses, to reconcile against our levels."""

    class Source(models.TextChoices):
        UPLOAD = "upload", "File upload"
        API = "api", "API / webhook"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        ACCEPTED = "accepted", "Accepted"

    warehouse = models.ForeignKey(Warehouse, on_delete=models.PROTECT, related_name="snapshots")
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.UPLOAD)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    taken_at = models.DateTimeField()
    errors = models.JSONField(default=list, blank=True, help_text="Rows that could not be read.")
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-taken_at"]

    def __str__(self) -> str:
        return f"snapshot {self.pk} {self.warehouse_id} {self.taken_at:%Y-%m-%d %H:%M}"


class StockSnapshotLine(models.Model):
    snapshot = models.ForeignKey(StockSnapshot, on_delete=models.CASCADE, related_name="lines")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="+")
    lsp_on_hand = models.IntegerField()
    consign_on_hand = models.IntegerField(help_text="Our on_hand when the snapshot was recorded.")
    applied_delta = models.IntegerField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["snapshot", "product"], name="snapshotline_one_per_sku"
            ),
            models.CheckConstraint(
                condition=Q(lsp_on_hand__gte=0), name="snapshotline_lsp_non_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.product_id}: lsp {self.lsp_on_hand} vs {self.consign_on_hand}"

    @property
    def difference(self) -> int:
        return self.lsp_on_hand - self.consign_on_hand


class ImportJob(TimeStampedModel):
    """A CSV import of products or stock levels, run by a worker with visible progress."""

    class Kind(models.TextChoices):
        PRODUCTS = "products", "Products"
        STOCK_LEVELS = "stock_levels", "Stock levels"

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting for a worker"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed (nothing applied)"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    file = models.FileField(upload_to="imports/%Y/%m/")
    dry_run = models.BooleanField(
        default=True, help_text="Preview the changes and row errors without applying anything."
    )
    skip_bad_rows = models.BooleanField(
        default=False,
        help_text="Apply the good rows even when some rows are bad (otherwise nothing is applied).",
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    total_rows = models.PositiveIntegerField(default=0)
    processed_rows = models.PositiveIntegerField(default=0)
    applied_rows = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True)
    preview = models.JSONField(default=list, blank=True)
    message = models.TextField(blank=True, default="")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"import {self.pk} {self.kind} ({self.status})"


class Bin(TimeStampedModel):
    """A storage location in an own warehouse (LSP sites keep their own locations).

    Stock per bin is BinStock, changed only by the stock engine (inventory.services.bins
    and inventory.services.stock); what a level holds beyond its bins is "unbinned"
    (received, picked or not yet put away).
    """

    warehouse = models.ForeignKey(Warehouse, on_delete=models.PROTECT, related_name="bins")
    code = models.CharField(max_length=32)
    zone = models.CharField(max_length=16, blank=True, default="")
    pick_sequence = models.PositiveIntegerField(
        default=0, help_text="Walking order of the pick path: lower is visited first."
    )
    is_active = models.BooleanField(default=True)
    max_units = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="How many units fit, all products together; empty: no limit.",
    )

    class Meta:
        ordering = ["warehouse", "pick_sequence", "code"]
        permissions = [("move_bin_stock", "Can put away and move stock between bins")]
        constraints = [
            models.UniqueConstraint(fields=["warehouse", "code"], name="bin_code_per_warehouse"),
            models.CheckConstraint(condition=~Q(code=""), name="bin_code_not_blank"),
            models.CheckConstraint(
                condition=Q(max_units__isnull=True) | Q(max_units__gt=0),
                name="bin_max_units_positive",
            ),
        ]
        indexes = [
            models.Index(fields=["warehouse", "zone", "pick_sequence"], name="bin_wh_zone_seq"),
        ]

    def __str__(self) -> str:
        return self.code

    def clean(self) -> None:
        # Only own sites have bins: an LSP keeps its own locations, and its stock moves by
        # its reports, which could never say which bin.
        if self.warehouse_id is not None and self.warehouse.kind != Warehouse.Kind.OWN:
            raise ValidationError({"warehouse": "Bins belong to own warehouses only."})


class BinStock(models.Model):
    """How many units of one product lie in one bin. Changed only by the stock engine.

    Per (product, warehouse) the bins together hold at most the level's on_hand.
    """

    bin = models.ForeignKey(Bin, on_delete=models.PROTECT, related_name="stock")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="bin_stock")
    quantity = models.IntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["bin", "product"], name="binstock_one_per_bin_product"),
            models.CheckConstraint(condition=Q(quantity__gte=0), name="binstock_non_negative"),
        ]
        indexes = [models.Index(fields=["product", "bin"], name="binstock_product_bin")]

    def __str__(self) -> str:
        return f"{self.product_id}@{self.bin_id}: {self.quantity}"


class BinMovement(models.Model):
    """Append-only journal of bin stock: per (bin, product) the deltas sum to BinStock.

    A move is two rows (out of one bin, into the other, each naming the other bin).
    `removal` rows follow an on_hand drop that the unbinned units could not cover
    (an adjustment, a count, a shipment of units never picked from their bin).
    """

    class Type(models.TextChoices):
        PUTAWAY = "putaway", "Put away"
        MOVE = "move", "Bin to bin"
        PICK = "pick", "Picked"
        REMOVAL = "removal", "Removed with on hand"

    bin = models.ForeignKey(Bin, on_delete=models.PROTECT, related_name="movements")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="+")
    type = models.CharField(max_length=16, choices=Type.choices)
    delta = models.IntegerField()
    other_bin = models.ForeignKey(
        Bin, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    reference = models.CharField(max_length=100, blank=True, default="")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=~Q(delta=0), name="binmovement_changes_something"),
            models.CheckConstraint(
                condition=Q(type__in=["putaway", "move", "pick", "removal"]),
                name="binmovement_type_valid",
            ),
        ]
        indexes = [
            models.Index(fields=["product", "bin", "-created_at"], name="binmovement_hist"),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.delta:+} {self.product_id}@{self.bin_id}"
