"""Partner API: orders (create, list, read, cancel, shipments)."""

from __future__ import annotations

from decimal import Decimal

from django.core.validators import RegexValidator
from django.urls import reverse
from django.utils import timezone
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import serializers, status

from core.errors import ValidationFailed
from core.pagination import KeysetPagination
from core.problems import flatten_errors
from core.serializers import StrictSerializer
from orders import error_codes
from orders.filters import OrderFilter, QueryFilterBackend
from orders.iso import currency_places, is_country
from orders.models import Order
from orders.selectors import (
    ORDERS_PAGE_SQL,
    order_detail_json,
    order_detail_json_for_channel,
    order_lookup_for_channel,
    orders_for_channel,
    shipments_json_for_order,
)
from orders.serializers import OrderDetailSerializer, OrderSerializer, ShipmentSerializer
from orders.services.cancellation import order_cancel
from orders.services.edits import order_edit
from orders.services.intake import (
    MAX_LINES,
    MAX_QUANTITY,
    PLACED_AT_EARLIEST,
    PLACED_AT_FUTURE_SLACK,
    order_create,
)
from partners import schema as api_schema
from partners.idempotency import idempotent
from partners.views import PartnerApiView, json_text_response

COUNTRY_MESSAGE = "%(value)r is not an ISO 3166-1 alpha-2 country code."
# Fits Order.total_amount (max_digits=14, decimal_places=4).
MAX_TOTAL = Decimal("9999999999.9999")

ORDER_EXAMPLE = {
    "external_reference": "SHOP-10023",
    "currency": "EUR",
    "customer": {"email": "ada@example.com", "name": "Ada Lovelace", "phone": "+44 20 7946 0958"},
    "shipping_address": {
        "name": "Ada Lovelace",
        "line1": "12 St James's Square",
        "line2": "",
        "city": "London",
        "postcode": "SW1Y 4JH",
        "region": "",
        "country": "GB",
    },
    "lines": [
        {"sku": "TSHIRT-BLK-M", "quantity": 2, "unit_price": "19.95"},
        {"sku": "MUG-WHITE", "quantity": 1, "unit_price": "8.50"},
    ],
    "service_level": "sandbox:standard",
}


def _invalid(errors) -> ValidationFailed:
    return ValidationFailed(
        "The request has invalid fields.",
        code=error_codes.INVALID_ORDER,
        errors=flatten_errors(errors),
    )


