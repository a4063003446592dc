"""Types are strict: every field of every JSON body refuses a value of another JSON type.

The operations and their fields come from the live schema at /api/schema/
(nested objects and array items included), so a new operation or field is
covered the day it is published. Each field gets every wrong JSON type in turn
(a number for a string, a string for an integer, a bool, an object, an array,
null where the schema does not allow it) in an otherwise well-formed body, and
the answer must be a 422 problem whose `errors` name the field by its path
(`lines[0].unit_price`).
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Any

import pytest
from django.utils import timezone

from logistics.models import PartnerWebhookDelivery
from tests.logistics.factories import WebhookEndpointFactory
from tests.orders.factories import OrderFactory

# One wrong value of each other JSON type per schema type. Money is a decimal
# *string* by contract, so 10 and 10.5 are as wrong for it as for any string.
WRONG_VALUES: dict[str, list[Any]] = {
    "string": [0, 10.5, True, {}, []],
    "integer": ["3", 3.5, 3.0, False, {}, []],
    "number": ["3.5", True, {}, []],
    "boolean": ["true", 1, 0, {}, []],
    "object": ["x", 1, 1.5, True, []],
    "array": ["x", 1, 1.5, True, {}],
}
# Valid stand-ins for formats the walker fills in where the schema has no example.
FORMAT_VALUES = {
    "date-time": "2026-03-01T10:00:00Z",
    "date": "2026-03-01",
    "email": "ada@example.com",
    "decimal": "1.00",
    "uri": "https://example.com/",
    "uuid": "00000000-0000-4000-8000-000000000000",
}


@dataclass(frozen=True)
class Slot:
    path: tuple[str | int, ...]
    type: str
    nullable: bool

    @property
    def name(self) -> str:
        """The path the way the problem's `errors` spell it: `lines[0].unit_price`."""
        out = ""
        for part in self.path:
            out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
        return out


@dataclass
class Operation:
    method: str
    path: str
    schema: dict
    base_body: Any
    slots: list[Slot]

    @property
    def label(self) -> str:
        return f"{self.method.upper()} {self.path}"


class Walker:
    def __init__(self, spec: dict) -> None:
        self.spec = spec

    def resolve(self, schema: dict) -> dict:
        """`$ref`, a lone `allOf` (a `$ref` with a description) and nullable enums flattened."""
        while "$ref" in schema:
            name = schema["$ref"].removeprefix("#/components/schemas/")
            schema = {**self.spec["components"]["schemas"][name], **_without(schema, "$ref")}
        if len(schema.get("allOf", [])) == 1:
            schema = {**self.resolve(schema["allOf"][0]), **_without(schema, "allOf")}
        for key in ("oneOf", "anyOf"):
            if key in schema:  # drf-spectacular's `ReasonEnum | BlankEnum | NullEnum`
                members = [self.resolve(member) for member in schema[key]]
                typed = [m for m in members if _type_of(m) is not None]
                types = {_type_of(m) for m in typed}
                assert len(types) == 1, f"mixed types {types} in {schema}"
                nullable = any(m.get("enum") == [None] or m.get("nullable") for m in members)
                schema = {**typed[0], **_without(schema, key), "nullable": nullable}
                schema["enum"] = [v for m in members for v in m.get("enum", []) if v is not None]
        if "type" not in schema and _type_of(schema):
            schema = {**schema, "type": _type_of(schema)}
        return schema

    def slots(self, schema: dict, path: tuple = ()) -> list[Slot]:
        schema = self.resolve(schema)
        out = []
        if schema.get("type") == "object":
            for name, child in schema.get("properties", {}).items():
                out.extend(self._slot_and_below(child, (*path, name)))
        elif schema.get("type") == "array" and "items" in schema:
            out.extend(self._slot_and_below(schema["items"], (*path, 0)))
        return out

    def _slot_and_below(self, schema: dict, path: tuple) -> list[Slot]:
        resolved = self.resolve(schema)
        json_type = resolved.get("type")
        assert json_type in WRONG_VALUES, (
            f"{Slot(path, '', False).name}: the schema gives no JSON type ({schema}); "
            "an API input field must have one"
        )
        slot = Slot(path, json_type, bool(resolved.get("nullable")))
        return [slot, *self.slots(resolved, path)]

    def valid(self, schema: dict) -> Any:
        """A value of the right type (and, where cheap, the right shape) for `schema`."""
        schema = self.resolve(schema)
        if "example" in schema:
            return schema["example"]
        if schema.get("enum"):
            return next(value for value in schema["enum"] if value not in ("", None))
        json_type = schema.get("type")
        if json_type == "object":
            return {name: self.valid(child) for name, child in schema.get("properties", {}).items()}
        if json_type == "array":
            return [self.valid(schema["items"])]
        if json_type == "string":
            if schema.get("format") in FORMAT_VALUES:
                return FORMAT_VALUES[schema["format"]]
            return "A" * max(schema.get("minLength", 1), 1)
        if json_type in ("integer", "number"):
            return max(schema.get("minimum", 1), 1)
        if json_type == "boolean":
            return True
        raise AssertionError(f"no valid value for {schema}")


def _type_of(schema: dict) -> str | None:
    if "type" in schema:
        return schema["type"]
    values = [value for value in schema.get("enum", []) if value is not None]
    if values and all(isinstance(value, str) for value in values):
        return "string"
    return None


def _without(schema: dict, key: str) -> dict:
    return {k: v for k, v in schema.items() if k != key}


