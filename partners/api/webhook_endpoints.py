"""Partner API: webhook endpoints (subscriptions by topic), secret rotation, delivery logs.

POST/GET /api/v1/webhook-endpoints/, GET/PATCH/DELETE /api/v1/webhook-endpoints/{id}/,
POST .../{id}/rotate-secret, GET .../{id}/deliveries/, POST .../deliveries/{id}/retry.
The secret is in the answer to a create and to a rotation only; an Idempotency-Key
replay of either answers the same body again (as Stripe does), so keep keys private.
"""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from core.errors import ValidationFailed
from core.pagination import KeysetPagination
from core.problems import flatten_errors
from core.serializers import StrictSerializer
from logistics import error_codes
from logistics.models import PartnerWebhookDelivery, WebhookEndpoint
from logistics.selectors import (
    webhook_deliveries_for_endpoint,
    webhook_delivery_for_endpoint,
    webhook_endpoint_for_channel,
    webhook_endpoints_for_channel,
)
from logistics.services.webhook_endpoints import (
    EndpointWithSecret,
    webhook_delivery_retry,
    webhook_endpoint_create,
    webhook_endpoint_delete,
    webhook_endpoint_secret_rotate,
    webhook_endpoint_update,
)
from logistics.webhook_topics import Topic
from partners import schema as api_schema
from partners.idempotency import idempotent
from partners.views import PartnerApiView

ENDPOINT_ID = OpenApiParameter(
    "endpoint_id", int, OpenApiParameter.PATH, description="The webhook endpoint's id."
)
DELIVERY_ID = OpenApiParameter(
    "delivery_id", int, OpenApiParameter.PATH, description="The delivery's id."
)

NOT_FOUND = OpenApiResponse(
    api_schema.ProblemSerializer,
    description="No such webhook endpoint (or delivery) in this key's channel.",
    examples=[
        api_schema.problem_example(
            "Unknown endpoint",
            404,
            error_codes.WEBHOOK_ENDPOINT_NOT_FOUND,
            "Not found",
            "No webhook endpoint 42 in this channel.",
        )
    ],
)
INVALID = OpenApiResponse(
    api_schema.ProblemSerializer,
    description="Invalid fields (a URL that is not public https, no or unknown topics), "
    "the endpoint limit, or a reused Idempotency-Key.",
    examples=[
        api_schema.problem_example(
            "Not https",
            422,
            error_codes.INVALID_WEBHOOK_URL,
            "Validation failed",
            "url: Webhook URLs must use https.",
            errors=[{"field": "url", "message": "Webhook URLs must use https."}],
        ),
        api_schema.IDEMPOTENCY_REUSED,
    ],
)
IN_FLIGHT = OpenApiResponse(
    api_schema.ProblemSerializer,
    description="The Idempotency-Key is in flight.",
    examples=[api_schema.IDEMPOTENCY_CONFLICT],
)


class WebhookEndpointSerializer(serializers.Serializer):
    class Meta:
        ref_name = "WebhookEndpoint"

    id = serializers.IntegerField()
    url = serializers.URLField()
    topics = serializers.ListField(child=serializers.ChoiceField(choices=Topic.choices))
    description = serializers.CharField()
    active = serializers.BooleanField(
        help_text="False when you disabled it or Consign did (every delivery failed for "
        "3 days: see `disabled_reason`); PATCH `active: true` to enable it again."
    )
    failing_since = serializers.DateTimeField(
        allow_null=True, help_text="First failed delivery attempt since the last success."
    )
    disabled_at = serializers.DateTimeField(allow_null=True)
    disabled_reason = serializers.CharField()
    previous_secret_expires_at = serializers.DateTimeField(
        allow_null=True,
        help_text="After a rotation: until then deliveries are also signed with the old secret.",
    )
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class WebhookEndpointWithSecretSerializer(WebhookEndpointSerializer):
    class Meta:
        ref_name = "WebhookEndpointWithSecret"

    secret = serializers.CharField(
        help_text="`whsec_` + base64: verify our signatures with it. Shown only in this answer."
    )


