from django.contrib import admin, messages
from django.db.models import Max

from core.errors import DomainError
from routing.models import Rule, RuleSet, SiteCost
from routing.services.rulesets import ruleset_publish
from routing.tables import routing_tables_invalidate


class RuleInline(admin.TabularInline):
    model = Rule
    extra = 0
    ordering = ["position"]
    fields = [
        "position",
        "name",
        "channels",
        "countries",
        "postcode_prefixes",
        "service_levels",
        "skus",
        "tags",
        "min_order_value",
        "max_order_value",
        "min_weight_grams",
        "max_weight_grams",
        "customs_required",
        "action",
        "sites",
        "providers",
        "split_policy",
        "max_shipments",
        "objective",
        "max_delivery_days",
    ]

    def has_change_permission(self, request, obj=None):
        # Published and retired versions are history: a change is a new draft.
        return obj is None or obj.status == RuleSet.Status.DRAFT

    has_add_permission = has_change_permission
    has_delete_permission = has_change_permission


@admin.register(RuleSet)
class RuleSetAdmin(admin.ModelAdmin):
    list_display = ["version", "name", "status", "published_at", "published_by"]
    list_filter = ["status"]
    readonly_fields = ["version", "status", "created_by", "published_by", "published_at"]
    inlines = [RuleInline]
    show_full_result_count = False
    actions = ["publish"]

    def has_change_permission(self, request, obj=None):
        allowed = super().has_change_permission(request, obj)
        return allowed and (obj is None or obj.status == RuleSet.Status.DRAFT)

    def save_model(self, request, obj, form, change):
        if not change:
            obj.version = (RuleSet.objects.aggregate(v=Max("version"))["v"] or 0) + 1
            obj.created_by = request.user.get_username()
        super().save_model(request, obj, form, change)

    @admin.action(description="Publish the selected draft", permissions=["publish"])
    def publish(self, request, queryset):
        for rule_set in queryset[:1]:
            try:
                ruleset_publish(rule_set_id=rule_set.pk, actor=request.user.get_username())
            except DomainError as error:
                self.message_user(request, error.detail, messages.ERROR)
            else:
                self.message_user(request, f"Published v{rule_set.version}.")

    def has_publish_permission(self, request):
        return request.user.has_perm("routing.publish_ruleset")


@admin.register(SiteCost)
class SiteCostAdmin(admin.ModelAdmin):
    list_display = ["warehouse", "per_order", "per_unit", "currency"]
    list_select_related = ["warehouse"]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        routing_tables_invalidate()
