import uuid

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from core.models import TimeStampedModel


class ReturnRequest(TimeStampedModel):
    """A return (RMA) of some shipped quantities of one order, from request to receipt."""

    class Status(models.TextChoices):
        REQUESTED = "requested", "Requested (waiting for a return label)"
        LABEL_ISSUED = "label_issued", "Return label issued"
        LABEL_FAILED = "label_failed", "Return label refused by the provider"
        IN_TRANSIT = "in_transit", "On its way back"
        DELIVERED = "delivered", "Arrived at the warehouse"
        RECEIVED = "received", "Received and inspected"

    order = models.ForeignKey("orders.Order", on_delete=models.PROTECT, related_name="returns")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.REQUESTED)
    # Sent as Idempotency-Key with the return-label request: a retry never makes two labels.
    idempotency_token = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # The delivered shipment the goods came with; its provider issues the return label.
    original_shipment = models.ForeignKey(
        "logistics.Shipment", on_delete=models.PROTECT, related_name="+"
    )
    # Where the goods go back to (the original shipment's warehouse).
    warehouse = models.ForeignKey("inventory.Warehouse", on_delete=models.PROTECT, related_name="+")
    return_shipment = models.OneToOneField(
        "logistics.Shipment",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="return_request",
    )
    note = models.TextField(blank=True, default="")
    currency = models.CharField(max_length=3)
    refund_amount_requested = models.DecimalField(
        max_digits=14,
        decimal_places=4,
        default=0,
        help_text="Unit price × requested quantity: what is due if everything comes back.",
    )
    refund_amount_due = models.DecimalField(
        max_digits=14,
        decimal_places=4,
        null=True,
        blank=True,
        help_text="Computed at receipt from the quantities received (payment is out of scope).",
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    requested_actor = models.CharField(max_length=100, blank=True, default="")
    label_attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")
    delivered_at = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField(null=True, blank=True)
    received_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        permissions = [
            ("request_return", "Can request a return for a customer"),
            ("receive_return", "Can receive and inspect returned goods"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(refund_amount_requested__gte=0), name="return_refund_requested_non_neg"
            ),
            models.CheckConstraint(
                condition=Q(refund_amount_due__isnull=True) | Q(refund_amount_due__gte=0),
                name="return_refund_due_non_negative",
            ),
            models.CheckConstraint(
                condition=~Q(status="received") | Q(received_at__isnull=False),
                name="return_received_has_time",
            ),
        ]
        indexes = [
            models.Index(fields=["order", "created_at"], name="return_order"),
            models.Index(fields=["status", "updated_at"], name="return_status_updated"),
        ]

    def __str__(self) -> str:
        return self.number

    @property
    def number(self) -> str:
        return f"RMA-{self.pk:06d}" if self.pk else "RMA-new"


class ReturnLine(models.Model):
    class Reason(models.TextChoices):
        DAMAGED = "damaged", "Arrived damaged"
        DEFECTIVE = "defective", "Defective"
        WRONG_ITEM = "wrong_item", "Wrong item sent"
        NOT_AS_DESCRIBED = "not_as_described", "Not as described"
        SIZE_FIT = "size_fit", "Size or fit"
        NO_LONGER_NEEDED = "no_longer_needed", "No longer needed"
        OTHER = "other", "Other"

    class Condition(models.TextChoices):
        AS_NEW = "as_new", "As new, unopened"
        OPENED = "opened", "Opened, complete"
        DAMAGED = "damaged", "Damaged"
        DEFECTIVE = "defective", "Defective"

    class Disposition(models.TextChoices):
        RESTOCK = "restock", "Restock (sellable again)"
        QUARANTINE = "quarantine", "Quarantine (inspect or repair)"
        DISPOSE = "dispose", "Dispose (write off)"

    return_request = models.ForeignKey(
        ReturnRequest, on_delete=models.CASCADE, related_name="lines"
    )
    order_line = models.ForeignKey(
        "orders.OrderLine", on_delete=models.PROTECT, related_name="return_lines"
    )
    quantity = models.PositiveIntegerField()
    reason = models.CharField(max_length=20, choices=Reason.choices)
    customer_note = models.CharField(max_length=500, blank=True, default="")
    quantity_received = models.PositiveIntegerField(default=0)
    condition = models.CharField(max_length=12, choices=Condition.choices, blank=True, default="")
    disposition = models.CharField(
        max_length=12, choices=Disposition.choices, blank=True, default=""
    )
    refund_amount = models.DecimalField(max_digits=14, decimal_places=4, null=True, blank=True)

    class Meta:
        ordering = ["return_request", "order_line__line_number"]
        constraints = [
            models.CheckConstraint(
                condition=Q(quantity__gt=0), name="returnline_quantity_positive"
            ),
            models.CheckConstraint(
                condition=Q(quantity_received__lte=F("quantity")),
                name="returnline_received_within_requested",
            ),
            models.UniqueConstraint(
                fields=["return_request", "order_line"], name="returnline_line_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.quantity}× line {self.order_line_id} ({self.reason})"
