"""Admin for the logistics domain. Dispatch and tracking change shipments through services."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError

from core.admin_paginator import BigTableAdminMixin, ReadOnlyAdminMixin, ReadOnlyInline
from core.admin_secrets import SecretFieldsAdminMixin
from core.errors import ValidationFailed
from core.ssrf import url_validate_public
from logistics import webhook_signing
from logistics.models import (
    Box,
    CarrierAccount,
    CustomsDeclaration,
    CustomsDeclarationLine,
    CustomsUnion,
    CustomsUnionMember,
    LabelPurchase,
    Parcel,
    Provider,
    ServiceLevel,
    Shipment,
    ShipmentLine,
    TrackingEvent,
    TransitTime,
    WebhookEndpoint,
)
from logistics.services.webhook_endpoints import webhook_endpoint_update, webhook_url_validate


class ServiceLevelInline(admin.TabularInline):
    model = ServiceLevel
    extra = 0
    fields = ["code", "name", "max_transit_hours", "is_active"]


class TransitTimeForm(forms.ModelForm):
    # No Meta: ModelAdmin builds the form for its model and fields.

    def clean_countries(self) -> list[str]:
        # "de, at" is DE and AT; order kept, the validators then check each code.
        return [code.strip().upper() for code in self.cleaned_data.get("countries", [])]


class TransitTimeInline(admin.TabularInline):
    model = TransitTime
    form = TransitTimeForm
    extra = 0
    fields = ["service_level", "countries", "days"]


class ProviderForm(forms.ModelForm):
    # No Meta: ModelAdmin builds the form for its model and fields.

    def clean_base_url(self):
        url = self.cleaned_data.get("base_url", "")
        url_validate_public(url)  # no internal addresses (core/ssrf.py)
        return url


@admin.register(Provider)
class ProviderAdmin(SecretFieldsAdminMixin, BigTableAdminMixin, admin.ModelAdmin):
    """The API token and webhook secret are write-only (core/admin_secrets.py)."""

    form = ProviderForm
    list_display = ["code", "name", "kind", "adapter", "base_url", "supports_webhooks", "is_active"]
    list_filter = ["kind", "adapter", "is_active", "supports_webhooks"]
    search_fields = ["code", "name"]
    inlines = [ServiceLevelInline, TransitTimeInline]
    fieldsets = [
        (None, {"fields": ["code", "name", "kind", "is_active"]}),
        (
            "Integration",
            {
                "fields": [
                    "adapter",
                    "base_url",
                    "api_token",
                    "webhook_secret",
                    "supports_webhooks",
                    "tracking_url_template",
                ]
            },
        ),  # fmt: skip
    ]


@admin.register(ServiceLevel)
class ServiceLevelAdmin(BigTableAdminMixin, admin.ModelAdmin):
    list_display = ["code", "name", "provider", "max_transit_hours", "is_active"]
    list_filter = ["provider", "is_active"]
    list_select_related = ["provider"]
    search_fields = ["code", "name", "provider__code"]
    autocomplete_fields = ["provider"]


@admin.register(TransitTime)
class TransitTimeAdmin(BigTableAdminMixin, admin.ModelAdmin):
    """Carrier days per provider, service level and zone (docs/routing.md, the promise)."""

    form = TransitTimeForm
    list_display = ["provider", "service_level", "zone", "days"]
    list_filter = ["provider"]
    list_select_related = ["provider", "service_level"]
    search_fields = ["provider__code", "service_level__code"]
    autocomplete_fields = ["provider", "service_level"]

    @admin.display(description="Destinations")
    def zone(self, obj: TransitTime) -> str:
        return ", ".join(obj.countries) or "every other destination"


class ShipmentLineInline(ReadOnlyInline):
    model = ShipmentLine
    fields = ["order_line", "quantity"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("order_line")


class ParcelInline(ReadOnlyInline):
    model = Parcel
    fields = [
        "position", "box", "tracking_number", "weight_grams", "length_mm", "width_mm", "height_mm",
    ]  # fmt: skip


class TrackingEventInline(ReadOnlyInline):
    model = TrackingEvent
    verbose_name_plural = "Tracking timeline"
    fields = ["occurred_at", "status", "provider_status", "description", "location", "received_at"]
    ordering = ["occurred_at", "id"]


@admin.register(Shipment)
class ShipmentAdmin(BigTableAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """Shipments are planned, dispatched and tracked by the logistics services."""

    list_display = [
        "id", "order", "status", "provider", "warehouse", "tracking_number",
        "dispatched_at", "delivered_at", "updated_at",
    ]  # fmt: skip
    list_filter = ["status", "provider", "warehouse"]
    list_select_related = ["order", "provider", "warehouse"]
    search_fields = ["tracking_number", "order__number"]
    exact_search_fields = ("tracking_number", "order__number")
    ordering = ["-id"]
    readonly_fields = ["tracking_url"]
    inlines = [ShipmentLineInline, ParcelInline, TrackingEventInline]

    @admin.display(description="Tracking page")
    def tracking_url(self, obj: Shipment) -> str:
        return obj.tracking_url or "-"


@admin.register(ShipmentLine)
class ShipmentLineAdmin(BigTableAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["shipment", "order_line", "quantity"]
    list_select_related = ["shipment", "order_line"]
    search_fields = ["shipment__tracking_number"]
    exact_search_fields = ("shipment__tracking_number",)
    ordering = ["-id"]


@admin.register(Parcel)
class ParcelAdmin(BigTableAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["id", "shipment", "position", "box", "tracking_number", "weight_grams"]
    list_select_related = ["shipment", "box"]
    search_fields = ["tracking_number"]
    exact_search_fields = ("tracking_number",)
    ordering = ["-id"]


@admin.register(Box)
class BoxAdmin(admin.ModelAdmin):
    """The pack station's box catalogue: inner dimensions and the empty box's weight."""

    list_display = [
        "code", "name", "inner_length_mm", "inner_width_mm", "inner_height_mm", "tare_grams",
        "is_active",
    ]  # fmt: skip
    list_filter = ["is_active"]
    search_fields = ["code", "name"]


@admin.register(TrackingEvent)
class TrackingEventAdmin(BigTableAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """Normalised tracking events as received: never edited."""

    list_display = ["occurred_at", "shipment", "status", "provider_status", "location"]
    list_filter = ["status"]
    list_select_related = ["shipment"]
    search_fields = ["shipment__tracking_number"]
    exact_search_fields = ("shipment__tracking_number",)
    ordering = ["-id"]


# The dispatch and tracking models (outbox, inbound webhooks, partner deliveries)
# register themselves in admin_ops.
from logistics import admin_ops  # noqa: E402, F401


class CustomsUnionMemberInline(admin.TabularInline):
    model = CustomsUnionMember
    extra = 1


@admin.register(CustomsUnion)
class CustomsUnionAdmin(admin.ModelAdmin):
    """Customs unions are data: edit members here when a country joins or leaves."""

    list_display = ["code", "name"]
    inlines = [CustomsUnionMemberInline]


class CustomsDeclarationLineInline(admin.TabularInline):
    model = CustomsDeclarationLine
    extra = 0
    can_delete = False
    readonly_fields = (
        "sku",
        "description",
        "hs_code",
        "origin_country",
        "quantity",
        "unit_value",
        "value",
        "weight_grams",
    )
    fields = readonly_fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(CustomsDeclaration)
class CustomsDeclarationAdmin(admin.ModelAdmin):
    """Built by the customs gate at planning; read-only here."""

    list_display = ["shipment", "origin_country", "destination_country", "incoterm", "total_value"]
    list_select_related = ["shipment"]
    inlines = [CustomsDeclarationLineInline]
    readonly_fields = [field.name for field in CustomsDeclaration._meta.fields]

    def has_add_permission(self, request):
        return False


class WebhookEndpointForm(forms.ModelForm):
    # No Meta: ModelAdmin builds the form for its model and fields.
    url = forms.URLField(max_length=2000, assume_scheme="https")

    def clean_url(self):
        url = self.cleaned_data.get("url", "")
        try:
            # https and public, as the partner API requires (core/ssrf.py).
            return webhook_url_validate(url=url)
        except ValidationFailed as exc:
            raise ValidationError([error["message"] for error in exc.errors]) from None


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(SecretFieldsAdminMixin, BigTableAdminMixin, admin.ModelAdmin):
    """Partners manage their endpoints through the API; staff see them and re-enable them.

    The secret is write-only (core/admin_secrets.py); an endpoint added here without one
    gets a generated secret, shown once.
    """

    form = WebhookEndpointForm
    list_display = ["url", "channel", "active", "failing_since", "disabled_at", "created_at"]
    list_filter = ["active", "channel"]
    list_select_related = ["channel"]
    search_fields = ["url", "channel__code", "description"]
    autocomplete_fields = ["channel"]
    readonly_fields = ["failing_since", "disabled_at", "disabled_reason", "previous_secret_until"]
    fieldsets = [
        (None, {"fields": ["channel", "url", "topics", "description", "active"]}),
        ("Signing", {"fields": ["secret", "previous_secret_until"]}),
        ("Health", {"fields": ["failing_since", "disabled_at", "disabled_reason"]}),
    ]
    actions = ["enable", "disable"]

    def get_readonly_fields(self, request, obj=None):
        # On an existing endpoint `active` changes through the actions (the service keeps
        # the failure clock and the disabled fields in step).
        readonly = list(super().get_readonly_fields(request, obj))
        return [*readonly, "active"] if obj is not None else readonly

    def save_model(self, request, obj, form, change):
        generated = ""
        if not obj.secret:
            generated = obj.secret = webhook_signing.secret_generate()
        super().save_model(request, obj, form, change)
        if generated:
            self.message_user(
                request,
                f"New secret for {obj}. Copy it now, it will not be shown again: {generated}",
                level=messages.WARNING,
            )

    @admin.action(description="Enable the selected endpoints again", permissions=["change"])
    def enable(self, request, queryset):
        disabled = list(queryset.filter(active=False))
        for endpoint in disabled:
            webhook_endpoint_update(endpoint=endpoint, active=True)
        self.message_user(request, f"{len(disabled)} endpoint(s) enabled again.")

    @admin.action(description="Disable the selected endpoints", permissions=["change"])
    def disable(self, request, queryset):
        active = list(queryset.filter(active=True))
        for endpoint in active:
            webhook_endpoint_update(
                endpoint=endpoint,
                active=False,
                reason=f"Disabled by Consign staff ({request.user.get_username()}).",
            )
        self.message_user(request, f"{len(active)} endpoint(s) disabled.")


class CarrierAccountForm(forms.ModelForm):
    # No Meta: ModelAdmin builds the form for its model and fields.
    base_url = forms.URLField(
        required=False,
        assume_scheme="https",
        help_text=CarrierAccount._meta.get_field("base_url").help_text,
    )

    def clean_base_url(self):
        url = self.cleaned_data.get("base_url", "")
        url_validate_public(url)  # no internal addresses (core/ssrf.py)
        return url


@admin.register(CarrierAccount)
class CarrierAccountAdmin(SecretFieldsAdminMixin, BigTableAdminMixin, admin.ModelAdmin):
    """The account number and credentials are write-only (core/admin_secrets.py)."""

    form = CarrierAccountForm
    list_display = ["code", "provider", "carrier_name", "description", "test_mode", "is_active"]
    list_filter = ["carrier_name", "test_mode", "is_active"]
    list_select_related = ["provider"]
    search_fields = ["code", "description", "provider__code"]
    autocomplete_fields = ["provider"]
    fieldsets = [
        (None, {"fields": ["provider", "code", "carrier_name", "description", "is_active"]}),
        (
            "Connection",
            {
                "fields": [
                    "account_number",
                    "credentials",
                    "test_mode",
                    "base_url",
                    "services",
                    "connector_settings",
                ]
            },  # fmt: skip
        ),
    ]


@admin.register(LabelPurchase)
class LabelPurchaseAdmin(BigTableAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """Written by logistics.services.labels; an unknown outcome is settled there."""

    list_display = [
        "id", "shipment", "carrier_account", "service", "state", "started_at", "finished_at",
        "parcel_count",
    ]  # fmt: skip
    list_filter = ["state", "carrier_account"]
    list_select_related = ["shipment", "carrier_account"]
    search_fields = ["carrier_reference", "shipment__tracking_number"]
    ordering = ["-id"]
    exclude = ["label_pdf", "label_zpl"]

    def get_queryset(self, request):
        return super().get_queryset(request).defer("label_pdf", "label_zpl")
