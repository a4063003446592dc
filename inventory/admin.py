"""Admin for the inventory domain. Stock changes only through inventory.services, never here."""

from django import forms
from django.contrib import admin
from django.db.models import F, QuerySet
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join

from core.admin_paginator import BigTableAdminMixin, ReadOnlyAdminMixin
from inventory.models import (
    LOW_STOCK,
    Allocation,
    Product,
    ProductBarcode,
    StockLevel,
    StockMovement,
    Warehouse,
    WarehouseHoliday,
)

RECENT_MOVEMENTS = 25


def _movements_table(movements) -> str:
    rows = format_html_join(
        "",
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        (
            (
                m.created_at.strftime("%Y-%m-%d %H:%M"),
                m.warehouse.code,
                m.get_type_display(),
                f"{m.on_hand_delta:+d}",
                f"{m.reserved_delta:+d}",
                m.reason,
                m.reference,
            )
            for m in movements
        ),
    )
    if not rows:
        return "No movements."
    return format_html(
        "<table><thead><tr><th>When</th><th>Warehouse</th><th>Type</th><th>On hand</th>"
        "<th>Reserved</th><th>Reason</th><th>Reference</th></tr></thead><tbody>{}</tbody></table>",
        rows,
    )


class ProductBarcodeInline(admin.TabularInline):
    """The product's other barcodes; the primary one is the Barcode field above (the
    database keeps it in the barcode table too, migration 0006)."""

    model = ProductBarcode
    extra = 0
    fields = ["barcode"]
    verbose_name = "other barcode"
    verbose_name_plural = "Other barcodes (scans and receiving find the product by any of them)"

    def get_queryset(self, request: HttpRequest) -> QuerySet[ProductBarcode]:
        return super().get_queryset(request).exclude(barcode=F("product__barcode"))


class ProductForm(forms.ModelForm):
    # No Meta: ModelAdmin builds the form for its model and fields.

    def clean_barcode(self) -> str | None:
        barcode = self.cleaned_data.get("barcode") or None
        if barcode:
            holder = (
                ProductBarcode.objects.filter(barcode=barcode)
                .exclude(product_id=self.instance.pk)
                .values_list("product__sku", flat=True)
                .first()
            )
            if holder is not None:
                raise forms.ValidationError(f"Barcode {barcode} belongs to SKU {holder}.")
        return barcode


@admin.register(Product)
class ProductAdmin(BigTableAdminMixin, admin.ModelAdmin):
    list_display = [
        "sku", "name", "barcode", "weight_grams", "hs_code", "country_of_origin",
        "customs_value", "customs_currency", "is_active",
    ]  # fmt: skip
    list_filter = ["is_active", "country_of_origin"]
    search_fields = ["sku", "name", "barcodes__barcode"]
    form = ProductForm
    inlines = [ProductBarcodeInline]
    readonly_fields = ["recent_movements", "created_at", "updated_at", "updated_by_channel"]
    fieldsets = [
        (None, {"fields": ["sku", "name", "barcode", "is_active"]}),
        ("Physical", {"fields": ["weight_grams", "length_mm", "width_mm", "height_mm"]}),
        (
            "Customs",
            {
                "fields": [
                    "hs_code",
                    "country_of_origin",
                    "customs_description",
                    "customs_value",
                    "customs_currency",
                ]
            },
        ),  # fmt: skip
        ("Stock ledger (latest movements, read-only)", {"fields": ["recent_movements"]}),
        ("Dates", {"fields": ["created_at", "updated_at", "updated_by_channel"]}),
    ]

    @admin.display(description="Recent stock movements")
    def recent_movements(self, obj: Product) -> str:
        if obj.pk is None:
            return "-"
        movements = (
            StockMovement.objects.filter(product=obj)
            .select_related("warehouse")
            .order_by("-created_at", "-id")[:RECENT_MOVEMENTS]
        )
        return _movements_table(movements)


ISO_WEEKDAYS = [
    (1, "Monday"),
    (2, "Tuesday"),
    (3, "Wednesday"),
    (4, "Thursday"),
    (5, "Friday"),
    (6, "Saturday"),
    (7, "Sunday"),
]


