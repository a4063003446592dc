"""OpenAPI pieces shared by every partner API operation: problems, headers, auth."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse
from rest_framework import serializers


class FieldErrorSerializer(serializers.Serializer):
    field = serializers.CharField(help_text="Path of the field, e.g. `lines[2].quantity`.")
    message = serializers.CharField()


class ProblemSerializer(serializers.Serializer):
    """RFC 9457 problem details."""

    type = serializers.URLField(help_text="URI identifying the problem type.")
    title = serializers.CharField()
    status = serializers.IntegerField()
    detail = serializers.CharField()
    code = serializers.CharField(help_text="Stable machine-readable error code.")
    errors = FieldErrorSerializer(
        many=True, required=False, help_text="For validation problems: one entry per field."
    )
    existing_order = serializers.CharField(
        required=False, help_text="For duplicate_external_reference: the order already created."
    )
    order_status = serializers.CharField(
        required=False, help_text="For order_already_shipped: the order's status."
    )


def _problem(description: str, *examples: OpenApiExample) -> OpenApiResponse:
    return OpenApiResponse(
        response=ProblemSerializer, description=description, examples=list(examples)
    )


def problem_example(name: str, status: int, code: str, title: str, detail: str, **extra):
    return OpenApiExample(
        name,
        value={
            "type": f"https://consign.dev/problems/{code.replace('_', '-')}",
            "title": title,
            "status": status,
            "detail": detail,
            "code": code,
            **extra,
        },
        response_only=True,
        status_codes=[str(status)],
    )


UNAUTHORIZED = _problem(
    "Missing, invalid or revoked API key.",
    problem_example(
        "Invalid key",
        401,
        "authentication_failed",
        "Incorrect authentication credentials.",
        "Invalid or revoked API key.",
    ),
)
NOT_FOUND = _problem(
    "No such order in this key's channel.",
    problem_example(
        "Unknown order", 404, "order_not_found", "Not found", "No order CS-000999 in this channel."
    ),
)
THROTTLED = _problem(
    "Too many requests for this key; wait the seconds in Retry-After.",
    problem_example(
        "Throttled",
        429,
        "throttled",
        "Request was throttled.",
        "Request was throttled. Expected available in 12 seconds.",
    ),
)
BAD_REQUEST = _problem(
    "Malformed JSON, a bad query parameter or a bad Idempotency-Key header.",
    problem_example("Malformed JSON", 400, "parse_error", "Malformed request.", "JSON parse error"),
)
PAYLOAD_TOO_LARGE = _problem("The body is larger than 1 MiB.")
UNSUPPORTED_MEDIA_TYPE = _problem("The body is not application/json.")
NOT_ACCEPTABLE = _problem("The client does not accept application/json.")
IDEMPOTENCY_CONFLICT = problem_example(
    "Idempotency-Key in flight",
    409,
    "idempotency_key_in_use",
    "Conflict",
    "A request with this Idempotency-Key is still being processed. Retry after it completes.",
)
IDEMPOTENCY_REUSED = problem_example(
    "Idempotency-Key reused",
    422,
    "idempotency_key_reused",
    "Idempotency-Key reused with a different request",
    "This Idempotency-Key was already used with a different request.",
)

COMMON_READ_RESPONSES = {
    400: BAD_REQUEST,
    401: UNAUTHORIZED,
    406: NOT_ACCEPTABLE,
    429: THROTTLED,
}
COMMON_WRITE_RESPONSES = {
    **COMMON_READ_RESPONSES,
    413: PAYLOAD_TOO_LARGE,
    415: UNSUPPORTED_MEDIA_TYPE,
}

IDEMPOTENCY_KEY_PARAMETER = OpenApiParameter(
    name="Idempotency-Key",
    type={"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"},
    location=OpenApiParameter.HEADER,
    required=False,
    description=(
        "Any unique string up to 255 printable ASCII characters (a UUID is a good choice). "
        "Retrying with the same key and body replays the first response with "
        "`Idempotent-Replayed: true` and creates nothing; the same key with a different body "
        "is 422; while the first request is still running, 409. Keys are kept at least 24 hours."
    ),
)


NO_NUL = "^[^\\u0000]*$"


def postprocess_schema(result, generator, request, public):
    """Document the headers drf-spectacular cannot express per response: replay and Retry-After."""
    components = result.setdefault("components", {})
    headers = components.setdefault("headers", {})
    headers["IdempotentReplayed"] = {
        "description": "`true` when this is the stored response of an earlier request "
        "with the same Idempotency-Key.",
        "schema": {"type": "string", "enum": ["true"]},
    }
    headers["RetryAfter"] = {
        "description": "Seconds to wait before the next request.",
        "schema": {"type": "integer", "minimum": 0},
    }
    _add_links(result)
    for path_item in result.get("paths", {}).values():
        for method, operation in path_item.items():
            for parameter in operation.get("parameters", []):
                # Blank query values are refused (400), so the schema says so.
                schema = parameter.get("schema", {})
                if parameter.get("in") == "query" and schema.get("type") == "string":
                    schema.setdefault("minLength", 1)
                # A NUL cannot be stored and is refused (400, core.middleware
                # UnstorableInputMiddleware), so the schema says so.
                for value_schema in (schema, schema.get("items") or {}):
                    if value_schema.get("type") == "string" and "pattern" not in value_schema:
                        value_schema["pattern"] = NO_NUL
            for status, response in operation.get("responses", {}).items():
                if status == "429":
                    response.setdefault("headers", {})["Retry-After"] = {
                        "$ref": "#/components/headers/RetryAfter"
                    }
                if method == "post" and status.startswith(("2", "4")) and status not in {"429"}:
                    response.setdefault("headers", {})["Idempotent-Replayed"] = {
                        "$ref": "#/components/headers/IdempotentReplayed"
                    }
                # Problems are answered as application/problem+json.
                content = response.get("content")
                if status[0] in "45" and content and "application/json" in content:
                    content["application/problem+json"] = content.pop("application/json")
    return result


ORDER_NUMBER_PARAMETER = OpenApiParameter(
    name="number",
    type={"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9-]{0,19}$", "maxLength": 20},
    location=OpenApiParameter.PATH,
    description="The order number Consign gave, e.g. CS-000123.",
    examples=[OpenApiExample("Order number", value="CS-000001")],
)


# OpenAPI links: where a created order's number can be used next (clients and
# schemathesis' stateful phase follow them).
_ORDER_LINKS = {
    "GetOrder": "orders_retrieve",
    "GetOrderShipments": "orders_shipments",
    "CancelOrder": "orders_cancel",
}


def _add_links(result: dict) -> None:
    for path_item in result.get("paths", {}).values():
        for operation in path_item.values():
            if operation.get("operationId") not in {"orders_create", "orders_cancel"}:
                continue
            status = "201" if operation["operationId"] == "orders_create" else "200"
            response = operation.get("responses", {}).get(status)
            if response is None:
                continue
            response["links"] = {
                name: {
                    "operationId": target,
                    "parameters": {"number": "$response.body#/number"},
                    "description": "The order's number from this response.",
                }
                for name, target in _ORDER_LINKS.items()
            }
