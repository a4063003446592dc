import uuid

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Upper

from core.models import TimeStampedModel
from core.secrets import EncryptedSecretField
from inventory.models import country_code_validator, currency_code_validator
from logistics import webhook_signing
from logistics.webhook_topics import Topic


class TrackingStatus(models.TextChoices):
    """Canonical tracking statuses every adapter maps its provider's statuses to."""

    PRE_TRANSIT = "pre_transit", "Pre-transit"
    IN_TRANSIT = "in_transit", "In transit"
    OUT_FOR_DELIVERY = "out_for_delivery", "Out for delivery"
    AVAILABLE_FOR_PICKUP = "available_for_pickup", "Available for pickup"
    DELIVERED = "delivered", "Delivered"
    FAILED_ATTEMPT = "failed_attempt", "Failed attempt"
    EXCEPTION = "exception", "Exception"
    RETURN_TO_SENDER = "return_to_sender", "Return to sender"
    CANCELLED = "cancelled", "Cancelled"
    UNKNOWN = "unknown", "Unknown"


class Provider(TimeStampedModel):
    """A logistics service provider (3PL or carrier) and how to talk to it."""

    class Kind(models.TextChoices):
        THREE_PL = "3pl", "3PL warehouse"
        CARRIER = "carrier", "Carrier"

    code = models.SlugField(max_length=32, unique=True)
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.THREE_PL)
    adapter = models.CharField(
        max_length=32, default="generic_http", help_text="Adapter registry key, e.g. generic_http."
    )
    base_url = models.URLField(blank=True, default="")
    # Encrypted at rest, write-only in the admin (core/secrets.py).
    api_token = EncryptedSecretField(
        "API token", help_text="Sent to the LSP as `Authorization: Bearer <token>`."
    )
    webhook_secret = EncryptedSecretField(
        help_text="Standard Webhooks secret (whsec_…) the LSP signs its webhooks with.",
        generate=webhook_signing.secret_generate,
        input_validators=[webhook_signing.secret_validate],
    )
    supports_webhooks = models.BooleanField(default=True)
    tracking_url_template = models.CharField(
        max_length=300,
        blank=True,
        default="",
        help_text="e.g. https://track.example/{tracking_number}",
    )
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.code


class ServiceLevel(TimeStampedModel):
    provider = models.ForeignKey(Provider, on_delete=models.PROTECT, related_name="service_levels")
    code = models.SlugField(max_length=32)
    name = models.CharField(max_length=200)
    max_transit_hours = models.PositiveIntegerField(
        default=72, help_text="A shipment with no delivery after this long is flagged late."
    )
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["provider", "code"]
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "code"], name="servicelevel_code_per_provider"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.provider_id}:{self.code}"


class TransitTime(TimeStampedModel):
    """How many carrier delivery days a provider takes to a zone (the delivery promise).

    No service level: any service of the provider. No countries: every destination no
    other row of the same provider and level names (the provider's default zone).
    logistics.promise_tables.PromiseTables.transit_days says which row wins.
    """

    provider = models.ForeignKey(Provider, on_delete=models.CASCADE, related_name="transit_times")
    service_level = models.ForeignKey(
        ServiceLevel,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="transit_times",
        help_text="Empty: any service level of the provider.",
    )
    countries = ArrayField(
        models.CharField(max_length=2, validators=[country_code_validator]),
        default=list,
        blank=True,
        help_text="ISO 3166-1 alpha-2 destinations, e.g. DE,AT; empty: every other destination.",
    )
    days = models.PositiveSmallIntegerField(
        help_text="Carrier delivery days (Monday to Friday) from hand-over to delivery."
    )

    class Meta:
        ordering = ["provider", "service_level", "pk"]
        constraints = [
            models.CheckConstraint(condition=Q(days__lte=60), name="transittime_days_sane"),
            # One default zone per provider and level: two would make the lookup ambiguous.
            models.UniqueConstraint(
                fields=["provider", "service_level"],
                condition=Q(countries=[]),
                nulls_distinct=False,
                name="transittime_one_default_zone",
            ),
        ]

    def __str__(self) -> str:
        zone = ",".join(self.countries) or "*"
        return f"{self.provider_id}:{self.service_level_id or '*'} {zone} {self.days}d"

    def clean(self) -> None:
        super().clean()
        if len(set(self.countries)) != len(self.countries):
            raise ValidationError({"countries": "Name each country once."})
        level = self.service_level if self.service_level_id is not None else None
        if (
            level is not None
            and self.provider_id is not None
            and level.provider_id != self.provider_id
        ):
            raise ValidationError({"service_level": "Pick a service level of this provider."})


