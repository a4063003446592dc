from django.contrib import admin, messages
from django.utils import timezone

from partners.models import ApiKey, IdempotencyRecord
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
