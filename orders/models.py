from typing import Any

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex, OpClass
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Lower, Upper

from core.models import TimeStampedModel
from inventory.models import country_code_validator, currency_code_validator


class Channel(TimeStampedModel):
    """A sales channel or partner that sends orders (webshop, marketplace, wholesale)."""

    class Incoterm(models.TextChoices):
        DAP = "DAP", "DAP (receiver pays duties)"
        DDP = "DDP", "DDP (we pay duties)"

    code = models.SlugField(max_length=32, unique=True)
    name = models.CharField(max_length=200)
    is_active = models.BooleanField(default=True)
    warehouses = models.ManyToManyField(
        "inventory.Warehouse", through="ChannelWarehouse", related_name="channels", blank=True
    )
    order_value_limit = models.DecimalField(
        max_digits=14,
        decimal_places=4,
        null=True,
        blank=True,
        help_text="Orders above this total are put on hold for review.",
    )
    return_window_days = models.PositiveIntegerField(default=30)
    incoterm = models.CharField(max_length=3, choices=Incoterm.choices, default=Incoterm.DAP)
    # Webhook URLs and secrets: logistics.WebhookEndpoint (several per channel, by topic).
    catalogue_write = models.BooleanField(
        default=False,
        help_text="May create and change products in the shared catalogue through the "
        "partner API (PUT /api/v1/products/{sku}/, POST /api/v1/products/batch). Every "
        "channel may read it.",
    )

    class Meta:
        ordering = ["code"]
        permissions = [("view_dashboard", "Can see the operations dashboards")]

    def __str__(self) -> str:
        return self.code


class ChannelWarehouse(models.Model):
    """The channel's fulfilment policy: eligible warehouses, tried in priority order."""

    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="fulfilment_rules")
    warehouse = models.ForeignKey("inventory.Warehouse", on_delete=models.CASCADE, related_name="+")
    priority = models.PositiveSmallIntegerField(default=100)

    class Meta:
        ordering = ["channel", "priority", "warehouse"]
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "warehouse"], name="channelwarehouse_unique_pair"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.channel_id} → {self.warehouse_id} ({self.priority})"


# Orders not yet (fully) handed to a provider, whose ship_by the exception queue watches
# (backoffice.selectors.ops, promise_at_risk; the partial index order_promise_open).
PROMISE_OPEN_STATUSES = ("allocated", "backordered", "on_hold", "in_fulfilment")


