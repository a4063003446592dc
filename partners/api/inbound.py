"""Partner API for inbound shipments (ASNs): announce stock coming to a warehouse, follow
its receipt, cancel it before arrival.

POST/GET /api/v1/inbound-shipments/, GET /api/v1/inbound-shipments/{number}/,
POST /api/v1/inbound-shipments/{number}/cancel/.
"""

from __future__ import annotations

import django_filters
from django.urls import reverse
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
)
from rest_framework import serializers, status
from rest_framework.response import Response

from core.errors import ValidationFailed
from core.pagination import KeysetPagination
from core.problems import flatten_errors
from core.serializers import StrictSerializer
from inventory import error_codes
from inventory.models import InboundShipment
from inventory.selectors import (
    INBOUNDS_PAGE_SQL,
    inbound_data,
    inbound_for_channel,
    inbounds_for_channel,
)
from inventory.services.receiving import EXPECTED_MAX, LINES_MAX, ExpectedLine
from logistics.services.asn import asn_cancel, asn_create
from orders.filters import QueryFilterBackend
from partners import schema as api_schema
from partners.idempotency import idempotent
from partners.views import PartnerApiView

ASN_EXAMPLE = {
    "reference": "PO-2026-0042",
    "warehouse": "nl-ams",
    "expected_at": "2026-03-10T09:00:00Z",
    "lines": [{"sku": "TSHIRT-BLK-M", "quantity": 120}, {"sku": "MUG-WHITE", "quantity": 48}],
    "carrier": "DHL Freight",
    "tracking_number": "JVGL0123456789",
}

NUMBER_PARAMETER = OpenApiParameter(
    name="number",
    type={"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9-]{0,19}$", "maxLength": 20},
    location=OpenApiParameter.PATH,
    description="The ASN number Consign gave, e.g. ASN-000123.",
    examples=[OpenApiExample("ASN number", value="ASN-000001")],
)

INBOUND_NOT_FOUND = OpenApiResponse(
    api_schema.ProblemSerializer,
    description="No such inbound shipment in this key's channel.",
    examples=[
        api_schema.problem_example(
            "Unknown ASN",
            404,
            error_codes.INBOUND_NOT_FOUND,
            "Not found",
            "No inbound shipment ASN-000999 in this channel.",
        )
    ],
)


class InboundLineSerializer(serializers.Serializer):
    sku = serializers.CharField()
    expected = serializers.IntegerField(help_text="Units announced.")
    received = serializers.IntegerField(help_text="Units received so far.")
    discrepancy = serializers.IntegerField(
        help_text="received − expected: negative is short, positive is over."
    )