class OrderListCreateApi(PartnerApiView):
    class InputSerializer(StrictSerializer):
        class Meta:
            ref_name = "OrderCreate"

        class CustomerInput(StrictSerializer):
            email = serializers.EmailField(max_length=254)
            name = serializers.CharField(max_length=200)
            phone = serializers.CharField(max_length=40, required=False, allow_blank=True)

        class AddressInput(StrictSerializer):
            name = serializers.CharField(max_length=200)
            line1 = serializers.CharField(max_length=200)
            line2 = serializers.CharField(max_length=200, required=False, allow_blank=True)
            city = serializers.CharField(max_length=100)
            postcode = serializers.CharField(max_length=20, required=False, allow_blank=True)
            region = serializers.CharField(max_length=100, required=False, allow_blank=True)
            country = serializers.CharField(
                min_length=2,
                max_length=2,
                # Published as the schema's pattern; validate_country checks the list.
                validators=[RegexValidator(r"^[A-Z]{2}$", message=COUNTRY_MESSAGE)],
                help_text="ISO 3166-1 alpha-2 in capitals, e.g. NL.",
            )

            def validate_country(self, value: str) -> str:
                if not is_country(value):
                    raise serializers.ValidationError(COUNTRY_MESSAGE % {"value": value})
                return value

        class LineInput(StrictSerializer):
            sku = serializers.CharField(max_length=64, help_text="An active product's SKU.")
            quantity = serializers.IntegerField(min_value=1, max_value=MAX_QUANTITY)
            unit_price = serializers.DecimalField(
                max_digits=14,
                decimal_places=4,
                min_value=Decimal("0"),
                coerce_to_string=True,
                help_text="Decimal string with at most the currency's minor-unit places.",
            )

        external_reference = serializers.CharField(
            max_length=100, help_text="Your own order id; unique per channel."
        )
        currency = serializers.CharField(
            min_length=3, max_length=3, help_text="ISO 4217, e.g. EUR."
        )
        customer = CustomerInput()
        shipping_address = AddressInput()
        lines = serializers.ListField(
            child=LineInput(), min_length=1, max_length=MAX_LINES, help_text="1 to 500 lines."
        )
        service_level = serializers.CharField(
            max_length=65,
            required=False,
            allow_null=True,
            help_text="`provider:code` (or `code` when unique), e.g. sandbox:standard.",
        )
        placed_at = serializers.DateTimeField(
            required=False,
            help_text="When the customer ordered; defaults to now. From 2000-01-01T00:00:00Z "
            "to 24 hours from now.",
        )

        def validate_currency(self, value: str) -> str:
            if currency_places(value) is None:
                raise serializers.ValidationError(f"{value!r} is not an ISO 4217 currency code.")
            return value

        def validate_placed_at(self, value):
            latest = timezone.now() + PLACED_AT_FUTURE_SLACK
            if not PLACED_AT_EARLIEST <= value <= latest:
                raise serializers.ValidationError(
                    f"Must be from {PLACED_AT_EARLIEST:%Y-%m-%dT%H:%M:%SZ} to 24 hours from "
                    "now (the time the customer ordered)."
                )
            return value

        def validate(self, attrs):
            places = currency_places(attrs["currency"])
            step = Decimal(1).scaleb(-places)
            errors = {}
            total = Decimal(0)
            for index, line in enumerate(attrs["lines"]):
                price = line["unit_price"]
                if price != price.quantize(step):
                    errors[f"lines[{index}].unit_price"] = [
                        f"{attrs['currency']} has {places} decimal places."
                    ]
                total += price * line["quantity"]
            if total > MAX_TOTAL:
                errors["lines"] = ["The order total is too large."]
            if errors:
                raise serializers.ValidationError(errors)
            return attrs

    pagination_class = KeysetPagination
    filter_backends = [QueryFilterBackend]
    filterset_class = OrderFilter

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation: no request user
            return Order.objects.none()
        return orders_for_channel(channel=self.channel)

    @extend_schema(
        operation_id="orders_list",
        summary="List the channel's orders",
        description=(
            "Newest first by default. Follow `next` (or pass `cursor=next_cursor`) for the "
            "next page; cursors stay valid while new orders arrive. To sync changes, poll "
            "with `ordering=updated_at&updated_after=<last seen updated_at>`."
        ),
        responses={200: OrderSerializer(many=True), **api_schema.COMMON_READ_RESPONSES},
    )
    def get(self, request):
        return self.paginator.page_response(
            self.filter_queryset(self.get_queryset()), request, render_sql=ORDERS_PAGE_SQL
        )

    @extend_schema(
        operation_id="orders_create",
        summary="Create an order",
        description=(
            "Validates the order, creates it with its lines and hands it to allocation in one "
            "transaction. Send an `Idempotency-Key` so that retries after a timeout never "
            "create a second order. A second order with the same `external_reference` in the "
            "channel is refused with 409 and names the existing order."
        ),
        parameters=[api_schema.IDEMPOTENCY_KEY_PARAMETER, api_schema.LOCATION_HEADER],
        request=InputSerializer,
        responses={
            201: OpenApiResponse(OrderDetailSerializer, description="The order as created."),
            409: OpenApiResponse(
                api_schema.ProblemSerializer,
                description="Duplicate external_reference, or the Idempotency-Key is in flight.",
                examples=[
                    api_schema.problem_example(
                        "Duplicate external_reference",
                        409,
                        "duplicate_external_reference",
                        "Conflict",
                        "The channel already has order CS-000123 with external_reference "
                        "'SHOP-10023'.",
                        existing_order="CS-000123",
                    ),
                    api_schema.IDEMPOTENCY_CONFLICT,
                ],
            ),
            422: OpenApiResponse(
                api_schema.ProblemSerializer,
                description="Invalid fields (with an `errors` list), or a reused Idempotency-Key.",
                examples=[
                    api_schema.problem_example(
                        "Validation failed",
                        422,
                        "invalid_order",
                        "Validation failed",
                        "The request has invalid fields.",
                        errors=[
                            {
                                "field": "lines[0].quantity",
                                "message": "Ensure this value is less than or equal to 10000.",
                            }
                        ],
                    ),
                    api_schema.IDEMPOTENCY_REUSED,
                ],
            ),
            **api_schema.COMMON_WRITE_RESPONSES,
        },
        examples=[OpenApiExample("Order", value=ORDER_EXAMPLE, request_only=True)],
    )
    @idempotent
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        if not serializer.is_valid():
            raise _invalid(serializer.errors)
        order = order_create(
            channel=self.channel, actor=self.partner.actor, **serializer.validated_data
        )
        return json_text_response(
            order_detail_json(order=order),
            status=status.HTTP_201_CREATED,
            headers={"Location": reverse("api:order-detail", kwargs={"number": order.number})},
        )


