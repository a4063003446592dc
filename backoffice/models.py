from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.urls import reverse

from core.models import TimeStampedModel


class BulkJob(TimeStampedModel):
    """A long back-office action run by a Celery worker, with progress the page can poll."""

    class Kind(models.TextChoices):
        BULK_HOLD = "bulk_hold", "Bulk hold"
        ORDER_EXPORT = "order_export", "Order export"
        BULK_RELEASE = "bulk_release", "Bulk hold release"
        BULK_ASSIGN = "bulk_assign", "Bulk hold owner assignment"
        BULK_REROUTE = "bulk_reroute", "Bulk re-route"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    kind = models.CharField(max_length=32, choices=Kind.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    parameters = models.JSONField(default=dict, blank=True)
    # The targets, fixed when the job is created so that a re-run after a worker
    # crash works through the same list and resumes at `processed`.
    order_ids = models.JSONField(default=list, blank=True)
    total = models.PositiveIntegerField(default=0)
    processed = models.PositiveIntegerField(default=0)
    succeeded = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    # One row per target (columns per kind, see backoffice.services.RESULT_HEADERS); served as CSV.
    results = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True, default="")
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(processed__lte=F("total")), name="bulkjob_processed_within_total"
            ),
            models.CheckConstraint(
                condition=Q(succeeded__lte=F("processed")) & Q(failed__lte=F("processed")),
                name="bulkjob_outcomes_within_processed",
            ),
        ]
        indexes = [models.Index(fields=["created_by", "-created_at"], name="bulkjob_by_user")]

    def __str__(self) -> str:
        # No status here: a page title built from it would keep saying "running" after the end.
        return f"{self.get_kind_display()} #{self.pk}"

    def get_absolute_url(self) -> str:
        return reverse("backoffice:job_detail", args=[self.pk])

    @property
    def percent(self) -> int:
        if not self.total:
            return 100 if self.status == self.Status.DONE else 0
        return int(self.processed * 100 / self.total)

    OUTCOME_LABELS = {
        "queued": "Queued",
        "running": "Running",
        "done": "Done",
        "done_with_failures": "Done, not all",
        "failed": "Failed",
    }

    @property
    def outcome(self) -> str:
        """What the screens show: queued, running, done, done_with_failures or failed."""
        if self.status == self.Status.DONE and (self.failed or self.parameters.get("unrecognised")):
            return "done_with_failures"
        return self.status

    @property
    def outcome_label(self) -> str:
        return self.OUTCOME_LABELS[self.outcome]

    @property
    def is_finished(self) -> bool:
        return self.status in {self.Status.DONE, self.Status.FAILED}