class WarehouseForm(forms.ModelForm):
    # Ticked days instead of the array's "1,2,3,4,5" text.
    working_days = forms.TypedMultipleChoiceField(
        choices=ISO_WEEKDAYS,
        coerce=int,
        widget=forms.CheckboxSelectMultiple,
        help_text="The days the site ships on (in its own time zone).",
    )

    # No Meta: ModelAdmin builds the form for its model and fields.

    def clean_working_days(self) -> list[int]:
        return sorted(self.cleaned_data["working_days"])


class WarehouseHolidayInline(admin.TabularInline):
    model = WarehouseHoliday
    fields = ["date", "name"]
    extra = 1
    ordering = ["-date"]


@admin.register(Warehouse)
class WarehouseAdmin(BigTableAdminMixin, admin.ModelAdmin):
    form = WarehouseForm
    list_display = [
        "code", "name", "kind", "provider", "country", "city", "timezone", "cutoff_time",
        "is_active",
    ]  # fmt: skip
    list_filter = ["kind", "is_active", "provider"]
    list_select_related = ["provider"]
    search_fields = ["code", "name", "city"]
    autocomplete_fields = ["provider"]
    inlines = [WarehouseHolidayInline]


class LowStockFilter(admin.SimpleListFilter):
    """The one low-stock rule (inventory.models.LOW_STOCK), as the dashboard and queue use it."""

    title = "low stock"
    parameter_name = "low"

    def lookups(self, request, model_admin):
        return [("1", "Low stock"), ("0", "Not low")]

    def queryset(self, request, queryset):
        if self.value() == "1":
            return queryset.filter(LOW_STOCK)
        if self.value() == "0":
            return queryset.exclude(LOW_STOCK)
        return queryset


@admin.register(StockLevel)
class StockLevelAdmin(BigTableAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """Read-only: receipts, adjustments, counts and transfers go through the stock services."""

    list_display = [
        "product", "warehouse", "on_hand", "reserved", "available", "low_stock_threshold",
        "updated_at",
    ]  # fmt: skip
    list_filter = [LowStockFilter, "warehouse"]
    list_select_related = ["product", "warehouse"]
    search_fields = ["product__sku", "product__barcodes__barcode"]
    exact_search_fields = ("product__sku", "product__barcodes__barcode")
    ordering = ["product__sku", "warehouse__code"]
    readonly_fields = ["recent_movements"]
    fields = [
        "product", "warehouse", "on_hand", "reserved", "low_stock_threshold", "updated_at",
        "recent_movements",
    ]  # fmt: skip

    @admin.display(description="Available")
    def available(self, obj: StockLevel) -> int:
        return obj.available

    @admin.display(description="Recent stock movements")
    def recent_movements(self, obj: StockLevel) -> str:
        movements = (
            StockMovement.objects.filter(product_id=obj.product_id, warehouse_id=obj.warehouse_id)
            .select_related("warehouse")
            .order_by("-created_at", "-id")[:RECENT_MOVEMENTS]
        )
        return _movements_table(movements)


@admin.register(StockMovement)
class StockMovementAdmin(BigTableAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """The append-only ledger: never edited or deleted."""

    list_display = [
        "created_at", "product", "warehouse", "type", "on_hand_delta", "reserved_delta",
        "reason", "reference", "order", "actor",
    ]  # fmt: skip
    list_filter = ["type", "warehouse"]
    list_select_related = ["product", "warehouse", "order", "actor"]
    search_fields = ["product__sku", "order__number"]
    exact_search_fields = ("product__sku", "order__number")
    ordering = ["-id"]


@admin.register(Allocation)
class AllocationAdmin(BigTableAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """Allocations are made and released by the allocation service only."""

    list_display = ["order_line", "order_number", "warehouse", "quantity", "status", "created_at"]
    list_filter = ["status", "warehouse"]
    list_select_related = ["order_line__order", "warehouse"]
    search_fields = ["order_line__order__number", "order_line__product__sku"]
    exact_search_fields = ("order_line__order__number", "order_line__product__sku")
    ordering = ["-id"]

    @admin.display(description="Order", ordering="order_line__order__number")
    def order_number(self, obj: Allocation) -> str:
        return obj.order_line.order.number


from inventory import admin_ops  # noqa: E402, F401  (operation models: receiving, counts, snapshots)