class Shipment(TimeStampedModel):
    """What one provider executes for one order from one warehouse.

    A return shipment (direction `return`) carries goods back from the customer to
    `warehouse`; it is created by the returns app when the provider issues a return
    label, has no ShipmentLines (the return's lines say what comes back) and is
    tracked by the same pipeline without the outbound stock and order roll-up.
    """

    class Direction(models.TextChoices):
        OUTBOUND = "outbound", "Outbound"
        RETURN = "return", "Return"

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting for dispatch or picking"
        # Own sites (Warehouse.kind "own") pick and pack themselves: pending -> picking
        # (in a pick wave) -> picked -> packed (the pack station) -> dispatched.
        PICKING = "picking", "Being picked"
        PICKED = "picked", "Picked, waiting for packing"
        PACKED = "packed", "Packed, waiting for the carrier"
        DISPATCHED = "dispatched", "Accepted by provider"
        DISPATCH_FAILED = "dispatch_failed", "Dispatch failed"
        IN_TRANSIT = "in_transit", "In transit"
        OUT_FOR_DELIVERY = "out_for_delivery", "Out for delivery"
        AVAILABLE_FOR_PICKUP = "available_for_pickup", "Available for pickup"
        FAILED_ATTEMPT = "failed_attempt", "Failed attempt"
        EXCEPTION = "exception", "Exception"
        DELIVERED = "delivered", "Delivered"
        RETURN_TO_SENDER = "return_to_sender", "Returned to sender"
        CANCELLED = "cancelled", "Cancelled"

    order = models.ForeignKey("orders.Order", on_delete=models.PROTECT, related_name="shipments")
    warehouse = models.ForeignKey("inventory.Warehouse", on_delete=models.PROTECT, related_name="+")
    provider = models.ForeignKey(Provider, on_delete=models.PROTECT, related_name="shipments")
    service_level = models.ForeignKey(
        ServiceLevel, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    status = models.CharField(max_length=24, choices=Status.choices, default=Status.PENDING)
    # db_default too: bulk loaders (COPY) that name their columns still get a direction.
    direction = models.CharField(
        max_length=8,
        choices=Direction.choices,
        default=Direction.OUTBOUND,
        db_default=Direction.OUTBOUND,
    )
    # Sent with every create request so that a retry never makes a second shipment at the LSP.
    idempotency_token = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    provider_reference = models.CharField(max_length=100, blank=True, default="")
    tracking_number = models.CharField(max_length=100, blank=True, default="")
    label_url = models.CharField(max_length=500, blank=True, default="")
    cost = models.DecimalField(max_digits=14, decimal_places=4, null=True, blank=True)
    cost_currency = models.CharField(
        max_length=3, blank=True, default="", validators=[currency_code_validator]
    )
    dispatch_attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")
    dispatched_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    last_event_at = models.DateTimeField(
        null=True, blank=True, help_text="Occurrence time of the newest tracking event applied."
    )
    shipped_at = models.DateTimeField(
        null=True, blank=True, help_text="When the provider first reported it moving."
    )
    # Polling (providers without webhooks, and a safety net for lost webhooks).
    next_poll_at = models.DateTimeField(null=True, blank=True)
    # db_default too: bulk loaders (seed_demo's COPY) do not know this column.
    poll_interval_seconds = models.PositiveIntegerField(default=0, db_default=0)
    late_flagged_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Set when no event came for longer than the service allows.",
    )
    # The delivery promise made when the shipment was planned (logistics/promise.py): the
    # site's day it leaves by and the day the customer is told it arrives.
    ship_by = models.DateField(null=True, blank=True)
    promised_delivery_date = models.DateField(null=True, blank=True)
    # The pick wave of an own site's shipment (logistics.services.picking); a single
    # column, so a shipment is in at most one wave; cleared when its wave is cancelled.
    pick_wave = models.ForeignKey(
        "logistics.PickWave",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="shipments",
    )

    class Meta:
        permissions = [
            ("retry_dispatch", "Can retry a failed dispatch"),
            ("reroute_dispatch", "Can send a refused dispatch to another provider"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(cost__isnull=True) | Q(cost__gte=0), name="shipment_cost_non_negative"
            ),
            models.UniqueConstraint(
                fields=["provider", "provider_reference"],
                condition=~Q(provider_reference=""),
                name="shipment_provider_reference_unique",
            ),
            models.CheckConstraint(
                condition=Q(ship_by__isnull=True)
                | Q(promised_delivery_date__isnull=True)
                | Q(ship_by__lte=F("promised_delivery_date")),
                name="shipment_ships_before_delivery",
            ),
        ]
        indexes = [
            models.Index(fields=["tracking_number"], name="shipment_tracking_number"),
            # The desk matches a tracking number read out in any case; the exact index
            # above stays for the admin's exact search.
            models.Index(Upper("tracking_number"), name="shipment_tracking_ci"),
            models.Index(fields=["status", "updated_at"], name="shipment_status_updated"),
            models.Index(fields=["order", "id"], name="shipment_order"),
            models.Index(
                fields=["next_poll_at"],
                condition=Q(next_poll_at__isnull=False),
                name="shipment_poll_due",
            ),
        ]

    def __str__(self) -> str:
        return f"SHP-{self.pk} ({self.order_id})"

    @property
    def tracking_url(self) -> str:
        template = self.provider.tracking_url_template if self.provider_id else ""
        if not template or not self.tracking_number:
            return ""
        # Not str.format: a stray brace in a template would raise (a 500 on every read).
        return template.replace("{tracking_number}", self.tracking_number)


