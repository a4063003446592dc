"""Admin for the inventory operation models (receiving, counts, alerts, LSP snapshots).

Every stock change goes through inventory.services; these admins only call them.
"""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from core.admin_paginator import ReadOnlyAdminMixin, ReadOnlyInline
from core.errors import DomainError
from core.forms import column_integer_field
from inventory.models import (
    ImportJob,
    InboundLine,
    InboundReceipt,
    InboundShipment,
    LowStockAlert,
    StockCount,
    StockSnapshot,
    StockSnapshotLine,
    Warehouse,
)
from inventory.selectors import snapshot_differences
from inventory.services.counts import stock_count_cancel
from inventory.services.imports import import_job_create, import_job_progress
from inventory.services.receiving import inbound_close, inbound_receive
from inventory.services.reconciliation import (
    snapshot_accept,
    snapshot_record,
    snapshot_rows_from_csv,
)


class InboundLineInline(ReadOnlyInline):
    model = InboundLine
    fields = (
        "product",
        "expected_quantity",
        "received_quantity",
        "discrepancy",
    )
    readonly_fields = fields


class ReceiveForm(forms.Form):
    code = forms.CharField(label="Barcode or SKU", max_length=64)
    # Bounded by the column (core/forms.py): too large is a form error, not a DataError.
    quantity = column_integer_field(InboundReceipt, "quantity", min_value=1, initial=1)


@admin.register(InboundShipment)
class InboundShipmentAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["reference", "warehouse", "supplier", "status", "expected_at", "closed_at"]
    list_filter = ["status", "warehouse"]
    search_fields = ["reference", "supplier"]
    inlines = [InboundLineInline]
    actions = ["close_selected"]
    change_form_template = "admin/inventory/inboundshipment/change_form.html"

    def get_urls(self):
        return [
            path(
                "<int:pk>/receive/",
                self.admin_site.admin_view(self.receive_view),
                name="inventory_inboundshipment_receive",
            ),
            *super().get_urls(),
        ]

    def receive_view(self, request, pk: int):
        if not request.user.has_perm("inventory.receive_stock"):
            raise PermissionDenied
        inbound = get_object_or_404(InboundShipment, pk=pk)
        form = ReceiveForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                inbound_receive(
                    inbound=inbound,
                    code=form.cleaned_data["code"],
                    quantity=form.cleaned_data["quantity"],
                    source=InboundReceipt.Source.SCAN,
                    user=request.user,
                )
            except DomainError as exc:
                messages.error(request, exc.detail)
            else:
                messages.success(
                    request,
                    f"Received {form.cleaned_data['quantity']} × {form.cleaned_data['code']}.",
                )
                return redirect(reverse("admin:inventory_inboundshipment_receive", args=[pk]))
        context = {
            **self.admin_site.each_context(request),
            "title": f"Receive {inbound.reference} at {inbound.warehouse.code}",
            "inbound": inbound,
            "lines": inbound.lines.select_related("product"),
            "form": form,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/inventory/inboundshipment/receive.html", context)

    @admin.action(description="Close selected inbound shipments (record discrepancies)")
    def close_selected(self, request, queryset):
        if not request.user.has_perm("inventory.receive_stock"):
            raise PermissionDenied
        for inbound in queryset:
            try:
                discrepancies = inbound_close(inbound=inbound, user=request.user)
            except DomainError as exc:
                messages.error(request, exc.detail)
                continue
            summary = ", ".join(f"{d['sku']} {d['difference']:+}" for d in discrepancies)
            messages.info(
                request, f"{inbound.reference} closed. Discrepancies: {summary or 'none'}."
            )


@admin.register(StockCount)
class StockCountAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "pk", "product", "warehouse", "status", "expected_on_hand", "counted", "difference",
        "created_at", "completed_at",
    ]  # fmt: skip
    list_filter = ["status", "warehouse"]
    search_fields = ["product__sku"]
    list_select_related = ["product", "warehouse"]
    actions = ["cancel_selected"]

    @admin.action(description="Cancel selected open counts (unlock the stock levels)")
    def cancel_selected(self, request, queryset):
        if not request.user.has_perm("inventory.count_stock"):
            raise PermissionDenied
        for count in queryset.filter(status=StockCount.Status.OPEN):
            stock_count_cancel(count=count, user=request.user)


@admin.register(LowStockAlert)
class LowStockAlertAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["product", "warehouse", "available", "threshold", "raised_at", "resolved_at"]
    list_filter = [("resolved_at", admin.EmptyFieldListFilter), "warehouse"]
    search_fields = ["product__sku"]
    list_select_related = ["product", "warehouse"]


