from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from core.models import TimeStampedModel
from core.secrets import EncryptedSecretField


class ApiKey(TimeStampedModel):
    """A partner's credential, scoped to one channel. Only a hash of the secret is stored."""

    channel = models.ForeignKey("orders.Channel", on_delete=models.PROTECT, related_name="api_keys")
    name = models.CharField(max_length=100, blank=True, default="")
    # The first characters of the raw key: shown in the admin and written as the
    # actor of order events, so a partner and support can tell keys apart.
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    # SHA-256 of the raw key. Keys carry 256 bits of randomness, so a fast hash is
    # enough (no password stretching) and authentication stays one indexed lookup.
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = "API key"
        ordering = ["channel", "-created_at"]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.channel_id})"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class IdempotencyRecord(models.Model):
    """The first response to a POST carrying an Idempotency-Key, per API key (Stripe semantics).

    Written in the request's own transaction, so only completed requests have one;
    a request still running holds the key with an advisory lock instead
    (partners.services.idempotency_claim).
    """

    api_key = models.ForeignKey(ApiKey, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    request_method = models.CharField(max_length=10)
    request_path = models.CharField(max_length=500)
    # SHA-256 over method, path and the canonical JSON of the body.
    request_hash = models.CharField(max_length=64)
    response_status = models.PositiveSmallIntegerField()
    response_content_type = models.CharField(max_length=100, blank=True, default="")
    # The exact bytes sent the first time (text, not jsonb, which would reorder keys).
    response_body = models.TextField(blank=True, default="")
    # A replayed 201 names the created resource like the first answer did.
    response_location = models.CharField(max_length=500, blank=True, default="")
    created_at = models.DateTimeField()
    completed_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["api_key", "key"], name="idempotency_key_per_api_key"),
        ]
        indexes = [models.Index(fields=["created_at"], name="idempotency_created")]

    def __str__(self) -> str:
        return f"{self.api_key_id}:{self.key} {self.response_status}"


# --- Channel connectors (partners/connectors/, docs/channels.md) ---------------------


class ChannelConnector(TimeStampedModel):
    """How Consign talks to a channel's own shop system: where, with which credentials,
    how far the order pull has come, and the circuit breaker's state.

    Written only by partners.connector_services (and the admin's plain settings).
    """

    class Kind(models.TextChoices):
        WOOCOMMERCE = "woocommerce", "WooCommerce (REST API v3)"

    channel = models.OneToOneField(
        "orders.Channel", on_delete=models.PROTECT, related_name="connector"
    )
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.WOOCOMMERCE)
    base_url = models.URLField(
        help_text="The shop's address, e.g. https://shop.example.com (the API is under "
        "/wp-json/wc/v3/). HTTPS unless the host is listed in OUTBOUND_ALLOW_HOSTS."
    )
    # Encrypted at rest, write-only in the admin (core/secrets.py).
    consumer_key = EncryptedSecretField(help_text="WooCommerce REST API consumer key (ck_…).")
    consumer_secret = EncryptedSecretField(help_text="WooCommerce REST API consumer secret (cs_…).")
    is_active = models.BooleanField(default=True)
    pull_orders = models.BooleanField(default=True)
    push_fulfilments = models.BooleanField(default=True)
    push_cancellations = models.BooleanField(default=True)
    push_stock = models.BooleanField(default=True)
    service_level_map = models.JSONField(
        default=dict,
        blank=True,
        help_text='Shipping method id → service level, e.g. {"flat_rate": "sandbox:standard"}.',
    )
    default_service_level = models.CharField(
        max_length=65, blank=True, default="", help_text="For shipping methods not in the map."
    )
    # The order pull's cursor: the last order taken (its modification time and id).
    orders_modified_after = models.DateTimeField(null=True, blank=True)
    orders_last_id = models.PositiveBigIntegerField(default=0)
    # Stock levels changed after this were not pushed yet (None: push everything).
    stock_pushed_at = models.DateTimeField(null=True, blank=True)
    # Circuit breaker and backoff.
    consecutive_failures = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    open_until = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_run_at = models.DateTimeField(null=True, blank=True)
    # A run holds the connector until then, so two workers never run it at once.
    lease_until = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["channel"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} for {self.channel_id}"

    @property
    def breaker_state(self) -> str:
        """closed, open (cooling down) or half-open (the next run is the probe)."""
        if self.open_until is None:
            return "closed"
        return "open" if self.open_until > timezone.now() else "half-open"


class ConnectorOrder(models.Model):
    """An order the connector pulled, and what was pushed back for it (the push markers)."""

    connector = models.ForeignKey(ChannelConnector, on_delete=models.PROTECT, related_name="+")
    order = models.OneToOneField("orders.Order", on_delete=models.PROTECT, related_name="+")
    remote_id = models.PositiveBigIntegerField()
    remote_number = models.CharField(max_length=100, blank=True, default="")
    fulfilment_note_id = models.PositiveBigIntegerField(null=True, blank=True)
    fulfilment_pushed_at = models.DateTimeField(null=True, blank=True)
    cancellation_pushed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["connector", "remote_id"], name="connectororder_one_per_remote"
            ),
        ]
        indexes = [
            models.Index(
                fields=["connector"],
                condition=Q(fulfilment_pushed_at__isnull=True)
                | Q(cancellation_pushed_at__isnull=True),
                name="connectororder_push_due",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.connector_id}:{self.remote_id} → {self.order_id}"


class ConnectorException(TimeStampedModel):
    """A remote order the connector could not take (unknown SKU, bad address...): the ops
    exception list. Taken again only when the shop changes the order."""

    connector = models.ForeignKey(
        ChannelConnector, on_delete=models.CASCADE, related_name="exceptions"
    )
    remote_id = models.PositiveBigIntegerField()
    remote_number = models.CharField(max_length=100, blank=True, default="")
    reason = models.TextField()
    errors = models.JSONField(default=list, blank=True)
    remote_modified_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-updated_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["connector", "remote_id"], name="connectorexception_one_per_remote"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.connector_id}:{self.remote_id}: {self.reason[:60]}"


class OrderImportJob(TimeStampedModel):
    """A CSV of orders for a channel without an API: dry run or real run, by a worker."""

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting for a worker"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed (nothing imported)"

    channel = models.ForeignKey("orders.Channel", on_delete=models.PROTECT, related_name="+")
    file = models.FileField(upload_to="order-imports/%Y/%m/")
    dry_run = models.BooleanField(
        default=True, help_text="Check every row and list the errors without creating anything."
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    total_orders = models.PositiveIntegerField(default=0)
    processed_orders = models.PositiveIntegerField(default=0)
    total_rows = models.PositiveIntegerField(default=0)
    created_orders = models.PositiveIntegerField(default=0)
    existing_orders = models.PositiveIntegerField(default=0)
    failed_orders = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True)
    message = models.TextField(blank=True, default="")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        permissions = [("import_orders", "Can import orders from CSV")]

    def __str__(self) -> str:
        return f"order import {self.pk} ({self.status})"