class WebhookDeliverySerializer(serializers.Serializer):
    class Meta:
        ref_name = "WebhookDelivery"

    id = serializers.IntegerField()
    webhook_id = serializers.CharField(help_text="The `webhook-id` header of every attempt.")
    topic = serializers.ChoiceField(choices=Topic.choices)
    status = serializers.ChoiceField(choices=PartnerWebhookDelivery.Status.choices)
    attempts = serializers.IntegerField()
    last_status_code = serializers.IntegerField(allow_null=True)
    last_error = serializers.CharField()
    payload = serializers.DictField(help_text="The body sent: `{type, timestamp, data}`.")
    created_at = serializers.DateTimeField()
    last_attempt_at = serializers.DateTimeField(allow_null=True)
    next_attempt_at = serializers.DateTimeField(
        allow_null=True, help_text="When pending: the next attempt."
    )
    delivered_at = serializers.DateTimeField(allow_null=True)


def endpoint_json(endpoint: WebhookEndpoint, *, secret: str | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": endpoint.pk,
        "url": endpoint.url,
        "topics": list(endpoint.topics),
        "description": endpoint.description,
        "active": endpoint.active,
        "failing_since": endpoint.failing_since,
        "disabled_at": endpoint.disabled_at,
        "disabled_reason": endpoint.disabled_reason,
        "previous_secret_expires_at": endpoint.previous_secret_until,
        "created_at": endpoint.created_at,
        "updated_at": endpoint.updated_at,
    }
    if secret is not None:
        data["secret"] = secret
    serializer = WebhookEndpointWithSecretSerializer if secret else WebhookEndpointSerializer
    return serializer(data).data


def delivery_json(delivery: PartnerWebhookDelivery) -> dict[str, Any]:
    pending = delivery.status == PartnerWebhookDelivery.Status.PENDING
    return WebhookDeliverySerializer(
        {
            "id": delivery.pk,
            "webhook_id": delivery.webhook_id,
            "topic": delivery.event,
            "status": delivery.status,
            "attempts": delivery.attempts,
            "last_status_code": delivery.last_status_code,
            "last_error": delivery.last_error,
            "payload": delivery.payload,
            "created_at": delivery.created_at,
            "last_attempt_at": delivery.last_attempt_at,
            "next_attempt_at": delivery.next_attempt_at if pending else None,
            "delivered_at": delivery.delivered_at,
        }
    ).data


def _invalid(errors) -> ValidationFailed:
    return ValidationFailed(
        "The request has invalid fields.",
        code="invalid_webhook_endpoint",
        errors=flatten_errors(errors),
    )


def _created(created: EndpointWithSecret) -> Response:
    endpoint = created.endpoint
    return Response(
        endpoint_json(endpoint, secret=created.secret),
        status=status.HTTP_201_CREATED,
        headers={"Location": reverse("api:webhook-endpoint-detail", args=[endpoint.pk])},
    )


class _KnownFieldsOnly(StrictSerializer):
    """Refuses fields it does not have: a `secret` sent here must not look accepted."""

    def validate(self, attrs):
        unknown = sorted(set(self.initial_data) - set(self.fields))
        if unknown:
            raise serializers.ValidationError(
                {name: ["Unknown field (the secret is generated: rotate it)."] for name in unknown}
                if unknown == ["secret"]
                else {name: ["Unknown field."] for name in unknown}
            )
        return attrs


class _Pages(KeysetPagination):
    orderings = {"-created_at": "created_at", "created_at": "created_at"}


def _page(queryset, request, render) -> Response:
    rows, links = _Pages().page_objects(queryset, request)
    return Response({**links, "results": [render(row) for row in rows]})


class WebhookEndpointListCreateApi(PartnerApiView):
    class InputSerializer(_KnownFieldsOnly):
        class Meta:
            ref_name = "WebhookEndpointCreate"

        url = serializers.URLField(max_length=2000, help_text="A public https URL.")
        topics = serializers.ListField(
            child=serializers.ChoiceField(choices=Topic.choices),
            min_length=1,
            max_length=len(Topic.values),
            help_text="The topics to receive (docs/api.md lists each one's payload).",
        )
        description = serializers.CharField(
            max_length=500, required=False, allow_blank=True, default=""
        )
        active = serializers.BooleanField(required=False, default=True)

    pagination_class = _Pages

    @extend_schema(
        operation_id="webhook_endpoints_list",
        summary="List the channel's webhook endpoints",
        description="Newest first; cursor-paged like every list. Secrets are never shown.",
        responses={
            200: WebhookEndpointSerializer(many=True),
            **api_schema.COMMON_READ_RESPONSES,
        },
    )
    def get(self, request):
        return _page(
            webhook_endpoints_for_channel(channel_id=self.channel.pk), request, endpoint_json
        )

    @extend_schema(
        operation_id="webhook_endpoints_create",
        summary="Subscribe a URL to webhook topics",
        description=(
            "Consign generates the endpoint's signing secret (`whsec_` + base64) and "
            "answers it in `secret` this once; store it, it is never shown again "
            "(rotate it to get a new one). An Idempotency-Key replay answers the same "
            "body, secret included. At most 16 endpoints per channel."
        ),
        parameters=[api_schema.IDEMPOTENCY_KEY_PARAMETER, api_schema.LOCATION_HEADER],
        request=InputSerializer,
        examples=[
            OpenApiExample(
                "Shipping events",
                value={
                    "url": "https://shop.example.com/hooks/consign",
                    "topics": ["order.shipped", "order.delivered", "shipment.tracking_updated"],
                    "description": "Shop backend",
                },
                request_only=True,
            )
        ],
        responses={
            201: WebhookEndpointWithSecretSerializer,
            409: IN_FLIGHT,
            422: INVALID,
            **api_schema.COMMON_WRITE_RESPONSES,
        },
    )
    @idempotent
    def post(self, request):
        body = self.InputSerializer(data=request.data)
        if not body.is_valid():
            raise _invalid(body.errors)
        data = body.validated_data
        return _created(
            webhook_endpoint_create(
                channel_id=self.channel.pk,
                url=data["url"],
                topics=data["topics"],
                description=data["description"],
                active=data["active"],
            )
        )