class StockSnapshotLineInline(ReadOnlyInline):
    model = StockSnapshotLine
    fields = (
        "product",
        "lsp_on_hand",
        "consign_on_hand",
        "difference",
        "applied_delta",
    )
    readonly_fields = fields


class SnapshotUploadForm(forms.ModelForm):
    file = forms.FileField(help_text="CSV with the columns sku,on_hand as exported by the LSP.")

    class Meta:
        model = StockSnapshot
        fields = ["warehouse"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["warehouse"].queryset = Warehouse.objects.filter(kind=Warehouse.Kind.LSP)

    def clean_file(self):
        try:
            text = self.cleaned_data["file"].read().decode("utf-8-sig")
            self.rows = snapshot_rows_from_csv(text=text)
        except UnicodeDecodeError:
            raise forms.ValidationError("The file is not UTF-8 text.") from None
        except DomainError as exc:
            raise forms.ValidationError(exc.detail) from None
        return self.cleaned_data["file"]


@admin.register(StockSnapshot)
class StockSnapshotAdmin(admin.ModelAdmin):
    """LSP snapshots: upload a file (or the beat pulls them), review differences, accept."""

    list_display = ["pk", "warehouse", "source", "status", "taken_at", "differences", "accepted_by"]
    list_filter = ["status", "warehouse"]
    readonly_fields = ["warehouse", "source", "status", "taken_at", "errors", "accepted_at"]
    inlines = [StockSnapshotLineInline]
    actions = ["accept_differences"]
    form = SnapshotUploadForm

    def get_fields(self, request, obj=None):
        return ["warehouse", "file"] if obj is None else self.readonly_fields

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.readonly_fields

    def get_inlines(self, request, obj):
        return [] if obj is None else self.inlines

    def has_add_permission(self, request) -> bool:
        return request.user.has_perm("inventory.adjust_stock")

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change):
        created = snapshot_record(
            warehouse=form.cleaned_data["warehouse"],
            rows=form.rows,
            source=StockSnapshot.Source.UPLOAD,
        )
        obj.pk = created.pk
        obj.refresh_from_db()

    def save_related(self, request, form, formsets, change):
        return  # lines were written by snapshot_record

    @admin.display(description="Differences now")
    def differences(self, obj: StockSnapshot) -> int:
        return len(snapshot_differences(snapshot=obj)) if obj.status == "open" else 0

    @admin.action(description="Accept differences as lsp_reconciliation adjustments")
    def accept_differences(self, request, queryset):
        if not request.user.has_perm("inventory.accept_reconciliation"):
            raise PermissionDenied
        for snapshot in queryset:
            try:
                applied = snapshot_accept(snapshot=snapshot, user=request.user)
            except DomainError as exc:
                messages.error(request, f"Snapshot {snapshot.pk}: {exc.detail}")
                continue
            messages.success(
                request, f"Snapshot {snapshot.pk}: {len(applied)} SKU(s) adjusted to the LSP count."
            )


class ImportJobForm(forms.ModelForm):
    class Meta:
        model = ImportJob
        fields = ["kind", "file", "dry_run", "skip_bad_rows"]


@admin.register(ImportJob)
class ImportJobAdmin(admin.ModelAdmin):
    """Upload a CSV: a worker validates it (dry run) or applies it; progress shows here."""

    form = ImportJobForm
    list_display = [
        "pk",
        "kind",
        "dry_run",
        "status",
        "progress",
        "applied_rows",
        "created_by",
        "created_at",
    ]
    list_filter = ["kind", "status"]
    readonly_fields = [
        "status", "progress", "total_rows", "applied_rows", "message", "errors", "preview",
        "created_by", "started_at", "finished_at",
    ]  # fmt: skip

    def get_fields(self, request, obj=None):
        return ["kind", "file", "dry_run", "skip_bad_rows"] if obj is None else self.readonly_fields

    @admin.display(description="Progress")
    def progress(self, obj: ImportJob) -> str:
        done = import_job_progress(job=obj)
        if not obj.total_rows:
            return obj.get_status_display()
        return f"{done} / {obj.total_rows} ({100 * done // obj.total_rows} %)"

    def has_add_permission(self, request) -> bool:
        return request.user.has_perm("inventory.adjust_stock") and request.user.has_perm(
            "inventory.change_product"
        )

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change):
        created = import_job_create(
            kind=form.cleaned_data["kind"],
            file=form.cleaned_data["file"],
            dry_run=form.cleaned_data["dry_run"],
            skip_bad_rows=form.cleaned_data["skip_bad_rows"],
            user=request.user,
        )
        obj.pk = created.pk
        obj.refresh_from_db()