class ShipmentLine(models.Model):
    shipment = models.ForeignKey(Shipment, on_delete=models.CASCADE, related_name="lines")
    order_line = models.ForeignKey(
        "orders.OrderLine", on_delete=models.PROTECT, related_name="shipment_lines"
    )
    quantity = models.PositiveIntegerField()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(quantity__gt=0), name="shipmentline_quantity_positive"
            ),
            models.UniqueConstraint(
                fields=["shipment", "order_line"], name="shipmentline_line_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} of line {self.order_line_id}"


class Box(TimeStampedModel):
    """A carton of the pack station's catalogue: a parcel packed in it takes its dimensions,
    and its weight must exceed the box's own (tare)."""

    code = models.SlugField(max_length=32, unique=True)
    name = models.CharField(max_length=100)
    inner_length_mm = models.PositiveIntegerField()
    inner_width_mm = models.PositiveIntegerField()
    inner_height_mm = models.PositiveIntegerField()
    tare_grams = models.PositiveIntegerField(help_text="The empty box's weight.")
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["code"]
        verbose_name_plural = "boxes"
        constraints = [
            models.CheckConstraint(
                condition=Q(inner_length_mm__gt=0, inner_width_mm__gt=0, inner_height_mm__gt=0),
                name="box_dimensions_positive",
            ),
        ]

    def __str__(self) -> str:
        return (
            f"{self.name} ({self.inner_length_mm}×{self.inner_width_mm}×{self.inner_height_mm} mm)"
        )


class Parcel(models.Model):
    """One physical parcel of a shipment: reported by an LSP, or packed at an own site's
    pack station (a box, its items, a weight; the carrier label's tracking number)."""

    shipment = models.ForeignKey(Shipment, on_delete=models.CASCADE, related_name="parcels")
    # 1, 2, ... within the shipment: the order of the carrier's labels and tracking numbers.
    # db_default too: bulk loaders (COPY) that name their columns still get one.
    position = models.PositiveSmallIntegerField(default=1, db_default=1)
    box = models.ForeignKey(
        Box, on_delete=models.PROTECT, null=True, blank=True, related_name="parcels"
    )
    weight_grams = models.PositiveIntegerField(default=0)
    length_mm = models.PositiveIntegerField(default=0)
    width_mm = models.PositiveIntegerField(default=0)
    height_mm = models.PositiveIntegerField(default=0)
    tracking_number = models.CharField(max_length=100, blank=True, default="")

    class Meta:
        ordering = ["shipment", "position", "id"]
        permissions = [("pack_shipment", "Can pack shipments and buy their carrier labels")]
        constraints = [
            # Packed parcels are numbered once per shipment (LSP-reported ones keep 1).
            models.UniqueConstraint(
                fields=["shipment", "position"],
                condition=Q(box__isnull=False),
                name="parcel_packed_position_unique",
            ),
        ]
        indexes = [
            models.Index(fields=["tracking_number"], name="parcel_tracking_number"),
            models.Index(Upper("tracking_number"), name="parcel_tracking_ci"),
        ]

    def __str__(self) -> str:
        return f"parcel {self.pk} of {self.shipment_id}"


class ParcelItem(models.Model):
    """Units of a shipment line packed (scanned) into a parcel at the pack station."""

    parcel = models.ForeignKey(Parcel, on_delete=models.CASCADE, related_name="items")
    shipment_line = models.ForeignKey(
        ShipmentLine, on_delete=models.CASCADE, related_name="parcel_items"
    )
    quantity = models.PositiveIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["parcel", "shipment_line"], name="parcelitem_line_once_per_parcel"
            ),
            models.CheckConstraint(
                condition=Q(quantity__gt=0), name="parcelitem_quantity_positive"
            ),
        ]
        indexes = [models.Index(fields=["shipment_line"], name="parcelitem_line")]

    def __str__(self) -> str:
        return f"{self.quantity} of line {self.shipment_line_id} in parcel {self.parcel_id}"