class WebhookEndpointDetailApi(PartnerApiView):
    class InputSerializer(_KnownFieldsOnly):
        class Meta:
            ref_name = "WebhookEndpointUpdate"

        url = serializers.URLField(max_length=2000, required=False)
        topics = serializers.ListField(
            child=serializers.ChoiceField(choices=Topic.choices),
            min_length=1,
            max_length=len(Topic.values),
            required=False,
        )
        description = serializers.CharField(max_length=500, required=False, allow_blank=True)
        active = serializers.BooleanField(
            required=False,
            help_text="`true` enables a disabled endpoint again (and restarts its failure "
            "clock); `false` stops deliveries to it.",
        )

    @extend_schema(
        operation_id="webhook_endpoints_retrieve",
        summary="A webhook endpoint",
        parameters=[ENDPOINT_ID],
        responses={
            200: WebhookEndpointSerializer,
            404: NOT_FOUND,
            **api_schema.COMMON_READ_RESPONSES,
        },
    )
    def get(self, request, endpoint_id: int):
        endpoint = webhook_endpoint_for_channel(channel_id=self.channel.pk, endpoint_id=endpoint_id)
        return Response(endpoint_json(endpoint))

    @extend_schema(
        operation_id="webhook_endpoints_update",
        summary="Change a webhook endpoint",
        description="Only the fields sent change. The secret changes only by rotation.",
        parameters=[ENDPOINT_ID],
        request=InputSerializer,
        responses={
            200: WebhookEndpointSerializer,
            404: NOT_FOUND,
            422: INVALID,
            **api_schema.COMMON_WRITE_RESPONSES,
        },
    )
    def patch(self, request, endpoint_id: int):
        endpoint = webhook_endpoint_for_channel(channel_id=self.channel.pk, endpoint_id=endpoint_id)
        body = self.InputSerializer(data=request.data)
        if not body.is_valid():
            raise _invalid(body.errors)
        updated = webhook_endpoint_update(endpoint=endpoint, **body.validated_data)
        return Response(endpoint_json(updated))

    @extend_schema(
        operation_id="webhook_endpoints_destroy",
        summary="Delete a webhook endpoint",
        description="Deletes it with its delivery log; pending deliveries are not sent.",
        parameters=[ENDPOINT_ID],
        responses={
            204: OpenApiResponse(description="Deleted."),
            404: NOT_FOUND,
            **api_schema.COMMON_READ_RESPONSES,
        },
    )
    def delete(self, request, endpoint_id: int):
        endpoint = webhook_endpoint_for_channel(channel_id=self.channel.pk, endpoint_id=endpoint_id)
        webhook_endpoint_delete(endpoint=endpoint)
        return Response(status=status.HTTP_204_NO_CONTENT)


