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
from inventory.models import (
    InboundLine,
    InboundReceipt,
    InboundShipment,
    LowStockAlert,
    StockCount,
    StockSnapshot,
    StockSnapshotLine,
)
from inventory.selectors import snapshot_differences
from inventory.services.counts import stock_count_cancel
from inventory.services.receiving import inbound_close, inbound_receive
from inventory.services.reconciliation import snapshot_accept


class InboundLineInline(ReadOnlyInline):
    model = InboundLine
    fields = ["product", "expected_quantity", "received_quantity", "discrepancy"]
    readonly_fields = fields


class ReceiveForm(forms.Form):
    code = forms.CharField(label="Barcode or SKU", max_length=64)
    quantity = forms.IntegerField(min_value=1, initial=1)


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
    fields = ["product", "lsp_on_hand", "consign_on_hand", "difference", "applied_delta"]
    readonly_fields = fields


@admin.register(StockSnapshot)
class StockSnapshotAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["pk", "warehouse", "source", "status", "taken_at", "differences", "accepted_by"]
    list_filter = ["status", "warehouse"]
    readonly_fields = ["warehouse", "source", "status", "taken_at", "errors", "accepted_at"]
    inlines = [StockSnapshotLineInline]
    actions = ["accept_differences"]

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
