"""Admin for rate cards: drafts are edited here (or imported as CSV) and activated by action.

An active card is read-only: a correction is a new version (retire the old one by
giving it a valid_to), so what a past shipment was priced with never changes under it.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.http import HttpResponse
from django.utils.text import slugify

from core.admin_paginator import BigTableAdminMixin
from core.errors import DomainError
from economics.models import ChargeRule, RateCard, RepricingJob, Zone
from economics.services.rate_card_csv import rate_card_export
from economics.services.rate_cards import rate_card_activate, rate_card_retire


class _DraftOnlyInline(admin.TabularInline):
    extra = 0

    def has_change_permission(self, request, obj=None):
        return (
            obj is None or obj.status == RateCard.Status.DRAFT
        ) and super().has_change_permission(request, obj)

    has_add_permission = has_change_permission
    has_delete_permission = has_change_permission


class ZoneInline(_DraftOnlyInline):
    model = Zone
    fields = ["code", "name", "countries"]


class ChargeRuleInline(_DraftOnlyInline):
    model = ChargeRule
    fields = [
        "charge_type", "name", "amount", "percent", "applies_to", "zone", "weight_from_grams",
        "weight_to_grams", "included_units", "postcode_prefixes", "storage_basis",
    ]  # fmt: skip

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "zone":
            card_id = request.resolver_match.kwargs.get("object_id")
            kwargs["queryset"] = Zone.objects.filter(card_id=card_id)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(RateCard)
class RateCardAdmin(BigTableAdminMixin, admin.ModelAdmin):
    list_display = ["name", "provider", "status", "currency", "valid_from", "valid_to"]
    list_filter = ["status", "provider"]
    search_fields = ["name", "provider__code"]
    list_select_related = ["provider"]
    readonly_fields = ["status", "activated_at", "activated_by"]
    inlines = [ZoneInline, ChargeRuleInline]
    actions = ["activate", "retire", "export_csv"]

    def has_change_permission(self, request, obj=None):
        if obj is not None and obj.status != RateCard.Status.DRAFT:
            return False
        return super().has_change_permission(request, obj)

    @admin.action(description="Activate the selected draft cards", permissions=["activate"])
    def activate(self, request, queryset):
        for card in queryset.order_by("valid_from"):
            try:
                rate_card_activate(card_id=card.pk, actor=request.user.get_username())
            except DomainError as exc:
                self.message_user(request, exc.detail, messages.ERROR)
            else:
                job = card.repricing_jobs.order_by("-pk").first()
                pending = (
                    f" Re-pricing {job.total} shipment(s) of its period: job #{job.pk}."
                    if job and job.total
                    else ""
                )
                self.message_user(request, f"{card} is active.{pending}", messages.SUCCESS)

    @admin.action(description="Retire the selected active cards", permissions=["activate"])
    def retire(self, request, queryset):
        for card in queryset:
            try:
                rate_card_retire(card_id=card.pk, actor=request.user.get_username())
            except DomainError as exc:
                self.message_user(request, exc.detail, messages.ERROR)
            else:
                self.message_user(request, f"{card} is retired.", messages.SUCCESS)

    def has_activate_permission(self, request):
        return request.user.has_perm("economics.activate_ratecard")

    @admin.action(description="Export the selected card as CSV")
    def export_csv(self, request, queryset):
        card = queryset.select_related("provider").first()
        if card is None or queryset.count() != 1:
            self.message_user(request, "Select exactly one card to export.", messages.ERROR)
            return None
        response = HttpResponse(rate_card_export(card=card), content_type="text/csv")
        name = slugify(f"{card.provider.code}-{card.name}") or "rate-card"
        response["Content-Disposition"] = f'attachment; filename="{name}.csv"'
        return response


@admin.register(RepricingJob)
class RepricingJobAdmin(BigTableAdminMixin, admin.ModelAdmin):
    """Read-only: the jobs are started by activating or retiring a card."""

    list_display = ["__str__", "provider", "card", "status", "processed", "total", "created_at"]
    list_filter = ["status", "provider"]
    list_select_related = ["provider", "card"]
    readonly_fields = [field.name for field in RepricingJob._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