class WebhookEndpointRotateSecretApi(PartnerApiView):
    @extend_schema(
        operation_id="webhook_endpoints_rotate_secret",
        summary="Rotate the endpoint's signing secret",
        description=(
            "Answers the endpoint with its new `secret`, shown this once. For 24 hours "
            "every delivery carries two signatures in `webhook-signature` (new, then old, "
            "space-separated), so a receiver still holding the old secret keeps verifying "
            "while you deploy the new one; after that only the new secret signs. Rotating "
            "again within the 24 hours drops the oldest secret at once."
        ),
        parameters=[ENDPOINT_ID, api_schema.IDEMPOTENCY_KEY_PARAMETER],
        request=None,
        responses={
            200: WebhookEndpointWithSecretSerializer,
            404: NOT_FOUND,
            409: IN_FLIGHT,
            422: OpenApiResponse(
                api_schema.ProblemSerializer,
                description="A reused Idempotency-Key.",
                examples=[api_schema.IDEMPOTENCY_REUSED],
            ),
            **api_schema.COMMON_WRITE_RESPONSES,
        },
    )
    @idempotent
    def post(self, request, endpoint_id: int):
        endpoint = webhook_endpoint_for_channel(channel_id=self.channel.pk, endpoint_id=endpoint_id)
        rotated = webhook_endpoint_secret_rotate(endpoint=endpoint)
        return Response(endpoint_json(rotated.endpoint, secret=rotated.secret))


class WebhookDeliveryListApi(PartnerApiView):
    class FilterSerializer(StrictSerializer):
        status = serializers.ChoiceField(
            choices=PartnerWebhookDelivery.Status.choices, required=False
        )
        topic = serializers.ChoiceField(choices=Topic.choices, required=False)

    pagination_class = _Pages

    @extend_schema(
        operation_id="webhook_endpoints_deliveries_list",
        summary="The endpoint's delivery log",
        description=(
            "Every event queued to the endpoint, newest first, with its attempts, the last "
            "HTTP status and error. `pending` is still being tried, `failed` was given up."
        ),
        parameters=[
            ENDPOINT_ID,
            OpenApiParameter(
                "status", str, enum=PartnerWebhookDelivery.Status.values, required=False
            ),
            OpenApiParameter("topic", str, enum=Topic.values, required=False),
        ],
        responses={
            200: WebhookDeliverySerializer(many=True),
            404: NOT_FOUND,
            **api_schema.COMMON_READ_RESPONSES,
        },
    )
    def get(self, request, endpoint_id: int):
        endpoint = webhook_endpoint_for_channel(channel_id=self.channel.pk, endpoint_id=endpoint_id)
        filters = self.FilterSerializer(
            data={
                name: request.query_params[name]
                for name in ("status", "topic")
                if name in request.query_params
            }
        )
        if not filters.is_valid():
            raise serializers.ValidationError(filters.errors)
        return _page(
            webhook_deliveries_for_endpoint(endpoint=endpoint, **filters.validated_data),
            request,
            delivery_json,
        )


class WebhookDeliveryRetryApi(PartnerApiView):
    @extend_schema(
        operation_id="webhook_endpoints_deliveries_retry",
        summary="Send a delivery again",
        description=(
            "Queues the delivery again with the same `webhook-id` and body (fresh timestamp "
            "and signature). Allowed when it was delivered or given up; a given-up delivery "
            "gets one more try. 409 `webhook_delivery_pending` while it is still being "
            "tried, 409 `webhook_endpoint_disabled` while the endpoint is disabled."
        ),
        parameters=[ENDPOINT_ID, DELIVERY_ID, api_schema.IDEMPOTENCY_KEY_PARAMETER],
        request=None,
        responses={
            202: WebhookDeliverySerializer,
            404: NOT_FOUND,
            409: OpenApiResponse(
                api_schema.ProblemSerializer,
                description="Still pending, the endpoint is disabled, or the "
                "Idempotency-Key is in flight.",
                examples=[
                    api_schema.problem_example(
                        "Pending",
                        409,
                        error_codes.WEBHOOK_DELIVERY_PENDING,
                        "Conflict",
                        "This delivery is still being tried; retry it once it is delivered "
                        "or given up.",
                    ),
                    api_schema.IDEMPOTENCY_CONFLICT,
                ],
            ),
            422: OpenApiResponse(
                api_schema.ProblemSerializer,
                description="A reused Idempotency-Key.",
                examples=[api_schema.IDEMPOTENCY_REUSED],
            ),
            **api_schema.COMMON_WRITE_RESPONSES,
        },
    )
    @idempotent
    def post(self, request, endpoint_id: int, delivery_id: int):
        endpoint = webhook_endpoint_for_channel(channel_id=self.channel.pk, endpoint_id=endpoint_id)
        delivery = webhook_delivery_for_endpoint(endpoint=endpoint, delivery_id=delivery_id)
        retried = webhook_delivery_retry(delivery=delivery)
        return Response(delivery_json(retried), status=status.HTTP_202_ACCEPTED)
