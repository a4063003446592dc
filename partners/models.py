from django.db import models

from core.models import TimeStampedModel


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