class Order(TimeStampedModel):
    class Status(models.TextChoices):
        RECEIVED = "received", "Received"
        ON_HOLD = "on_hold", "On hold"
        BACKORDERED = "backordered", "Backordered"
        ALLOCATED = "allocated", "Allocated"
        IN_FULFILMENT = "in_fulfilment", "In fulfilment"
        PARTIALLY_SHIPPED = "partially_shipped", "Partially shipped"
        SHIPPED = "shipped", "Shipped"
        PARTIALLY_DELIVERED = "partially_delivered", "Partially delivered"
        DELIVERED = "delivered", "Delivered"
        PARTIALLY_RETURNED = "partially_returned", "Partially returned"
        RETURNED = "returned", "Returned"
        CANCELLED = "cancelled", "Cancelled"

    number = models.CharField(max_length=20, unique=True, editable=False)
    channel = models.ForeignKey(Channel, on_delete=models.PROTECT, related_name="orders")
    external_reference = models.CharField(max_length=100)
    status = models.CharField(max_length=24, choices=Status.choices, default=Status.RECEIVED)
    currency = models.CharField(max_length=3, validators=[currency_code_validator])
    total_amount = models.DecimalField(max_digits=14, decimal_places=4, default=0)
    priority = models.SmallIntegerField(default=0, help_text="Higher is allocated first.")

    customer_email = models.EmailField(max_length=254)
    customer_name = models.CharField(max_length=200)
    customer_phone = models.CharField(max_length=40, blank=True, default="")
    # Digits of the phone number reversed, so that the desk can match the local
    # part a customer reads out ("07700 900123") against "+44 7700 900123" with
    # an indexable prefix search.
    customer_phone_key = models.CharField(max_length=40, blank=True, default="", editable=False)

    shipping_name = models.CharField(max_length=200)
    shipping_line1 = models.CharField(max_length=200)
    shipping_line2 = models.CharField(max_length=200, blank=True, default="")
    shipping_city = models.CharField(max_length=100)
    shipping_postcode = models.CharField(max_length=20, blank=True, default="")
    # Upper-case without spaces: "sw1a 1aa" and "SW1A1AA" are the same postcode.
    shipping_postcode_key = models.CharField(max_length=20, blank=True, default="", editable=False)
    shipping_region = models.CharField(max_length=100, blank=True, default="")
    shipping_country = models.CharField(max_length=2, validators=[country_code_validator])

    service_level = models.ForeignKey(
        "logistics.ServiceLevel", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    placed_at = models.DateTimeField(help_text="When the customer placed the order.")
    cancelled_at = models.DateTimeField(null=True, blank=True)
    # The delivery promise (docs/routing.md, "The delivery promise"): the day the order
    # leaves its site(s) by and the day the customer is told it arrives. Empty while the
    # order has none (on hold or fully backordered before its first allocation).
    ship_by = models.DateField(null=True, blank=True)
    promised_delivery_date = models.DateField(null=True, blank=True)
    # Routed with the split policy "ship what is available now, backorder the rest"
    # (set by allocation): its allocated part ships at once and the backorder worker
    # allocates and ships the rest later, while the order is in fulfilment or already
    # partly shipped or delivered (docs/routing.md, "Re-routing").
    ships_partial = models.BooleanField(default=False, db_default=False)

    # Not a column: order intake leaves here the order as the partner API renders it
    # when order_create returns (its order.created data), for the 201 response
    # (orders.selectors.order_detail_json) to reuse instead of rendering it again.
    detail_json: str | None = None

    class Meta:
        permissions = [
            ("cancel_order", "Can cancel an order"),
            ("change_shipping_address", "Can change an order's shipping address"),
            ("add_order_note", "Can add a note to an order"),
            ("view_customer_contact", "Can see the customer's e-mail address and phone"),
            ("reroute_order", "Can re-route an order (release its stock and route it again)"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "external_reference"],
                name="order_external_reference_per_channel",
            ),
            models.CheckConstraint(
                condition=Q(total_amount__gte=0), name="order_total_non_negative"
            ),
            models.CheckConstraint(
                condition=Q(currency__regex=r"^[A-Z]{3}$"), name="order_currency_iso"
            ),
            models.CheckConstraint(
                condition=Q(shipping_country__regex=r"^[A-Z]{2}$"), name="order_country_iso"
            ),
            models.CheckConstraint(
                condition=Q(status="cancelled") | Q(cancelled_at__isnull=True),
                name="order_cancelled_at_only_when_cancelled",
            ),
            models.CheckConstraint(
                condition=Q(ship_by__isnull=True)
                | Q(promised_delivery_date__isnull=True)
                | Q(ship_by__lte=F("promised_delivery_date")),
                name="order_ships_before_delivery",
            ),
        ]
        indexes = [
            # Partner API: list by channel, newest changes first, stable cursor.
            models.Index(fields=["channel", "updated_at", "id"], name="order_channel_updated"),
            models.Index(fields=["channel", "created_at", "id"], name="order_channel_created"),
            models.Index(fields=["channel", "status", "updated_at"], name="order_channel_status"),
            # ?status= with the default newest-first order: without it Postgres walks
            # order_channel_created discarding every other status.
            models.Index(
                fields=["channel", "status", "created_at", "id"],
                name="order_channel_status_created",
            ),
            # Back office: queues by status and age.
            models.Index(fields=["status", "created_at"], name="order_status_created"),
            # Desk lookups.
            models.Index(Lower("customer_email"), name="order_email_ci"),
            models.Index(Upper("external_reference"), name="order_extref_ci"),
            models.Index(
                fields=["customer_phone_key"],
                name="order_phone_key",
                opclasses=["varchar_pattern_ops"],
            ),
            models.Index(
                fields=["shipping_postcode_key"],
                name="order_postcode_key",
                opclasses=["varchar_pattern_ops"],
            ),
            GinIndex(OpClass(Upper("customer_name"), name="gin_trgm_ops"), name="order_name_trgm"),
            # A city names thousands of orders: the index also hands them over newest first,
            # so the desk's 50 are the latest 50 without sorting the whole city.
            models.Index(Upper("shipping_city"), "placed_at", "id", name="order_city_ci"),
            # The empty desk's recent orders: the newest placed, read from the end of the index.
            models.Index(fields=["placed_at", "id"], name="order_placed"),
            # The exception queue's promise_at_risk: the open orders with a promise, by the
            # day they must leave (a small slice of the table, read from its start).
            models.Index(
                fields=["ship_by", "id"],
                condition=Q(status__in=PROMISE_OPEN_STATUSES, ship_by__isnull=False),
                name="order_promise_open",
            ),
        ]

    def __str__(self) -> str:
        return self.number

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.search_keys_set()
        super().save(*args, **kwargs)

    def search_keys_set(self) -> None:
        """Fill the normalised phone and postcode columns the desk searches by."""
        self.customer_phone_key = phone_key(self.customer_phone)
        self.shipping_postcode_key = postcode_key(self.shipping_postcode)