class OrderDetailApi(PartnerApiView):
    class EditSerializer(StrictSerializer):
        """PATCH body: each part given replaces that part of the order (docs/api.md)."""

        class Meta:
            ref_name = "OrderEdit"

        class LineEditInput(OrderListCreateApi.InputSerializer.LineInput):
            class Meta:
                ref_name = "OrderLineEdit"

            sku = serializers.CharField(
                max_length=64,
                help_text="A SKU the order has, or an active product's SKU to add a line.",
            )
            quantity = serializers.IntegerField(min_value=1, max_value=MAX_QUANTITY)
            unit_price = serializers.DecimalField(
                max_digits=14,
                decimal_places=4,
                min_value=Decimal("0"),
                coerce_to_string=True,
                required=False,
                help_text="Required for a SKU the order does not have yet; for a SKU it "
                "has, the line keeps its price unless this is given.",
            )

        customer = OrderListCreateApi.InputSerializer.CustomerInput(
            required=False, help_text="Replaces the customer's contact (all fields)."
        )
        shipping_address = OrderListCreateApi.InputSerializer.AddressInput(
            required=False, help_text="Replaces the shipping address (all fields)."
        )
        lines = serializers.ListField(
            child=LineEditInput(),
            min_length=1,
            max_length=MAX_LINES,
            required=False,
            help_text="The full set of lines the order should have, one per SKU: a SKU "
            "left out is removed (its line stays with `quantity_cancelled` = `quantity`).",
        )

        def validate(self, attrs):
            # A field we do not edit must not look accepted ("status", a typo of "lines").
            unknown = sorted(set(self.initial_data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError(
                    {
                        name: [
                            "Not a field an edit can change (customer, shipping_address, lines)."
                        ]
                        for name in unknown
                    }
                )
            return attrs

    @extend_schema(
        operation_id="orders_retrieve",
        parameters=[api_schema.ORDER_NUMBER_PARAMETER],
        summary="Read one order with lines, allocations, shipments and tracking",
        responses={
            200: OrderDetailSerializer,
            404: api_schema.NOT_FOUND,
            **api_schema.COMMON_READ_RESPONSES,
        },
    )
    def get(self, request, number: str):
        return json_text_response(
            order_detail_json_for_channel(channel=self.channel, number=number)
        )

    @extend_schema(
        operation_id="orders_update",
        summary="Edit an order before dispatch",
        description=(
            "Changes the customer's contact, the shipping address or the lines (add, "
            "remove, change quantity) of an order none of whose shipments is with the "
            "carrier yet. Each part given replaces that part of the order; `lines` is the "
            "full set of lines the order should have. The order's stock is allocated and "
            "its shipments planned again in the same transaction, and the channel gets an "
            "`order.updated` webhook with the changes. A body that changes nothing answers "
            "200 and records nothing. Send an `Idempotency-Key` so that a retry never "
            "applies an edit twice."
        ),
        parameters=[api_schema.ORDER_NUMBER_PARAMETER, api_schema.IDEMPOTENCY_KEY_PARAMETER],
        request=EditSerializer,
        responses={
            200: OpenApiResponse(OrderDetailSerializer, description="The order as edited."),
            404: api_schema.NOT_FOUND,
            409: OpenApiResponse(
                api_schema.ProblemSerializer,
                description="A shipment is with the carrier or the order is past fulfilment, "
                "or the Idempotency-Key is in flight.",
                examples=[
                    api_schema.problem_example(
                        "Not editable",
                        409,
                        "order_not_editable",
                        "Conflict",
                        "Order CS-000123 can no longer be edited: shipment 4711 is with the "
                        "LSP (dispatched).",
                        order_status="in_fulfilment",
                        shipment_ids=[4711],
                    ),
                    api_schema.IDEMPOTENCY_CONFLICT,
                ],
            ),
            422: OpenApiResponse(
                api_schema.ProblemSerializer,
                description="Invalid fields (with an `errors` list), or a reused Idempotency-Key.",
                examples=[
                    api_schema.problem_example(
                        "Validation failed",
                        422,
                        "invalid_order",
                        "Validation failed",
                        "The order edit has invalid fields.",
                        errors=[
                            {
                                "field": "lines[1].unit_price",
                                "message": "Required for a SKU the order does not have yet.",
                            }
                        ],
                    ),
                    api_schema.IDEMPOTENCY_REUSED,
                ],
            ),
            **api_schema.COMMON_WRITE_RESPONSES,
        },
        examples=[
            OpenApiExample(
                "Change a quantity and add a line",
                value={
                    "lines": [
                        {"sku": "TSHIRT-BLK-M", "quantity": 3},
                        {"sku": "MUG-WHITE", "quantity": 1},
                        {"sku": "CAP-RED", "quantity": 1, "unit_price": "12.00"},
                    ]
                },
                request_only=True,
            ),
        ],
    )
    @idempotent
    def patch(self, request, number: str):
        serializer = self.EditSerializer(data=request.data)
        if not serializer.is_valid():
            raise _invalid(serializer.errors)
        order = order_lookup_for_channel(channel=self.channel, number=number)
        edit = order_edit(order=order, changes=serializer.validated_data, actor=self.partner.actor)
        return json_text_response(order_detail_json(order=edit.order))


class OrderCancelApi(PartnerApiView):
    class InputSerializer(StrictSerializer):
        class Meta:
            ref_name = "OrderCancel"

        reason = serializers.CharField(
            max_length=500, required=False, allow_blank=True, help_text="Shown on the timeline."
        )

    @extend_schema(
        operation_id="orders_cancel",
        summary="Cancel an order that has not shipped",
        description=(
            "Releases the order's reserved stock and cancels it. Cancelling a cancelled order "
            "returns it unchanged. Once anything has shipped the answer is 409 with the "
            "order's status."
        ),
        parameters=[api_schema.ORDER_NUMBER_PARAMETER, api_schema.IDEMPOTENCY_KEY_PARAMETER],
        request=InputSerializer,
        responses={
            200: OrderDetailSerializer,
            404: api_schema.NOT_FOUND,
            409: OpenApiResponse(
                api_schema.ProblemSerializer,
                description="Already shipped, or the Idempotency-Key is in flight.",
                examples=[
                    api_schema.problem_example(
                        "Already shipped",
                        409,
                        "order_already_shipped",
                        "Conflict",
                        "Order CS-000123 can no longer be cancelled: it is shipped.",
                        order_status="shipped",
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
        # An empty body is `{}`; `false`, `[]` or `""` are bodies of the wrong type.
        serializer = self.InputSerializer(data=request.data)
        if not serializer.is_valid():
            raise _invalid(serializer.errors)
        order = order_lookup_for_channel(channel=self.channel, number=number)
        order_cancel(
            order=order,
            actor=self.partner.actor,
            reason=serializer.validated_data.get("reason", ""),
        )
        return json_text_response(order_detail_json(order=order))


class OrderShipmentsApi(PartnerApiView):
    @extend_schema(
        operation_id="orders_shipments",
        parameters=[api_schema.ORDER_NUMBER_PARAMETER],
        summary="The order's shipments with tracking",
        responses={
            200: ShipmentSerializer(many=True),
            404: api_schema.NOT_FOUND,
            **api_schema.COMMON_READ_RESPONSES,
        },
    )
    def get(self, request, number: str):
        order = order_lookup_for_channel(channel=self.channel, number=number)
        return json_text_response(shipments_json_for_order(order=order))
