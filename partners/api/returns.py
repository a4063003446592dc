"""Partner API for returns: POST/GET /api/v1/orders/{number}/returns/."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from core.errors import ValidationFailed
from core.problems import flatten_errors
from core.serializers import StrictSerializer
from orders.selectors import order_lookup_for_channel
from partners import schema as api_schema
from partners.idempotency import idempotent
from partners.views import PartnerApiView
from returns.models import ReturnLine
from returns.selectors import returns_for_order
from returns.services import RequestedLine, return_payload, return_request_create


class ReturnLabelSerializer(serializers.Serializer):
    tracking_number = serializers.CharField()
    label_url = serializers.CharField()
    tracking_url = serializers.CharField()
    shipment_status = serializers.CharField()


class ReturnLineOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    line_number = serializers.IntegerField()
    sku = serializers.CharField()
    quantity = serializers.IntegerField()
    reason = serializers.ChoiceField(choices=ReturnLine.Reason.choices)
    quantity_received = serializers.IntegerField()
    condition = serializers.CharField(help_text="Set at receipt; empty before.")
    disposition = serializers.CharField(help_text="restock, quarantine or dispose; set at receipt.")
    refund_amount = serializers.DecimalField(
        max_digits=14, decimal_places=4, allow_null=True, coerce_to_string=True
    )


class ReturnSerializer(serializers.Serializer):
    class Meta:
        ref_name = "Return"

    number = serializers.CharField(help_text="RMA number, e.g. RMA-000012.")
    order = serializers.CharField()
    status = serializers.ChoiceField(
        choices=["requested", "label_issued", "label_failed", "in_transit", "delivered", "received"]
    )
    currency = serializers.CharField()
    refund_amount_requested = serializers.DecimalField(
        max_digits=14, decimal_places=4, coerce_to_string=True
    )
    refund_amount_due = serializers.DecimalField(
        max_digits=14,
        decimal_places=4,
        allow_null=True,
        coerce_to_string=True,
        help_text="Computed at receipt from the quantities received; null before.",
    )
    warehouse = serializers.CharField(help_text="Where the goods go back to.")
    # Declared fields move into _declared_fields (serializer metaclass): this does not
    # replace Field.label on instances, as the stubs assume.
    label = ReturnLabelSerializer(  # type: ignore[assignment]
        allow_null=True, help_text="Null until the provider has issued the return label."
    )
    lines = ReturnLineOutputSerializer(many=True)
    created_at = serializers.DateTimeField()
    received_at = serializers.DateTimeField(allow_null=True)


RETURN_EXAMPLE = {
    "lines": [
        {"line_number": 1, "quantity": 1, "reason": "size_fit", "note": "Too small"},
        {"line_number": 2, "quantity": 1, "reason": "damaged"},
    ],
    "note": "Customer called on 3 March",
}


class OrderReturnsApi(PartnerApiView):
    class InputLineSerializer(StrictSerializer):
        class Meta:
            ref_name = "ReturnRequestLine"

        line_number = serializers.IntegerField(min_value=1, max_value=32767)
        quantity = serializers.IntegerField(min_value=1, max_value=1_000_000)
        reason = serializers.ChoiceField(choices=ReturnLine.Reason.choices)
        note = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")

    class InputSerializer(StrictSerializer):
        class Meta:
            ref_name = "ReturnRequest"

        lines = serializers.ListField(child=serializers.DictField(), min_length=1, max_length=500)
        note = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")

    @extend_schema(
        operation_id="orders_returns_list",
        summary="The order's returns",
        parameters=[api_schema.ORDER_NUMBER_PARAMETER],
        responses={
            200: ReturnSerializer(many=True),
            404: api_schema.NOT_FOUND,
            **api_schema.COMMON_READ_RESPONSES,
        },
    )
    def get(self, request, number: str):
        order = order_lookup_for_channel(channel=self.channel, number=number)
        return Response([return_payload(return_request=r) for r in returns_for_order(order=order)])

    @extend_schema(
        operation_id="orders_returns_create",
        summary="Request a return (RMA)",
        description=(
            "Opens a return for shipped quantities of the order's lines, each with a reason "
            "code. The provider's return label is requested at once in the background: "
            "`label` is null in this answer and filled in on `GET` of the same URL (usually "
            "within seconds). Refusals are 422 problem+json with a `code` and an `errors` "
            "entry naming the line: `return_line_unknown`, `return_quantity_unshipped`, "
            "`return_quantity_already_returned` (already returned or on an open return), "
            "`return_window_closed` (the channel's return window, counted from delivery). "
            "Another channel's order is 404."
        ),
        parameters=[api_schema.ORDER_NUMBER_PARAMETER, api_schema.IDEMPOTENCY_KEY_PARAMETER],
        request={
            "application/json": {
                "type": "object",
                "required": ["lines"],
                "properties": {
                    "lines": {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "type": "object",
                            "required": ["line_number", "quantity", "reason"],
                            "properties": {
                                "line_number": {"type": "integer", "minimum": 1},
                                "quantity": {"type": "integer", "minimum": 1},
                                "reason": {"type": "string", "enum": ReturnLine.Reason.values},
                                "note": {"type": "string", "maxLength": 500},
                            },
                        },
                    },
                    "note": {"type": "string", "maxLength": 2000},
                },
            }
        },
        examples=[OpenApiExample("Two lines", value=RETURN_EXAMPLE, request_only=True)],
        responses={
            201: ReturnSerializer,
            404: api_schema.NOT_FOUND,
            409: OpenApiResponse(
                api_schema.ProblemSerializer,
                description="The Idempotency-Key is in flight.",
                examples=[api_schema.IDEMPOTENCY_CONFLICT],
            ),
            422: OpenApiResponse(
                api_schema.ProblemSerializer,
                description="A refused return, invalid fields, or a reused Idempotency-Key.",
                examples=[
                    api_schema.problem_example(
                        "Already returned",
                        422,
                        "return_quantity_already_returned",
                        "Validation failed",
                        "Line 1 (TSHIRT-BLK-M): 2 requested but 1 of 2 shipped unit(s) are "
                        "already returned or on an open return; 1 can still be returned.",
                        errors=[
                            {"field": "lines[0].quantity", "message": "At most 1 unit(s) left."}
                        ],
                    ),
                    api_schema.problem_example(
                        "Window closed",
                        422,
                        "return_window_closed",
                        "Validation failed",
                        "The return window of 30 day(s) for order CS-000123 closed on "
                        "2026-03-01 10:00 UTC.",
                    ),
                    api_schema.IDEMPOTENCY_REUSED,
                ],
            ),
            **api_schema.COMMON_WRITE_RESPONSES,
        },
    )
    @idempotent
    def post(self, request, number: str):
        # Another channel's order is a 404 whatever the body says.
        order = order_lookup_for_channel(channel=self.channel, number=number)
        body = self.InputSerializer(data=request.data)
        if not body.is_valid():
            raise _invalid(body.errors)
        lines = []
        line_errors = {}
        for index, raw in enumerate(body.validated_data["lines"]):
            line = self.InputLineSerializer(data=raw)
            if not line.is_valid():
                line_errors[index] = line.errors
                continue
            lines.append(RequestedLine(**line.validated_data))
        if line_errors:
            raise _invalid({"lines": line_errors})
        return_request = return_request_create(
            order=order,
            lines=lines,
            note=body.validated_data.get("note", ""),
            actor=self.partner.actor,
        )
        return Response(
            return_payload(return_request=return_request), status=status.HTTP_201_CREATED
        )


def _invalid(errors) -> ValidationFailed:
    return ValidationFailed(
        "The request has invalid fields.", code="invalid_return", errors=flatten_errors(errors)
    )
