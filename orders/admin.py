"""Admin for the orders domain. Order changes go through services (see admin_ops modules)."""

from django.contrib import admin

from core.admin_paginator import BigTableAdminMixin, ReadOnlyAdminMixin, ReadOnlyInline
from logistics.models import Shipment
from orders.models import (
    Channel,
    ChannelWarehouse,
    Hold,
    Order,
    OrderEvent,
    OrderLine,
)


class ChannelWarehouseInline(admin.TabularInline):
    model = ChannelWarehouse
    extra = 0
    autocomplete_fields = ["warehouse"]
    ordering = ["priority"]


@admin.register(Channel)
class ChannelAdmin(BigTableAdminMixin, admin.ModelAdmin):
    """Webhook endpoints (URL, topics, write-only secret) have their own admin in logistics."""

    list_display = [
        "code",
        "name",
        "is_active",
        "incoterm",
        "order_value_limit",
        "return_window_days",
        "catalogue_write",
    ]
    list_filter = ["is_active", "incoterm", "catalogue_write"]
    search_fields = ["code", "name"]
    inlines = [ChannelWarehouseInline]


@admin.register(ChannelWarehouse)
class ChannelWarehouseAdmin(BigTableAdminMixin, admin.ModelAdmin):
    list_display = ["channel", "warehouse", "priority"]
    list_filter = ["channel"]
    list_select_related = ["channel", "warehouse"]
    autocomplete_fields = ["channel", "warehouse"]


class OrderLineInline(ReadOnlyInline):
    model = OrderLine
    fields = [
        "line_number", "sku", "product", "quantity", "unit_price",
        "quantity_shipped", "quantity_delivered", "quantity_returned", "quantity_cancelled",
    ]  # fmt: skip

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("product")


class OrderEventInline(ReadOnlyInline):
    model = OrderEvent
    verbose_name_plural = "Timeline"
    fields = ["created_at", "type", "actor", "user", "parameters"]
    ordering = ["created_at", "id"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("user")


class HoldInline(ReadOnlyInline):
    model = Hold
    fields = ["reason", "note", "owner", "due_at", "created_at", "released_at", "released_by"]
    fk_name = "order"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("owner", "released_by")


class ShipmentInline(ReadOnlyInline):
    model = Shipment
    fields = ["status", "provider", "warehouse", "tracking_number", "dispatched_at", "delivered_at"]
    show_change_link = True

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("provider", "warehouse")


CONTACT = ("customer_email", "customer_phone")


@admin.register(Order)
class OrderAdmin(BigTableAdminMixin, admin.ModelAdmin):
    list_display = [
        "number", "channel", "external_reference", "status", "customer_name",
        "shipping_country", "total_amount", "currency", "placed_at",
    ]  # fmt: skip
    list_filter = ["status", "channel"]
    list_select_related = ["channel"]
    search_fields = ["number", "external_reference", "customer_email"]
    search_help_text = (
        "Order number, external reference, e-mail, phone, postcode, tracking number or "
        "customer name (3+ letters)."
    )
    ordering = ["-id"]
    inlines = [OrderLineInline, HoldInline, ShipmentInline, OrderEventInline]
    fieldsets = [
        (None, {"fields": ["number", "channel", "external_reference", "status", "priority"]}),
        ("Money", {"fields": ["currency", "total_amount"]}),
        ("Customer", {"fields": ["customer_name", "customer_email", "customer_phone"]}),
        (
            "Shipping",
            {
                "fields": [
                    "shipping_name",
                    "shipping_line1",
                    "shipping_line2",
                    "shipping_city",
                    "shipping_postcode",
                    "shipping_region",
                    "shipping_country",
                    "service_level",
                ]
            },
        ),  # fmt: skip
        ("Dates", {"fields": ["placed_at", "cancelled_at", "created_at", "updated_at"]}),
    ]

    # Status, lines and addresses change only through the order services (transitions,
    # cancellation, address change); the admin shows the order and its timeline.
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def get_fieldsets(self, request, obj=None):
        if request.user.has_perm("orders.view_customer_contact"):
            return self.fieldsets
        # The warehouse sees the order and where it goes, not the customer's e-mail or phone.
        return [
            (name, {**options, "fields": [f for f in options["fields"] if f not in CONTACT]})
            for name, options in self.fieldsets
        ]

    def get_search_results(self, request, queryset, search_term):
        """The CS desk's search (indexed lookups only, no table scans on a million orders)."""
        from orders.selectors import desk_search_lookups

        lookups = desk_search_lookups(
            query=search_term,
            include_contact=request.user.has_perm("orders.view_customer_contact"),
        )
        if not lookups:
            return queryset, False
        union = lookups[0].union(*lookups[1:], all=True) if len(lookups) > 1 else lookups[0]
        return queryset.filter(pk__in={order_id for order_id, _kind in union}), False


@admin.register(OrderLine)
class OrderLineAdmin(BigTableAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "order", "line_number", "sku", "quantity", "unit_price",
        "quantity_shipped", "quantity_delivered", "quantity_returned", "quantity_cancelled",
    ]  # fmt: skip
    list_select_related = ["order"]
    search_fields = ["product__sku", "order__number"]
    exact_search_fields = ("product__sku", "order__number")
    ordering = ["-id"]


@admin.register(OrderEvent)
class OrderEventAdmin(BigTableAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["created_at", "order", "type", "actor", "user"]
    list_filter = ["type"]
    list_select_related = ["order", "user"]
    search_fields = ["order__number"]
    exact_search_fields = ("order__number",)
    ordering = ["-id"]


class HoldActiveFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("active", "Active"), ("released", "Released")]

    def queryset(self, request, queryset):
        if self.value() == "active":
            return queryset.filter(released_at__isnull=True)
        if self.value() == "released":
            return queryset.filter(released_at__isnull=False)
        return queryset


@admin.register(Hold)
class HoldAdmin(BigTableAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """Holds are placed and released through the order services, never edited here."""

    list_display = ["order", "reason", "owner", "due_at", "created_at", "released_at"]
    list_filter = [HoldActiveFilter, "reason"]
    list_select_related = ["order", "owner"]
    search_fields = ["order__number"]
    exact_search_fields = ("order__number",)
    ordering = ["-id"]
