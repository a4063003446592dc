"""Admin for the logistics models added by the dispatch/tracking work (issue 6)."""

from __future__ import annotations

from django.contrib import admin, messages

from core.errors import DomainError
from logistics.models import DispatchOutbox, InboundWebhook, PartnerWebhookDelivery
from logistics.services.dispatch import shipment_dispatch_retry
from logistics.services.tracking import inbound_webhooks_retry


@admin.register(DispatchOutbox)
class DispatchOutboxAdmin(admin.ModelAdmin):
    list_display = [
        "shipment",
        "status",
        "attempts",
        "last_status_code",
        "short_error",
        "next_attempt_at",
        "sent_at",
    ]
    list_filter = ["status"]
    search_fields = ["shipment__order__number", "shipment__tracking_number"]
    list_select_related = ["shipment"]
    readonly_fields = [f.name for f in DispatchOutbox._meta.fields]
    actions = ["retry_dispatch"]

    @admin.display(description="Last error")
    def short_error(self, obj: DispatchOutbox) -> str:
        return obj.last_error[:120]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.action(description="Retry dispatch of the selected parked shipments")
    def retry_dispatch(self, request, queryset):
        if not request.user.has_perm("logistics.retry_dispatch"):
            self.message_user(request, "You may not retry dispatches.", messages.ERROR)
            return
        done = 0
        for row in queryset.select_related("shipment"):
            try:
                shipment_dispatch_retry(shipment=row.shipment, user=request.user)
                done += 1
            except DomainError as exc:
                self.message_user(request, exc.detail, messages.WARNING)
        if done:
            self.message_user(request, f"{done} shipment(s) queued for dispatch again.")


@admin.register(InboundWebhook)
class InboundWebhookAdmin(admin.ModelAdmin):
    list_display = ["webhook_id", "provider", "status", "received_at", "processed_at", "attempts"]
    list_filter = ["status", "provider"]
    search_fields = ["webhook_id"]
    date_hierarchy = "received_at"
    readonly_fields = [f.name for f in InboundWebhook._meta.fields]
    actions = ["process_again"]

    @admin.action(description="Process the selected parked (failed) webhooks again")
    def process_again(self, request, queryset):
        if not request.user.has_perm("logistics.retry_dispatch"):
            self.message_user(request, "You may not retry webhooks.", messages.ERROR)
            return
        done = inbound_webhooks_retry(inbound_ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(request, f"{done} parked webhook(s) queued for processing again.")

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(PartnerWebhookDelivery)
class PartnerWebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = [
        "event",
        "order",
        "channel",
        "endpoint",
        "status",
        "attempts",
        "last_status_code",
        "created_at",
        "delivered_at",
    ]
    list_filter = ["status", "event", "channel"]
    search_fields = ["order__number", "webhook_id"]
    list_select_related = ["order", "channel", "endpoint"]
    readonly_fields = [f.name for f in PartnerWebhookDelivery._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
