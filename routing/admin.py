"""Rule sets in the admin: a draft with its rules inline, published ones read-only.

Writes go through routing.services.rulesets like the ops screens', so a draft is
numbered the same way, a rule is checked the same way (unknown codes are errors at the
field), and swapping two rules' positions in one save works.
"""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError

from core.errors import DomainError, ValidationFailed
from routing.models import Rule, RuleSet, SiteCost
from routing.services.rulesets import (
    RULE_FIELDS,
    known_codes,
    rule_field_problems,
    rules_write,
    ruleset_create,
    ruleset_publish,
    ruleset_update,
)
from routing.tables import routing_tables_invalidate


class RuleInlineForm(forms.ModelForm):
    class Meta:
        model = Rule
        fields = ["position", *RULE_FIELDS]

    def clean(self):
        data = super().clean()
        if self.errors or data.get("DELETE"):
            return data
        rule = self.instance
        for field in RULE_FIELDS:
            if field in data:
                setattr(rule, field, data[field])
        problems = rule_field_problems(rule, known_codes())
        if problems:
            raise ValidationError(dict(problems))
        return data


class RuleInline(admin.TabularInline):
    model = Rule
    form = RuleInlineForm
    extra = 0
    ordering = ["position"]
    fields = ["position", *RULE_FIELDS]

    def has_change_permission(self, request, obj=None):
        # Published and retired versions are history: a change is a new draft.
        allowed = super().has_change_permission(request, obj)
        return allowed and (obj is None or obj.status == RuleSet.Status.DRAFT)

    def has_add_permission(self, request, obj=None):
        allowed = super().has_add_permission(request, obj)
        return allowed and (obj is None or obj.status == RuleSet.Status.DRAFT)

    def has_delete_permission(self, request, obj=None):
        allowed = super().has_delete_permission(request, obj)
        return allowed and (obj is None or obj.status == RuleSet.Status.DRAFT)


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

    def has_delete_permission(self, request, obj=None):
        # Orders name the version that routed them: only a draft was never in force.
        allowed = super().has_delete_permission(request, obj)
        return allowed and (obj is None or obj.status == RuleSet.Status.DRAFT)

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # it would skip the draft-only check above
        return actions

    def save_model(self, request, obj, form, change):
        if not change:
            ruleset_create(rule_set=obj, actor=request.user.get_username())
            return
        ruleset_update(
            rule_set_id=obj.pk,
            name=obj.name,
            note=obj.note,
            **{f: getattr(obj, f) for f in form.cleaned_data if f.startswith("default_")},
        )

    def save_formset(self, request, form, formset, change):
        if formset.model is not Rule:
            super().save_formset(request, form, formset, change)
            return
        rules = formset.save(commit=False)
        try:
            rules_write(
                rule_set_id=form.instance.pk,
                rules=rules,
                deleted_ids=[rule.pk for rule in formset.deleted_objects],
            )
        except ValidationFailed as exc:
            # The inline form checked each rule; what is left is about the set (positions).
            self.message_user(request, exc.detail, messages.ERROR)

    @admin.action(description="Publish the selected draft", permissions=["publish"])
    def publish(self, request, queryset):
        chosen = list(queryset[:2])
        if len(chosen) != 1:
            self.message_user(request, "Select exactly one draft to publish.", messages.ERROR)
            return
        rule_set = chosen[0]
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
