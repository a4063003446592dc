"""Partner API: batch order intake (`POST /api/v1/orders/batch`)."""

from __future__ import annotations

import json

from django.core.serializers.json import DjangoJSONEncoder
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import serializers

from core.errors import DomainError, ValidationFailed
from core.problems import flatten_errors, problem_body
from core.serializers import OBJECT, StrictSerializer, type_error_message
from orders import error_codes
from orders.models import Order
from orders.selectors import orders_detail_json
from orders.serializers import OrderDetailSerializer
from orders.services.batch_intake import MAX_BATCH, orders_create_batch
from orders.services.intake import OrderInput
from partners import schema as api_schema
from partners.api.orders import ORDER_EXAMPLE, OrderListCreateApi, _invalid
from partners.idempotency import idempotent
from partners.views import PartnerApiView, json_text_response


class OrderBatchResultSerializer(serializers.Serializer):
    """One item's outcome: `order` with status 201, or `problem` with 409 or 422."""

    status = serializers.ChoiceField(
        choices=[201, 409, 422], help_text="What the single create would have answered."
    )
    order = OrderDetailSerializer(required=False, help_text="With status 201: the order.")
    problem = api_schema.ProblemSerializer(
        required=False,
        help_text="With status 409 or 422: why the order was refused, as the single create's "
        "problem body.",
    )


class OrderBatchResponseSerializer(serializers.Serializer):
    results = OrderBatchResultSerializer(many=True, help_text="One per order sent, in order.")


def _problem(error: DomainError) -> dict[str, object]:
    """The problem body the single create's response would carry (core.problems)."""
    extra = dict(error.extra)
    errors = getattr(error, "errors", None)
    if errors:
        extra["errors"] = errors
    return problem_body(
        status=error.status, title=error.title, detail=error.detail, code=error.code, **extra
    )


def _type_errors(index: int, detail: object) -> list[dict[str, str]]:
    """The item's errors that are about JSON types (core.serializers' "Expected ..."),
    named from the top of the body."""
    return [
        {
            "field": f"orders[{index}]" + (f".{error['field']}" if error["field"] else ""),
            "message": error["message"],
        }
        for error in flatten_errors(detail)
        if error["message"].startswith("Expected ")
    ]


def _invalid_batch(errors: list[dict[str, str]]) -> ValidationFailed:
    return ValidationFailed(
        "The request has invalid fields.", code=error_codes.INVALID_ORDER, errors=errors
    )


class OrderBatchApi(PartnerApiView):
    class InputSerializer(StrictSerializer):
        # Each item is validated on its own (OrderListCreateApi.InputSerializer), so that
        # one invalid order is that order's 422, not the whole request's.
        orders = serializers.ListField(
            # Null too: an item of the wrong JSON type is named as such below.
            child=serializers.JSONField(allow_null=True),
            min_length=1,
            max_length=MAX_BATCH,
            help_text=f"1 to {MAX_BATCH} orders, each as `POST /api/v1/orders/` takes it.",
        )

    class SchemaSerializer(serializers.Serializer):
        """The request as documented: the items in the single create's shape."""

        class Meta:
            ref_name = "OrderBatchCreate"

        orders = serializers.ListField(
            child=OrderListCreateApi.InputSerializer(),
            min_length=1,
            max_length=MAX_BATCH,
            help_text=f"1 to {MAX_BATCH} orders, each as `POST /api/v1/orders/` takes it.",
        )

    @extend_schema(
        operation_id="orders_batch_create",
        summary="Create up to 500 orders in one request",
        description=(
            "Each order is handled as `POST /api/v1/orders/` would handle it, independently: "
            "the answer is 200 with `results`, one per order sent and in the same order, "
            'each either `{"status": 201, "order": {...}}` or `{"status": 409|422, '
            '"problem": {...}}` with the problem the single create would have answered. '
            "A refused order writes nothing; the others are created. A duplicate "
            "`external_reference` (in the channel, or earlier in the same batch) is 409 "
            "naming the existing order. Send an `Idempotency-Key`: a retry replays the "
            'same 200 body and creates nothing. A body that is not `{"orders": [...]}` '
            f"with 1 to {MAX_BATCH} items is 422 for the whole request."
        ),
        parameters=[api_schema.IDEMPOTENCY_KEY_PARAMETER],
        request=SchemaSerializer,
        responses={
            200: OpenApiResponse(
                OrderBatchResponseSerializer, description="One result per order, in order."
            ),
            409: OpenApiResponse(
                api_schema.ProblemSerializer,
                description="The Idempotency-Key is in flight.",
                examples=[api_schema.IDEMPOTENCY_CONFLICT],
            ),
            422: OpenApiResponse(
                api_schema.ProblemSerializer,
                description=(
                    f'The body is not `{{"orders": [...]}}` with 1 to {MAX_BATCH} items '
                    "(with an `errors` list), or a reused Idempotency-Key."
                ),
                examples=[
                    api_schema.problem_example(
                        "Too many orders",
                        422,
                        "invalid_order",
                        "Validation failed",
                        "The request has invalid fields.",
                        errors=[
                            {
                                "field": "orders",
                                "message": "Ensure this field has no more than 500 elements.",
                            }
                        ],
                    ),
                    api_schema.IDEMPOTENCY_REUSED,
                ],
            ),
            **api_schema.COMMON_WRITE_RESPONSES,
        },
        examples=[OpenApiExample("Batch", value={"orders": [ORDER_EXAMPLE]}, request_only=True)],
    )
    @idempotent
    def post(self, request):
        body = self.InputSerializer(data=request.data)
        if not body.is_valid():
            raise _invalid(body.errors)
        outcomes: list[Order | DomainError | None] = []
        valid: list[OrderInput] = []
        # One serializer validates every item (what is_valid() runs, without building
        # and deep-copying the nested fields again for each of up to 500 orders).
        validator = OrderListCreateApi.InputSerializer()
        type_errors: list[dict[str, str]] = []
        for index, item in enumerate(body.validated_data["orders"]):
            if not isinstance(item, dict):
                message = type_error_message(validator, OBJECT, item)
                type_errors.append({"field": f"orders[{index}]", "message": message})
                continue
            try:
                valid.append(validator.run_validation(item))
            except serializers.ValidationError as exc:
                outcomes.append(_invalid(exc.detail))
                type_errors += _type_errors(index, exc.detail)
            else:
                outcomes.append(None)  # filled in from the service, in order
        if type_errors:
            # A value of the wrong JSON type is a broken client, not a bad order: the
            # request is refused whole and nothing is written, as for products/batch.
            raise _invalid_batch(type_errors)
        created = iter(
            orders_create_batch(channel=self.channel, items=valid, actor=self.partner.actor)
        )
        done = [next(created) if outcome is None else outcome for outcome in outcomes]
        documents = orders_detail_json(orders=[o for o in done if isinstance(o, Order)])
        results = []
        for outcome in done:
            if isinstance(outcome, Order):
                results.append(f'{{"status": 201, "order": {documents[outcome.pk]}}}')
            else:
                problem = json.dumps(_problem(outcome), cls=DjangoJSONEncoder)
                results.append(f'{{"status": {outcome.status}, "problem": {problem}}}')
        return json_text_response('{"results": [' + ", ".join(results) + "]}")
