"""OpenAPI pieces shared by every partner API operation: problems, headers, auth."""

from __future__ import annotations

import copy

from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse
from rest_framework import serializers

from partners.webhook_schema import add_webhooks


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
    # The serializer metaclass moves declared fields into _declared_fields: the field does
    # not replace Serializer.errors on instances, as the stubs assume.
    errors = FieldErrorSerializer(  # type: ignore[assignment]
        many=True, required=False, help_text="For validation problems: one entry per field."
    )
    existing_order = serializers.CharField(
        required=False, help_text="For duplicate_external_reference: the order already created."
    )
    order_status = serializers.CharField(
        required=False, help_text="For order_already_shipped: the order's status."
    )
    window_closed_at = serializers.DateTimeField(
        required=False, help_text="For return_window_closed: when the return window closed."
    )
    shipment_ids = serializers.ListField(
        child=serializers.IntegerField(),
        required=False,
        help_text="For order_not_editable and rest_with_carrier: the shipments that are "
        "with the carrier.",
    )
    existing_inbound = serializers.CharField(
        required=False, help_text="For inbound_reference_exists: the ASN already announced."
    )
    inbound_status = serializers.CharField(
        required=False, help_text="For inbound_not_cancellable: the ASN's status."
    )


class NonNegativeDecimalFieldExtension(OpenApiSerializerFieldExtension):
    """drf-spectacular's pattern for a decimal string always allows a minus sign; a field
    with `min_value >= 0` (a unit price) refuses one, so its pattern must not offer it."""

    target_class = "rest_framework.fields.DecimalField"
    match_subclasses = True

    def map_serializer_field(self, auto_schema, direction):
        schema = auto_schema._map_serializer_field(self.target, direction, bypass_extensions=True)
        minimum = self.target.min_value
        pattern = schema.get("pattern", "")
        if minimum is not None and minimum >= 0 and pattern.startswith("^-?"):
            schema["pattern"] = "^" + pattern.removeprefix("^-?")
        return schema


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
    "Too many requests for this key, or without a valid key from this address; wait the "
    "seconds in Retry-After.",
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

LOCATION_HEADER = OpenApiParameter(
    name="Location",
    type=str,
    location=OpenApiParameter.HEADER,
    response=[201],
    description="Path of the created resource, e.g. `/api/v1/orders/CS-000123/`. "
    "A replayed response carries it too.",
)

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

DEFAULT_PROBLEM = {
    "description": "Any other error (an unknown URL, 405, 500, 503, ...), as a problem.",
    "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
}


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
    _nullable_components(result)
    add_webhooks(result)
    _shared_enums(result)
    schemas = components.get("schemas", {})
    for path_item in result.get("paths", {}).values():
        for method, operation in path_item.items():
            _require_body_with_required_fields(operation, schemas)
            # Whatever else happens (an unknown URL, 405, 500, 503) is a problem too, so
            # a generated client parses every answer and never needs a raw fallback.
            operation.setdefault("responses", {})["default"] = copy.deepcopy(DEFAULT_PROBLEM)
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
                if (
                    method in {"post", "patch"}
                    and status.startswith(("2", "4"))
                    and status not in {"429"}
                ):
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
    "EditOrder": "orders_update",
}


# Where a created ASN's number can be used next.
_INBOUND_LINKS = {
    "GetInboundShipment": "inbound_shipments_retrieve",
    "CancelInboundShipment": "inbound_shipments_cancel",
}


def _add_links(result: dict) -> None:
    for path_item in result.get("paths", {}).values():
        for operation in path_item.values():
            if operation.get("operationId") != "inbound_shipments_create":
                continue
            response = operation.get("responses", {}).get("201")
            if response is not None:
                response["links"] = {
                    name: {
                        "operationId": target,
                        "parameters": {"number": "$response.body#/number"},
                        "description": "The ASN's number from this response.",
                    }
                    for name, target in _INBOUND_LINKS.items()
                }
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


def _nullable_components(result: dict) -> None:
    """`allOf: [$ref] + nullable` as a `$ref` to a nullable copy of the component.

    In OpenAPI 3.0 `nullable` does not reach into `allOf`, so strict validators
    (openapi-core) refuse a null there: a null return label failed validation.
    `Nullable<Name>` is the component with `nullable: true`, which they accept.
    """
    schemas = result.get("components", {}).get("schemas", {})
    replaced = set()
    for schema in list(schemas.values()):
        for name, prop in (schema.get("properties") or {}).items():
            all_of = prop.get("allOf") or []
            if not (prop.get("nullable") and len(all_of) == 1 and "$ref" in all_of[0]):
                continue
            target = all_of[0]["$ref"].rsplit("/", 1)[-1]
            nullable_name = f"Nullable{target}"
            if nullable_name not in schemas:
                component = copy.deepcopy(schemas[target])
                component["nullable"] = True
                # Generated clients name the class after the title: ReturnLabel, not
                # NullableReturnLabelType0.
                component.setdefault("title", target)
                if prop.get("description"):
                    component["description"] = prop["description"]
                schemas[nullable_name] = component
            schema["properties"][name] = {"$ref": f"#/components/schemas/{nullable_name}"}
            replaced.add(target)
    still_used = _refs(result)
    for target in replaced - still_used:
        del schemas[target]  # only ever used as nullable: one class in clients, not two


def _refs(node) -> set[str]:
    """Names of the components `node` refers to anywhere."""
    if isinstance(node, dict):
        found = {node["$ref"].rsplit("/", 1)[-1]} if isinstance(node.get("$ref"), str) else set()
        for value in node.values():
            found |= _refs(value)
        return found
    if isinstance(node, list):
        return set().union(*(_refs(value) for value in node)) if node else set()
    return set()


def _shared_enums(result: dict) -> None:
    """Inline enums (a query parameter's, a hand-written request body's) that list the
    values of a component enum become a `$ref` to it: one OrderStatusEnum or ReasonEnum
    in generated clients, not one more per operation."""
    schemas = result.get("components", {}).get("schemas", {})
    by_values = {
        frozenset(schema["enum"]): name
        for name, schema in schemas.items()
        if schema.get("type") == "string" and "enum" in schema
    }

    def visit(node):
        children = node.items() if isinstance(node, dict) else enumerate(node)
        for key, value in children:
            if not isinstance(value, dict | list):
                continue
            if (
                isinstance(value, dict)
                and value.get("type") == "string"
                and set(value) <= {"type", "enum"}
                and frozenset(value.get("enum", ())) in by_values
            ):
                node[key] = {"$ref": f"#/components/schemas/{by_values[frozenset(value['enum'])]}"}
            else:
                visit(value)

    visit(result.get("paths", {}))


def _require_body_with_required_fields(operation: dict, schemas: dict) -> None:
    """A body whose schema has required fields cannot be left out: say so (drf-spectacular
    only does for serializers, not for a hand-written body schema)."""
    body = operation.get("requestBody")
    if not body or body.get("required"):
        return
    for media in body.get("content", {}).values():
        schema = media.get("schema") or {}
        if "$ref" in schema:
            schema = schemas.get(schema["$ref"].rsplit("/", 1)[-1], {})
        if schema.get("required"):
            body["required"] = True