def phone_key(phone: str) -> str:
    return "".join(ch for ch in phone if ch.isdigit())[::-1]


def postcode_key(postcode: str) -> str:
    return "".join(postcode.split()).upper()


class OrderLine(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    line_number = models.PositiveSmallIntegerField()
    product = models.ForeignKey("inventory.Product", on_delete=models.PROTECT, related_name="+")
    sku = models.CharField(
        max_length=64, help_text="The SKU as ordered (kept if the product changes)."
    )
    quantity = models.PositiveIntegerField()
    unit_price = models.DecimalField(
        max_digits=14, decimal_places=4, validators=[MinValueValidator(0)]
    )
    quantity_shipped = models.PositiveIntegerField(default=0)
    quantity_delivered = models.PositiveIntegerField(default=0)
    quantity_returned = models.PositiveIntegerField(default=0)
    # Units that will never ship: the unshipped rest of a partially shipped order,
    # cancelled by `order_cancel_rest`. db_default too: bulk loaders that name their
    # columns still get zero.
    quantity_cancelled = models.PositiveIntegerField(default=0, db_default=0)

    class Meta:
        ordering = ["order", "line_number"]
        constraints = [
            models.UniqueConstraint(
                fields=["order", "line_number"], name="orderline_number_per_order"
            ),
            models.CheckConstraint(condition=Q(quantity__gt=0), name="orderline_quantity_positive"),
            models.CheckConstraint(
                condition=Q(unit_price__gte=0), name="orderline_price_non_negative"
            ),
            models.CheckConstraint(
                condition=Q(quantity_delivered__lte=F("quantity_shipped")),
                name="orderline_delivered_within_shipped",
            ),
            models.CheckConstraint(
                condition=Q(quantity_returned__lte=F("quantity_shipped")),
                name="orderline_returned_within_shipped",
            ),
            # Shipped + cancelled never exceed what was ordered; with cancelled >= 0 this
            # is also "never ship more than ordered" (one constraint, not two that overlap).
            models.CheckConstraint(
                condition=Q(quantity_cancelled__lte=F("quantity") - F("quantity_shipped")),
                name="orderline_cancelled_within_unshipped",
            ),
        ]
        indexes = [models.Index(fields=["product"], name="orderline_product")]

    def __str__(self) -> str:
        return f"{self.order_id}#{self.line_number} {self.quantity}×{self.sku}"

    @property
    def quantity_expected(self) -> int:
        """Units the customer is to get: ordered less cancelled (SQL: progress.EXPECTED)."""
        return self.quantity - self.quantity_cancelled

    @property
    def quantity_unshipped(self) -> int:
        """Units still to leave: what cancelling the rest of the order would cancel."""
        return self.quantity_expected - self.quantity_shipped


class OrderEvent(models.Model):
    """Append-only order timeline. Written only through orders.events."""

    class Type(models.TextChoices):
        RECEIVED = "received", "Order received"
        STATUS_CHANGED = "status_changed", "Status changed"
        ALLOCATED = "allocated", "Stock allocated"
        BACKORDERED = "backordered", "Backordered"
        DEALLOCATED = "deallocated", "Stock released"
        HOLD_PLACED = "hold_placed", "Hold placed"
        HOLD_RELEASED = "hold_released", "Hold released"
        HOLD_ASSIGNED = "hold_assigned", "Hold owner changed"
        CANCELLED = "cancelled", "Cancelled"
        REST_CANCELLED = "rest_cancelled", "Unshipped rest cancelled"
        ADDRESS_CHANGED = "address_changed", "Shipping address changed"
        EDITED = "order_edited", "Order edited"
        REROUTED = "order_rerouted", "Order re-routed"
        NOTE_ADDED = "note_added", "Note added"
        SHIPMENT_CREATED = "shipment_created", "Shipment created"
        SHIPMENT_DISPATCHED = "shipment_dispatched", "Shipment dispatched"
        DISPATCH_FAILED = "dispatch_failed", "Dispatch failed"
        SHIPPED = "shipped", "Shipped"
        DELIVERED = "delivered", "Delivered"
        TRACKING_EXCEPTION = "tracking_exception", "Tracking exception"
        RETURN_REQUESTED = "return_requested", "Return requested"
        RETURN_RECEIVED = "return_received", "Return received"

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="events")
    type = models.CharField(max_length=32, choices=Type.choices)
    parameters = models.JSONField(default=dict, blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    actor = models.CharField(
        max_length=100,
        blank=True,
        default="",
        help_text="Who or what acted: a user, an API key prefix, system.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["order", "created_at", "id"], name="orderevent_timeline")]

    def __str__(self) -> str:
        return f"{self.order_id} {self.type}"


class Hold(TimeStampedModel):
    class Reason(models.TextChoices):
        ADDRESS_INVALID = "address_invalid", "Address failed validation"
        VALUE_OVER_LIMIT = "value_over_limit", "Order value over channel limit"
        FRAUD_REVIEW = "fraud_review", "Fraud review"
        CUSTOMER_REQUEST = "customer_request", "Customer request"
        CUSTOMS_DATA_MISSING = "customs_data_missing", "Customs data missing"
        MANUAL = "manual", "Manual hold"

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="holds")
    reason = models.CharField(max_length=32, choices=Reason.choices)
    note = models.TextField(blank=True, default="")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    due_at = models.DateTimeField(null=True, blank=True)
    placed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    released_at = models.DateTimeField(null=True, blank=True)
    released_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    release_note = models.TextField(blank=True, default="")

    class Meta:
        permissions = [
            ("place_hold", "Can place a hold on an order"),
            ("release_hold", "Can release a hold"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["order", "reason"],
                condition=Q(released_at__isnull=True),
                name="hold_one_active_per_reason",
            ),
        ]
        indexes = [
            models.Index(
                fields=["created_at"], condition=Q(released_at__isnull=True), name="hold_active_age"
            ),
            # The desk's "my holds": an agent's released holds pile up over the years, the
            # active ones stay few.
            models.Index(
                fields=["placed_by", "created_at"],
                condition=Q(released_at__isnull=True),
                name="hold_active_placed_by",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.order_id} {self.reason}"

    @property
    def is_active(self) -> bool:
        return self.released_at is None


class PartnerFeedCursor(models.Model):
    """How far a periodic partner publication has read a journal (one row per feed).

    stock.changed (orders.services.stock_events) keeps here the stock changes cursor it
    publishes from; the row is locked while a window is published, so two overlapping
    runs cannot publish the same window twice.
    """

    name = models.CharField(max_length=64, unique=True)
    # The stock journal's changes cursor (inventory.selectors.ChangesCursor): xmax and the
    # transaction ids in progress when it was taken.
    value = models.BigIntegerField()
    in_progress = ArrayField(models.BigIntegerField(), default=list, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.name} @ {self.value}"