class TrackingEvent(models.Model):
    """A provider's tracking update, normalised, with its raw payload kept."""

    shipment = models.ForeignKey(Shipment, on_delete=models.CASCADE, related_name="tracking_events")
    status = models.CharField(max_length=24, choices=TrackingStatus.choices)
    provider_status = models.CharField(max_length=100, blank=True, default="")
    description = models.CharField(max_length=500, blank=True, default="")
    location = models.CharField(max_length=200, blank=True, default="")
    occurred_at = models.DateTimeField()
    received_at = models.DateTimeField(auto_now_add=True)
    # Provider's event id, or a hash of tracking number + status + time: the same
    # event delivered twice (or polled and pushed) is stored once.
    dedup_key = models.CharField(max_length=128)
    raw = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["occurred_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["shipment", "dedup_key"], name="trackingevent_dedup"),
        ]
        indexes = [
            models.Index(fields=["shipment", "occurred_at"], name="trackingevent_timeline"),
        ]

    def __str__(self) -> str:
        return f"{self.shipment_id} {self.status} @ {self.occurred_at:%Y-%m-%d %H:%M}"


class ShipmentStatusGroups:
    """THE named groups of shipment statuses; code that asks "which statuses are ..." uses these.

    docs/architecture.md ("Where each rule lives") lists them.
    """

    # Being picked and packed at an own site: no provider has it yet.
    AT_OWN_SITE = frozenset(
        {Shipment.Status.PICKING, Shipment.Status.PICKED, Shipment.Status.PACKED}
    )
    # Not yet accepted by the provider: the dispatch gate can still park or resend them
    # (an own site's are still in its hands: a cancel closes them, no provider to ask).
    AWAITING_PROVIDER = (
        frozenset({Shipment.Status.PENDING, Shipment.Status.DISPATCH_FAILED}) | AT_OWN_SITE
    )
    # Not with the provider (never handed over, or cancelled): an address change still
    # reaches them and a hold can still stop them.
    NOT_WITH_PROVIDER = AWAITING_PROVIDER | {Shipment.Status.CANCELLED}
    # With the carrier and moving towards the customer (a "late" shipment is one of these).
    IN_TRANSIT = frozenset(
        {
            Shipment.Status.DISPATCHED,
            Shipment.Status.IN_TRANSIT,
            Shipment.Status.OUT_FOR_DELIVERY,
            Shipment.Status.AVAILABLE_FOR_PICKUP,
        }
    )
    # Handed to dispatch but not yet with the carrier: queued or being sent to the
    # provider (pending), or accepted by it and waiting for the carrier's first scan
    # (dispatched, `shipped_at` still empty). Issue 16 item 15: not "in transit".
    # An own site's picking, picked and packed shipments are in progress too.
    DISPATCH_IN_PROGRESS = (
        frozenset({Shipment.Status.PENDING, Shipment.Status.DISPATCHED}) | AT_OWN_SITE
    )
    # The carrier has the parcel (it scanned it at least once), including a failed
    # delivery attempt, which the carrier retries.
    WITH_CARRIER = (IN_TRANSIT - {Shipment.Status.DISPATCHED}) | {Shipment.Status.FAILED_ATTEMPT}
    # The carrier reported a problem a person should look at.
    TRACKING_EXCEPTION = frozenset(
        {
            Shipment.Status.EXCEPTION,
            Shipment.Status.FAILED_ATTEMPT,
            Shipment.Status.RETURN_TO_SENDER,
        }
    )
    FINAL = frozenset(
        {
            Shipment.Status.DELIVERED,
            Shipment.Status.RETURN_TO_SENDER,
            Shipment.Status.CANCELLED,
        }
    )


class DispatchOutbox(TimeStampedModel):
    """The request to hand a shipment to its provider (transactional outbox).

    Written in the same transaction as the shipment; the dispatch task works it
    off, and the sweeper re-enqueues any row that is due but not acknowledged, so
    neither a lost broker message nor a killed worker loses a shipment.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENT = "sent", "Accepted by provider"
        REJECTED = "rejected", "Rejected by provider (exception queue)"
        FAILED = "failed", "Gave up after retries"

    shipment = models.OneToOneField(Shipment, on_delete=models.CASCADE, related_name="outbox")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(help_text="When the next attempt is due.")
    # Lease held by the worker currently calling the provider.
    locked_until = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "dispatch outbox row"
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(status="pending"),
                name="outbox_pending_due",
            ),
            models.Index(fields=["status", "updated_at"], name="outbox_status_updated"),
        ]

    def __str__(self) -> str:
        return f"outbox {self.shipment_id} {self.status}"


class AsnOutbox(TimeStampedModel):
    """The request to send an ASN to the LSP operating its warehouse (transactional outbox).

    Written in the same transaction as the ASN (logistics.services.asn.asn_create), worked
    off like DispatchOutbox: one lease per attempt, the ASN number as idempotency key,
    retries with backoff, the sweeper for lost messages; a refusal parks it (ops exception
    queue, "ASNs refused by the LSP").
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENT = "sent", "Accepted by the LSP"
        REJECTED = "rejected", "Rejected by the LSP (exception queue)"
        FAILED = "failed", "Gave up after retries"

    inbound = models.OneToOneField(
        "inventory.InboundShipment", on_delete=models.CASCADE, related_name="outbox"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(help_text="When the next attempt is due.")
    locked_until = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "ASN outbox row"
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(status="pending"),
                name="asnoutbox_pending_due",
            ),
            models.Index(fields=["status", "updated_at"], name="asnoutbox_status_updated"),
        ]

    def __str__(self) -> str:
        return f"ASN outbox {self.inbound_id} {self.status}"


