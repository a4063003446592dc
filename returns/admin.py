"""Read-mostly admin for returns: changes go through the back office or the API (services)."""

from django.contrib import admin

from returns.models import ReturnLine, ReturnRequest


class ReturnLineInline(admin.TabularInline):
    model = ReturnLine
    extra = 0
    can_delete = False
    fields = (
        "order_line",
        "quantity",
        "reason",
        "quantity_received",
        "condition",
        "disposition",
        "refund_amount",
    )
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(ReturnRequest)
class ReturnRequestAdmin(admin.ModelAdmin):
    list_display = ["__str__", "order", "status", "warehouse", "refund_amount_due", "created_at"]
    list_filter = ["status"]
    search_fields = ["order__number", "return_shipment__tracking_number"]
    list_select_related = ["order", "warehouse"]
    inlines = [ReturnLineInline]
    readonly_fields = [field.name for field in ReturnRequest._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
