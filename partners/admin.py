from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from core.admin_secrets import SecretFieldsAdminMixin
from core.ssrf import listed_destination, url_validate_public
from partners.connector_services import connector_exception_resolve
from partners.models import (
    ApiKey,
    ChannelConnector,
    ConnectorException,
    IdempotencyRecord,
    OrderImportJob,
)
from partners.order_import import (
    order_import_job_create,
    order_import_job_progress,
    order_import_job_rerun,
)
from partners.services import api_key_create, api_key_revoke


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ["prefix", "channel", "name", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["channel", ("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["prefix", "name", "channel__code"]
    fields = ["channel", "name", "prefix", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = ["prefix", "created_at", "last_used_at", "revoked_at"]
    actions = ["revoke"]

    def get_readonly_fields(self, request, obj=None):
        if obj is not None:
            return [*self.readonly_fields, "channel"]
        return self.readonly_fields

    def save_model(self, request, obj, form, change):
        if change:
            obj.save(update_fields=["name", "updated_at"])
            return
        api_key, raw = api_key_create(
            channel=obj.channel, name=obj.name, actor=request.user.get_username()
        )
        obj.pk = api_key.pk
        obj.prefix = api_key.prefix
        # Shown once: only the hash is stored.
        self.message_user(
            request,
            f"API key created. Copy it now, it will not be shown again: {raw}",
            level=messages.WARNING,
        )

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Revoke selected keys", permissions=["change"])
    def revoke(self, request, queryset):
        for api_key in queryset.filter(revoked_at__isnull=True):
            api_key_revoke(api_key=api_key, actor=request.user.get_username())
        self.message_user(request, f"Revoked at {timezone.now():%Y-%m-%d %H:%M} UTC.")


@admin.register(IdempotencyRecord)
class IdempotencyRecordAdmin(admin.ModelAdmin):
    list_display = [
        "key",
        "api_key",
        "request_method",
        "request_path",
        "response_status",
        "created_at",
    ]
    list_filter = ["response_status"]
    search_fields = ["key"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


# --- Channel connectors ---------------------------------------------------------------


class ChannelConnectorForm(forms.ModelForm):
    base_url = forms.URLField(assume_scheme="https", max_length=200)

    class Meta:
        model = ChannelConnector
        fields = [
            "channel", "kind", "base_url", "consumer_key", "consumer_secret", "is_active",
            "pull_orders", "push_fulfilments", "push_cancellations", "push_stock",
            "service_level_map", "default_service_level",
        ]  # fmt: skip

    def clean_base_url(self):
        from urllib.parse import urlsplit

        url = self.cleaned_data.get("base_url", "")
        parts = urlsplit(url)
        # Refused when saved (and again at connect time): no internal addresses, and the
        # credentials never travel in clear text except to an allow-listed test shop.
        url_validate_public(url)
        if parts.scheme != "https" and not listed_destination(
            parts.hostname or "", parts.port or 80
        ):
            raise forms.ValidationError("The shop's URL must start with https://.")
        return url


@admin.register(ChannelConnector)
class ChannelConnectorAdmin(SecretFieldsAdminMixin, admin.ModelAdmin):
    """Per-channel shop connection; the consumer key and secret are write-only."""

    form = ChannelConnectorForm
    list_display = [
        "channel",
        "kind",
        "base_url",
        "is_active",
        "breaker",
        "consecutive_failures",
        "last_success_at",
        "last_run_at",
    ]
    list_filter = ["kind", "is_active"]
    actions = ["run_now"]
    fieldsets = [
        (None, {"fields": ["channel", "kind", "base_url", "consumer_key", "consumer_secret"]}),
        (
            "What to do",
            {
                "fields": [
                    "is_active",
                    "pull_orders",
                    "push_fulfilments",
                    "push_cancellations",
                    "push_stock",
                    "service_level_map",
                    "default_service_level",
                ]
            },
        ),
        (
            "State",
            {
                "fields": [
                    "breaker",
                    "consecutive_failures",
                    "next_attempt_at",
                    "open_until",
                    "last_error",
                    "last_success_at",
                    "last_run_at",
                    "orders_modified_after",
                    "orders_last_id",
                    "stock_pushed_at",
                    "open_exceptions",
                ]
            },
        ),
    ]
    readonly_fields = [
        "breaker",
        "consecutive_failures",
        "next_attempt_at",
        "open_until",
        "last_error",
        "last_success_at",
        "last_run_at",
        "orders_modified_after",
        "orders_last_id",
        "stock_pushed_at",
        "open_exceptions",
    ]

    @admin.display(description="Circuit breaker")
    def breaker(self, obj: ChannelConnector) -> str:
        return obj.breaker_state

    @admin.display(description="Open exceptions")
    def open_exceptions(self, obj: ChannelConnector) -> int:
        if obj.pk is None:
            return 0
        return obj.exceptions.filter(resolved_at__isnull=True).count()

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Run now (pull and push, ignoring backoff)", permissions=["change"])
    def run_now(self, request, queryset):
        from partners.tasks import connector_run_task

        for connector in queryset:
            connector_run_task.delay(connector_id=connector.pk, force=True)
        self.message_user(request, f"{queryset.count()} connector run(s) queued.")


@admin.register(ConnectorException)
class ConnectorExceptionAdmin(admin.ModelAdmin):
    """Remote orders a connector could not take: handle them, then mark them resolved."""

    list_display = ["remote_number", "connector", "reason", "updated_at", "resolved_at"]
    list_filter = [("resolved_at", admin.EmptyFieldListFilter), "connector"]
    search_fields = ["remote_number", "reason"]
    readonly_fields = [
        "connector",
        "remote_id",
        "remote_number",
        "reason",
        "errors",
        "remote_modified_at",
        "resolved_at",
        "created_at",
        "updated_at",
    ]
    actions = ["resolve"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Mark resolved", permissions=["change"])
    def resolve(self, request, queryset):
        for exception in queryset.filter(resolved_at__isnull=True):
            connector_exception_resolve(exception=exception)
        self.message_user(request, "Marked resolved.")


# --- CSV order import -------------------------------------------------------------------


class OrderImportJobForm(forms.ModelForm):
    class Meta:
        model = OrderImportJob
        fields = ["channel", "file", "dry_run"]


@admin.register(OrderImportJob)
class OrderImportJobAdmin(admin.ModelAdmin):
    """Upload a CSV of orders: a worker checks it (dry run) or imports it; progress and the
    per-row errors show here. "Import for real" runs a checked file."""

    form = OrderImportJobForm
    list_display = [
        "pk",
        "channel",
        "dry_run",
        "status",
        "progress",
        "created_orders",
        "existing_orders",
        "failed_orders",
        "created_by",
        "created_at",
    ]
    list_filter = ["status", "dry_run", "channel"]
    actions = ["run_for_real"]
    readonly_fields = [
        "channel", "dry_run", "status", "progress", "total_rows", "total_orders",
        "created_orders", "existing_orders", "failed_orders", "message", "row_errors",
        "created_by", "started_at", "finished_at",
    ]  # fmt: skip

    def get_fields(self, request, obj=None):
        return ["channel", "file", "dry_run"] if obj is None else self.readonly_fields

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.readonly_fields

    @admin.display(description="Progress")
    def progress(self, obj: OrderImportJob) -> str:
        done = order_import_job_progress(job=obj)
        if not obj.total_orders and obj.status != OrderImportJob.Status.RUNNING:
            return obj.get_status_display()
        total = obj.total_orders or max(done, 1)
        return format_html(
            '<progress max="{}" value="{}"></progress> {} / {} order(s)', total, done, done, total
        )

    @admin.display(description="Errors (row, column, message)")
    def row_errors(self, obj: OrderImportJob) -> str:
        if not obj.errors:
            return "none"
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            ((e.get("row"), e.get("column"), e.get("message")) for e in obj.errors),
        )
        return format_html(
            '<table class="order-import-errors"><tr><th>Row</th><th>Column</th>'
            "<th>Message</th></tr>{}</table>",
            rows,
        )

    def has_add_permission(self, request) -> bool:
        return request.user.has_perm("partners.import_orders")

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change):
        created = order_import_job_create(
            channel=form.cleaned_data["channel"],
            file=form.cleaned_data["file"],
            dry_run=form.cleaned_data["dry_run"],
            user=request.user,
        )
        obj.pk = created.pk
        obj.refresh_from_db()

    @admin.action(description="Import the file of the selected dry run(s) for real")
    def run_for_real(self, request, queryset):
        if not request.user.has_perm("partners.import_orders"):
            raise PermissionDenied
        for job in queryset.filter(dry_run=True, status=OrderImportJob.Status.SUCCEEDED):
            new = order_import_job_rerun(job=job, user=request.user)
            self.message_user(request, f"Import {new.pk} queued (from dry run {job.pk}).")