class InboundWebhook(models.Model):
    """Raw log of every verified LSP webhook, stored before anything else happens."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        PROCESSED = "processed", "Processed"
        UNMATCHED = "unmatched", "No matching shipment"
        FAILED = "failed", "Failed"

    provider = models.ForeignKey(Provider, on_delete=models.PROTECT, related_name="+")
    webhook_id = models.CharField(max_length=128)
    body = models.TextField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    received_at = models.DateTimeField(auto_now_add=True)
    # Last time the sweeper re-enqueued it: one re-enqueue per ack timeout, not per sweep.
    swept_at = models.DateTimeField(null=True, blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True, default="")

    class Meta:
        constraints = [
            # Standard Webhooks: a redelivery carries the same id and must change nothing.
            models.UniqueConstraint(
                fields=["provider", "webhook_id"], name="inboundwebhook_once_per_id"
            ),
        ]
        indexes = [
            models.Index(
                fields=["received_at"],
                condition=Q(status__in=["pending", "unmatched"]),
                name="inboundwebhook_unprocessed",
            ),
            # The parked (poison) ones, listed in the ops exception queue.
            models.Index(
                fields=["received_at"],
                condition=Q(status="failed"),
                name="inboundwebhook_failed",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.provider_id}:{self.webhook_id}"


class WebhookEndpoint(TimeStampedModel):
    """A partner's URL subscribed to some topics, with the secret its deliveries are signed with.

    Written only by logistics.services.webhook_endpoints. While a rotated-out secret is
    still valid (`previous_secret_until`), deliveries carry a signature with each.
    """

    # Indexed by `webhookendpoint_channel` (channel first), not by an index of its own.
    channel = models.ForeignKey(
        "orders.Channel", on_delete=models.CASCADE, related_name="webhook_endpoints", db_index=False
    )
    url = models.URLField(max_length=2000)
    topics = ArrayField(models.CharField(max_length=32, choices=Topic.choices))
    description = models.CharField(max_length=500, blank=True, default="")
    active = models.BooleanField(default=True)
    # Encrypted at rest, write-only in the admin (core/secrets.py); generated by us,
    # shown to the partner once (on create and on rotation).
    secret = EncryptedSecretField(
        help_text="Standard Webhooks secret (whsec_…) deliveries to this URL are signed with.",
        generate=webhook_signing.secret_generate,
        input_validators=[webhook_signing.secret_validate],
    )
    previous_secret = EncryptedSecretField(
        help_text="The secret before the last rotation; still signs until the time below."
    )
    previous_secret_until = models.DateTimeField(null=True, blank=True)
    failing_since = models.DateTimeField(
        null=True, blank=True, help_text="First failed attempt since the last success."
    )
    disabled_at = models.DateTimeField(null=True, blank=True)
    disabled_reason = models.CharField(max_length=300, blank=True, default="")

    class Meta:
        ordering = ["channel", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(topics__len__gt=0) & Q(topics__contained_by=list(Topic.values)),
                name="webhookendpoint_topics_known",
            ),
        ]
        indexes = [
            models.Index(fields=["channel", "created_at", "id"], name="webhookendpoint_channel"),
            # The auto-disable sweep reads only the endpoints that are failing.
            models.Index(
                fields=["failing_since"],
                condition=Q(active=True, failing_since__isnull=False),
                name="webhookendpoint_failing",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.url} ({self.channel_id})"


class PartnerWebhookDelivery(TimeStampedModel):
    """One signed notification to one webhook endpoint, with its delivery log."""

    # The events sent before endpoints by topic; every Topic may be stored in `event`.
    class Event(models.TextChoices):
        ORDER_SHIPPED = "order.shipped", "Order shipped"
        ORDER_DELIVERED = "order.delivered", "Order delivered"
        ORDER_EXCEPTION = "order.exception", "Order exception"
        ORDER_CANCELLED = "order.cancelled", "Order cancelled"
        ORDER_REST_CANCELLED = "order.rest_cancelled", "Unshipped rest of the order cancelled"
        RETURN_RECEIVED = "return.received", "Return received"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Gave up"

    channel = models.ForeignKey("orders.Channel", on_delete=models.CASCADE, related_name="+")
    # Null only for deliveries queued before endpoints existed whose channel had no URL
    # left to migrate; deleting an endpoint deletes its delivery log.
    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries", null=True
    )
    # Stock and inbound events are about no order.
    order = models.ForeignKey(
        "orders.Order", on_delete=models.CASCADE, related_name="+", null=True, blank=True
    )
    event = models.CharField(max_length=32, choices=Topic.choices)
    webhook_id = models.CharField(max_length=64, unique=True)
    url = models.URLField(max_length=2000, help_text="Where the last attempt went.")
    payload = models.JSONField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "partner webhook deliveries"
        ordering = ["-created_at"]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(status="pending"),
                name="partnerwebhook_pending_due",
            ),
            models.Index(fields=["order", "created_at"], name="partnerwebhook_order"),
            # The endpoint's delivery log, newest first (the partner API pages it).
            models.Index(fields=["endpoint", "created_at", "id"], name="partnerwebhook_endpoint"),
        ]

    def __str__(self) -> str:
        return f"{self.event} {self.webhook_id} → {self.endpoint_id}"


class CustomsUnion(models.Model):
    """A customs union (e.g. the EU): goods move between its members without a declaration.

    Kept as data (seeded by a data migration, editable in the admin), never as a
    list in code: membership changes (the UK left the EU) without a deploy.
    """

    code = models.SlugField(max_length=16, unique=True)
    name = models.CharField(max_length=200)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.code


class CustomsUnionMember(models.Model):
    union = models.ForeignKey(CustomsUnion, on_delete=models.CASCADE, related_name="members")
    country = models.CharField(max_length=2)

    class Meta:
        ordering = ["union", "country"]
        constraints = [
            models.UniqueConstraint(fields=["union", "country"], name="customsunion_member_once"),
            models.CheckConstraint(
                condition=Q(country__regex=r"^[A-Z]{2}$"), name="customsunion_member_iso"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.union_id}:{self.country}"


class CustomsDeclaration(TimeStampedModel):
    """The customs data of a shipment that crosses a customs border (CN22/CN23-like)."""

    class ContentsType(models.TextChoices):
        MERCHANDISE = "merchandise", "Merchandise (sale)"
        RETURNED_GOODS = "returned_goods", "Returned goods"
        GIFT = "gift", "Gift"
        SAMPLE = "sample", "Commercial sample"
        DOCUMENTS = "documents", "Documents"

    shipment = models.OneToOneField(
        Shipment, on_delete=models.CASCADE, related_name="customs_declaration"
    )
    contents_type = models.CharField(
        max_length=16, choices=ContentsType.choices, default=ContentsType.MERCHANDISE
    )
    incoterm = models.CharField(max_length=3)
    currency = models.CharField(max_length=3, validators=[currency_code_validator])
    origin_country = models.CharField(max_length=2)
    destination_country = models.CharField(max_length=2)
    exporter_eori = models.CharField(max_length=20, blank=True, default="")
    exporter_vat = models.CharField(max_length=20, blank=True, default="")
    invoice_number = models.CharField(max_length=40)
    total_value = models.DecimalField(max_digits=14, decimal_places=4, default=0)
    total_weight_grams = models.PositiveIntegerField(default=0)
    # Empty when complete; else [{"sku", "field", "message"}] naming what is missing.
    problems = models.JSONField(default=list, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(total_value__gte=0), name="customsdeclaration_value_non_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"customs {self.shipment_id} {self.origin_country}→{self.destination_country}"

    @property
    def is_complete(self) -> bool:
        return not self.problems


class CustomsDeclarationLine(models.Model):
    declaration = models.ForeignKey(
        CustomsDeclaration, on_delete=models.CASCADE, related_name="lines"
    )
    order_line = models.ForeignKey("orders.OrderLine", on_delete=models.PROTECT, related_name="+")
    sku = models.CharField(max_length=64)
    description = models.CharField(max_length=200)
    hs_code = models.CharField(max_length=10, blank=True, default="")
    origin_country = models.CharField(max_length=2, blank=True, default="")
    quantity = models.PositiveIntegerField()
    unit_value = models.DecimalField(max_digits=14, decimal_places=4, null=True, blank=True)
    value = models.DecimalField(max_digits=14, decimal_places=4, null=True, blank=True)
    weight_grams = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["declaration", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(quantity__gt=0), name="customsdeclarationline_quantity_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.quantity}×{self.sku} ({self.hs_code or 'no HS code'})"


def carrier_credentials_validate(value: str) -> None:
    """A carrier account's credentials: a JSON object of strings (the connector's keys)."""
    import json

    from django.core.exceptions import ValidationError

    try:
        data = json.loads(value)
    except ValueError:
        raise ValidationError(
            'Credentials must be a JSON object, e.g. {"client_id": "…", "client_secret": "…"}.'
        ) from None
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in data.items()
    ):
        raise ValidationError("Credentials must be a JSON object of text values.")


class CarrierAccount(TimeStampedModel):
    """One account at a carrier, spoken to through a karrio connector (docs/warehouse.md).

    The account number and the credentials are secrets: encrypted at rest and write-only
    (core/secrets.py); the karrio adapter decrypts them only to build a request.
    """

    class Connector(models.TextChoices):
        # The karrio connectors installed with the `carriers` extra (pyproject.toml).
        DHL_EXPRESS = "dhl_express", "DHL Express"
        UPS = "ups", "UPS"
        DHL_PARCEL_DE = "dhl_parcel_de", "DHL Parcel Germany"

    provider = models.ForeignKey(
        Provider,
        on_delete=models.PROTECT,
        related_name="carrier_accounts",
        limit_choices_to={"kind": Provider.Kind.CARRIER},
    )
    code = models.SlugField(max_length=32, unique=True)
    carrier_name = models.CharField("karrio connector", max_length=32, choices=Connector.choices)
    description = models.CharField(max_length=200, blank=True, default="")
    account_number = EncryptedSecretField(
        help_text="The shipper / billing account number at the carrier."
    )
    credentials = EncryptedSecretField(
        help_text=(
            'JSON object of the connector\'s credentials, e.g. UPS {"client_id": "…", '
            '"client_secret": "…"}; DHL Express {"site_id": "…", "password": "…"}; '
            'DHL Parcel DE {"username", "password", "client_id", "client_secret"}.'
        ),
        input_validators=[carrier_credentials_validate],
        input_max_length=4096,
    )
    test_mode = models.BooleanField(
        default=True, help_text="Use the carrier's test (sandbox) servers."
    )
    base_url = models.URLField(
        blank=True,
        default="",
        help_text="Send every request of this account here instead of the carrier's host "
        "(the LSP sandbox in the offline demo, a recording server in tests).",
    )
    services = ArrayField(
        models.CharField(max_length=64),
        blank=True,
        default=list,
        help_text="karrio service codes this account may buy; empty: every service.",
    )
    connector_settings = models.JSONField(
        default=dict,
        blank=True,
        help_text='Non-secret settings of the karrio connector, e.g. {"account_country_code": '
        '"DE", "config": {"label_type": "PDF_A4"}} (DHL Parcel DE billing numbers go in '
        '"config").',
    )
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["provider", "code"]

    def __str__(self) -> str:
        return self.code


class LabelPurchase(TimeStampedModel):
    """One attempt to buy the label(s) of a shipment, written and committed BEFORE the call.

    Carriers take no idempotency key, so the row is the only memory of a purchase whose
    answer was lost: `in_flight` while the call runs, then `purchased`, `failed` (the
    carrier refused, or the request never left) or `unknown` (timeout or reset after the
    request was sent: the exception queue; never retried automatically). A person settles
    an unknown one (`abandoned`: nothing was bought) or voids a purchased one (`voided`);
    only then can a new purchase start. The database allows one live row per shipment.
    """

    class State(models.TextChoices):
        IN_FLIGHT = "in_flight", "Purchase in flight"
        PURCHASED = "purchased", "Purchased"
        FAILED = "failed", "Failed (nothing bought)"
        UNKNOWN = "unknown", "Outcome unknown (exception queue)"
        ABANDONED = "abandoned", "Unknown outcome settled: nothing bought"
        VOIDED = "voided", "Voided"

    LIVE_STATES = (State.IN_FLIGHT, State.PURCHASED, State.UNKNOWN)

    shipment = models.ForeignKey(Shipment, on_delete=models.CASCADE, related_name="label_purchases")
    carrier_account = models.ForeignKey(
        CarrierAccount, on_delete=models.PROTECT, related_name="label_purchases"
    )
    state = models.CharField(max_length=16, choices=State.choices, default=State.IN_FLIGHT)
    token = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    service = models.CharField(max_length=64)
    label_format = models.CharField(max_length=8, default="PDF")
    parcel_count = models.PositiveSmallIntegerField(default=1)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    tracking_numbers = ArrayField(models.CharField(max_length=100), blank=True, default=list)
    carrier_reference = models.CharField(max_length=100, blank=True, default="")
    amount = models.DecimalField(max_digits=14, decimal_places=4, null=True, blank=True)
    currency = models.CharField(
        max_length=3, blank=True, default="", validators=[currency_code_validator]
    )
    # Deferred by the selectors that list purchases: a label is tens of kilobytes.
    label_pdf = models.BinaryField(blank=True, default=b"")
    label_zpl = models.TextField(blank=True, default="")
    error = models.TextField(blank=True, default="")
    settled_note = models.CharField(max_length=500, blank=True, default="")

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["shipment"],
                condition=Q(state__in=["in_flight", "purchased", "unknown"]),
                name="labelpurchase_one_live_per_shipment",
            ),
            models.CheckConstraint(
                condition=~Q(state="purchased") | ~Q(carrier_reference=""),
                name="labelpurchase_purchased_has_reference",
            ),
            models.CheckConstraint(
                condition=Q(amount__isnull=True) | Q(amount__gte=0),
                name="labelpurchase_amount_non_negative",
            ),
        ]
        indexes = [
            # The exception queue: unknown outcomes and calls that never came back.
            models.Index(
                fields=["started_at"],
                condition=Q(state__in=["unknown", "in_flight"]),
                name="labelpurchase_unsettled",
            ),
        ]

    def __str__(self) -> str:
        return f"label {self.shipment_id} {self.state}"


class PickWave(models.Model):
    """A batch of an own site's shipments picked together in one walk (docs/warehouse.md).

    Built by logistics.services.picking.waves_build from open shipments sharing a
    cut-off, a service level and the zone of their first pick bin, within size limits.
    """

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        PICKING = "picking", "Picking"
        DONE = "done", "Done"
        CANCELLED = "cancelled", "Cancelled"

    warehouse = models.ForeignKey(
        "inventory.Warehouse", on_delete=models.PROTECT, related_name="pick_waves"
    )
    number = models.PositiveIntegerField(help_text="Per warehouse, counting up.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    cutoff = models.DateTimeField(
        null=True, blank=True, help_text="The site's cut-off on its shipments' ship-by day."
    )
    service_level = models.ForeignKey(
        ServiceLevel, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    zone = models.CharField(max_length=16, blank=True, default="")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["warehouse", "-number"]
        permissions = [("pick_wave", "Can build pick waves and pick them")]
        constraints = [
            models.UniqueConstraint(fields=["warehouse", "number"], name="pickwave_number_unique"),
            models.CheckConstraint(
                condition=Q(status__in=["open", "picking", "done", "cancelled"]),
                name="pickwave_status_valid",
            ),
        ]
        indexes = [models.Index(fields=["warehouse", "status"], name="pickwave_wh_status")]

    def __str__(self) -> str:
        return f"W-{self.number}"

    @property
    def code(self) -> str:
        return f"W-{self.number}"


class PickTask(models.Model):
    """Pick `quantity` of one product from one bin for one shipment line; the pick path
    is a wave's tasks by `sequence` (the bins' pick sequence)."""

    class Status(models.TextChoices):
        OPEN = "open", "To pick"
        PICKED = "picked", "Picked"
        SHORT = "short", "Short"
        CANCELLED = "cancelled", "Cancelled"

    wave = models.ForeignKey(PickWave, on_delete=models.CASCADE, related_name="tasks")
    shipment = models.ForeignKey(Shipment, on_delete=models.CASCADE, related_name="pick_tasks")
    # Null once a short pick took the whole line off the shipment (the task stays as record).
    shipment_line = models.ForeignKey(
        ShipmentLine, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    product = models.ForeignKey("inventory.Product", on_delete=models.PROTECT, related_name="+")
    bin = models.ForeignKey("inventory.Bin", on_delete=models.PROTECT, related_name="+")
    quantity = models.PositiveIntegerField()
    picked_quantity = models.PositiveIntegerField(default=0)
    sequence = models.PositiveIntegerField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    # The picker scanned this task's bin (the item scans that follow count against it).
    bin_scanned = models.BooleanField(default=False)
    # A short pick of a ship-complete order: the shipment waits instead of going on.
    holds_shipment = models.BooleanField(default=False)
    picked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    picked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["wave", "sequence"]
        constraints = [
            models.UniqueConstraint(fields=["wave", "sequence"], name="picktask_sequence_unique"),
            models.CheckConstraint(condition=Q(quantity__gt=0), name="picktask_quantity_positive"),
            models.CheckConstraint(
                condition=Q(picked_quantity__lte=F("quantity")), name="picktask_picked_le_quantity"
            ),
            models.CheckConstraint(
                condition=Q(status__in=["open", "picked", "short", "cancelled"]),
                name="picktask_status_valid",
            ),
            # Picked means all of it; short means less.
            models.CheckConstraint(
                condition=~Q(status="picked") | Q(picked_quantity=F("quantity")),
                name="picktask_picked_complete",
            ),
            models.CheckConstraint(
                condition=~Q(status="short") | Q(picked_quantity__lt=F("quantity")),
                name="picktask_short_is_less",
            ),
        ]
        indexes = [
            models.Index(fields=["shipment"], name="picktask_shipment"),
            # Open tasks per bin and product: what a new wave may not promise again.
            models.Index(
                fields=["bin", "product"], condition=Q(status="open"), name="picktask_open_bin"
            ),
            # The exception queue's short picks.
            models.Index(fields=["picked_at"], condition=Q(status="short"), name="picktask_short"),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} of {self.product_id} @ {self.bin_id} ({self.status})"

    @property
    def remaining(self) -> int:
        return self.quantity - self.picked_quantity