class InboundSerializer(serializers.Serializer):
    class Meta:
        ref_name = "InboundShipment"

    number = serializers.CharField(help_text="Consign's ASN number, e.g. ASN-000123.")
    reference = serializers.CharField(help_text="Your reference; unique per warehouse.")
    warehouse = serializers.CharField(help_text="Warehouse code.")
    status = serializers.ChoiceField(choices=InboundShipment.Status.values)
    expected_at = serializers.DateTimeField(allow_null=True)
    carrier = serializers.CharField(allow_blank=True)
    tracking_number = serializers.CharField(allow_blank=True)
    lines = InboundLineSerializer(many=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    received_at = serializers.DateTimeField(
        allow_null=True, help_text="When the ASN became `received`; null before."
    )


class InboundFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(
        choices=InboundShipment.Status.choices,
        distinct=False,
        help_text="One or more statuses (repeat the parameter).",
    )
    warehouse = django_filters.CharFilter(
        field_name="warehouse__code", max_length=32, help_text="Warehouse code."
    )

    class Meta:
        model = InboundShipment
        fields: list[str] = []


def _invalid(errors) -> ValidationFailed:
    return ValidationFailed(
        "The request has invalid fields.",
        code=error_codes.INVALID_INBOUND,
        errors=flatten_errors(errors),
    )


def _detail_response(inbound: InboundShipment, *, status_code: int = 200) -> Response:
    headers = None
    if status_code == status.HTTP_201_CREATED:
        headers = {"Location": reverse("api:inbound-detail", kwargs={"number": inbound.number})}
    return Response(inbound_data(inbound=inbound), status=status_code, headers=headers)


class InboundListCreateApi(PartnerApiView):
    class InputSerializer(StrictSerializer):
        class Meta:
            ref_name = "InboundShipmentCreate"

        class LineInput(StrictSerializer):
            class Meta:
                ref_name = "InboundShipmentLineInput"

            sku = serializers.CharField(max_length=64, help_text="An active product's SKU.")
            quantity = serializers.IntegerField(min_value=1, max_value=EXPECTED_MAX)

        reference = serializers.CharField(
            max_length=64, help_text="Your reference (a PO number); unique per warehouse."
        )
        warehouse = serializers.CharField(max_length=32, help_text="An active warehouse's code.")
        expected_at = serializers.DateTimeField(
            required=False, allow_null=True, help_text="When the goods are due (ISO 8601)."
        )
        lines = serializers.ListField(
            child=LineInput(), min_length=1, max_length=LINES_MAX, help_text="1 to 500 lines."
        )
        carrier = serializers.CharField(max_length=100, required=False, allow_blank=True)
        tracking_number = serializers.CharField(max_length=100, required=False, allow_blank=True)

    pagination_class = KeysetPagination
    filter_backends = [QueryFilterBackend]
    filterset_class = InboundFilter

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return InboundShipment.objects.none()
        return inbounds_for_channel(channel_id=self.channel.pk)

    @extend_schema(
        operation_id="inbound_shipments_list",
        summary="List the channel's inbound shipments (ASNs)",
        description="Newest first by default; cursor-paged like the order list.",
        responses={200: InboundSerializer(many=True), **api_schema.COMMON_READ_RESPONSES},
    )
    def get(self, request):
        return self.paginator.page_response(
            self.filter_queryset(self.get_queryset()), request, render_sql=INBOUNDS_PAGE_SQL
        )

    @extend_schema(
        operation_id="inbound_shipments_create",
        summary="Announce an inbound shipment (ASN)",
        description=(
            "Announces stock coming to a warehouse. For an LSP-operated warehouse the ASN "
            "starts `draft` and Consign sends it to the LSP in the background (`sent` once "
            "the LSP accepted it); for an own warehouse it starts `sent`. Then `in_transit` "
            "(when the LSP says so), `receiving` at the first receipt and `received` when "
            "complete, with received quantities and the discrepancy per line. A reference "
            "the warehouse already has is 409 and names the existing ASN."
        ),
        parameters=[api_schema.IDEMPOTENCY_KEY_PARAMETER, api_schema.LOCATION_HEADER],
        request=InputSerializer,
        responses={
            201: OpenApiResponse(InboundSerializer, description="The ASN as created."),
            409: OpenApiResponse(
                api_schema.ProblemSerializer,
                description="Duplicate reference at the warehouse, or the Idempotency-Key is "
                "in flight.",
                examples=[
                    api_schema.problem_example(
                        "Duplicate reference",
                        409,
                        error_codes.INBOUND_REFERENCE_EXISTS,
                        "Conflict",
                        "Warehouse nl-ams already has ASN ASN-000012 with reference "
                        "'PO-2026-0042'.",
                        existing_inbound="ASN-000012",
                    ),
                    api_schema.IDEMPOTENCY_CONFLICT,
                ],
            ),
            422: OpenApiResponse(
                api_schema.ProblemSerializer,
                description="Invalid fields (unknown warehouse or SKU, a SKU twice, bad "
                "quantity), or a reused Idempotency-Key.",
                examples=[
                    api_schema.problem_example(
                        "Unknown SKU",
                        422,
                        error_codes.INVALID_INBOUND,
                        "Validation failed",
                        "The ASN has invalid fields.",
                        errors=[{"field": "lines[1].sku", "message": "Unknown SKU 'NOPE'."}],
                    ),
                    api_schema.IDEMPOTENCY_REUSED,
                ],
            ),
            **api_schema.COMMON_WRITE_RESPONSES,
        },
        examples=[OpenApiExample("ASN", value=ASN_EXAMPLE, request_only=True)],
    )
    @idempotent
    def post(self, request):
        body = self.InputSerializer(data=request.data)
        if not body.is_valid():
            raise _invalid(body.errors)
        data = body.validated_data
        inbound = asn_create(
            warehouse_code=data["warehouse"],
            reference=data["reference"],
            lines=[
                ExpectedLine(sku=line["sku"], quantity=line["quantity"]) for line in data["lines"]
            ],
            expected_at=data.get("expected_at"),
            carrier=data.get("carrier", ""),
            tracking_number=data.get("tracking_number", ""),
            channel_id=self.channel.pk,
        )
        return _detail_response(inbound, status_code=status.HTTP_201_CREATED)


class InboundDetailApi(PartnerApiView):
    @extend_schema(
        operation_id="inbound_shipments_retrieve",
        summary="Read one inbound shipment with expected, received and discrepancy per line",
        parameters=[NUMBER_PARAMETER],
        responses={
            200: InboundSerializer,
            404: INBOUND_NOT_FOUND,
            **api_schema.COMMON_READ_RESPONSES,
        },
    )
    def get(self, request, number: str):
        return _detail_response(inbound_for_channel(channel_id=self.channel.pk, number=number))


class InboundCancelApi(PartnerApiView):
    class InputSerializer(StrictSerializer):
        class Meta:
            ref_name = "InboundShipmentCancel"

    @extend_schema(
        operation_id="inbound_shipments_cancel",
        summary="Cancel an inbound shipment before it arrives",
        description=(
            "Allowed while the ASN is `draft`, `sent` or `in_transit`; for an LSP-operated "
            "warehouse Consign cancels it at the LSP first. Cancelling a cancelled ASN returns "
            "it unchanged. Once receiving started, or when the LSP refuses, the answer is 409."
        ),
        parameters=[NUMBER_PARAMETER, api_schema.IDEMPOTENCY_KEY_PARAMETER],
        request=InputSerializer,
        responses={
            200: InboundSerializer,
            404: INBOUND_NOT_FOUND,
            409: OpenApiResponse(
                api_schema.ProblemSerializer,
                description="Receiving started, the LSP refused or could not be reached, or "
                "the Idempotency-Key is in flight.",
                examples=[
                    api_schema.problem_example(
                        "Receiving started",
                        409,
                        error_codes.INBOUND_NOT_CANCELLABLE,
                        "Illegal status transition",
                        "ASN-000012 is receiving; it cannot become cancelled.",
                        inbound_status="receiving",
                    ),
                    api_schema.IDEMPOTENCY_CONFLICT,
                ],
            ),
            422: OpenApiResponse(
                api_schema.ProblemSerializer,
                description="Invalid fields, or a reused Idempotency-Key.",
                examples=[api_schema.IDEMPOTENCY_REUSED],
            ),
            **api_schema.COMMON_WRITE_RESPONSES,
        },
    )
    @idempotent
    def post(self, request, number: str):
        body = self.InputSerializer(data=request.data)
        if not body.is_valid():
            raise _invalid(body.errors)
        inbound = inbound_for_channel(channel_id=self.channel.pk, number=number)
        inbound = asn_cancel(inbound=inbound, user=None)
        return _detail_response(inbound)