def _overlay(base: Any, example: Any) -> Any:
    """The schema-built body with the schema's own example laid over it."""
    if isinstance(base, dict) and isinstance(example, dict):
        return {**base, **{k: _overlay(base.get(k), v) for k, v in example.items()}}
    return copy.deepcopy(example)


def _set(body: Any, path: tuple, value: Any) -> Any:
    body = copy.deepcopy(body)
    target = body
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return body


def body_operations(spec: dict) -> list[Operation]:
    walker = Walker(spec)
    operations = []
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            request_body = operation.get("requestBody") if isinstance(operation, dict) else None
            if not request_body:
                continue
            content = request_body["content"]
            assert list(content) == ["application/json"], f"{method} {path}: {list(content)}"
            media = content["application/json"]
            base = walker.valid(media["schema"])
            examples = [example["value"] for example in media.get("examples", {}).values()]
            if examples:
                base = _overlay(base, examples[0])
            slots = walker.slots(media["schema"])
            operations.append(Operation(method, path, media["schema"], base, slots))
    return operations


@pytest.fixture(autouse=True)
def _unthrottled(settings):
    # The walk sends thousands of requests with one key, far above a partner's rate.
    settings.API_THROTTLE_RATE = "10000000/minute"


@pytest.fixture
def spec(api_client):
    response = api_client.get("/api/schema/?format=json")
    assert response.status_code == 200
    return json.loads(response.content)


@pytest.fixture
def url_for(api_channel):
    """The URL of an operation, its path parameters pointing at an order of the key's channel."""
    order = OrderFactory(channel=api_channel)
    # The catalogue's writes need the channel's write access; API-MUG is in api_world.
    api_channel.catalogue_write = True
    api_channel.save(update_fields=["catalogue_write"])
    endpoint = WebhookEndpointFactory(channel=api_channel)
    delivery = PartnerWebhookDelivery.objects.create(
        channel=api_channel,
        endpoint=endpoint,
        event="order.shipped",
        webhook_id="msg_json_types",
        url=endpoint.url,
        payload={"type": "order.shipped", "timestamp": "2026-12-07T00:00:00Z", "data": {}},
        next_attempt_at=timezone.now(),
        status="failed",
    )
    values = {
        "number": order.number,
        "sku": "API-MUG",
        "endpoint_id": str(endpoint.pk),
        "delivery_id": str(delivery.pk),
    }

    def _url(operation: Operation) -> str:
        url = operation.path
        for name, value in values.items():
            url = url.replace("{" + name + "}", value)
        assert "{" not in url, f"{operation.label}: add a value for its path parameter here"
        return url

    return _url


def _send(api_client, operation: Operation, url: str, body: Any):
    return getattr(api_client, operation.method)(
        url, json.dumps(body), content_type="application/json"
    )


def _refusal_naming(response, field: str) -> str | None:
    """None when `response` is the expected 422 problem naming `field`, else what is wrong."""
    if response.status_code != 422:
        return f"status {response.status_code}: {response.content[:200]!r}"
    if response["Content-Type"] != "application/problem+json":
        return f"Content-Type {response['Content-Type']}"
    problem = response.json()
    missing = {"type", "title", "status", "detail", "errors"} - set(problem)
    if missing or problem["status"] != 422:
        return f"not a validation problem: {problem}"
    messages = [error["message"] for error in problem["errors"] if error["field"] == field]
    if not messages:
        return f"errors do not name {field!r}: {problem['errors']}"
    if not any(message.startswith("Expected ") for message in messages):
        return f"{field!r} refused, but not for its type: {messages}"
    return None


def test_schema_walk_finds_every_body_field(spec):
    """The walker sees the operations and nested fields we know of (so it cannot pass empty)."""
    found = {op.label: {slot.name for slot in op.slots} for op in body_operations(spec)}
    assert {
        "customer",
        "customer.email",
        "lines",
        "lines[0]",
        "lines[0].quantity",
        "lines[0].unit_price",
        "service_level",
    } <= found["POST /api/v1/orders/"]
    assert found["POST /api/v1/orders/{number}/cancel/"] == {"reason"}
    assert {"lines[0].line_number", "lines[0].reason", "note"} <= found[
        "POST /api/v1/orders/{number}/returns/"
    ]


def test_the_bodies_the_walk_builds_have_no_type_errors(api_client, api_world, spec, url_for):
    """The baseline each wrong value is put into is itself well-typed."""
    for operation in body_operations(spec):
        response = _send(api_client, operation, url_for(operation), operation.base_body)
        if response.status_code == 422:
            errors = response.json().get("errors", [])
            typed = [e for e in errors if e["message"].startswith("Expected ")]
            assert not typed, (operation.label, operation.base_body, typed)


def test_every_body_field_refuses_every_wrong_json_type(api_client, api_world, spec, url_for):
    failures = []
    sent = 0
    for operation in body_operations(spec):
        url = url_for(operation)
        for slot in operation.slots:
            wrong = list(WRONG_VALUES[slot.type])
            if not slot.nullable:
                wrong.append(None)
            for value in wrong:
                body = _set(operation.base_body, slot.path, value)
                problem = _refusal_naming(_send(api_client, operation, url, body), slot.name)
                sent += 1
                if problem:
                    failures.append(f"{operation.label} {slot.name}={value!r}: {problem}")
    assert not failures, "\n".join(failures)
    assert sent > 100


@pytest.mark.parametrize("body", [[], ["x"], "x", 0, 1.5, True, False, None])
def test_a_body_of_another_json_type_than_object_is_refused(api_client, spec, url_for, body):
    for operation in body_operations(spec):
        response = _send(api_client, operation, url_for(operation), body)
        assert _refusal_naming(response, "") is None, (operation.label, response.content)
