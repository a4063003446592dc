"""JSON from outside: nesting bounded before parsing, text Postgres cannot store refused.

Unit tests of core/json_input.py, and the partner API: NUL in any JSON string field,
deep nesting and a deep cursor are 4xx problems, never a 500.
"""

import base64
import copy
import json
import random

import pytest
from rest_framework.test import APIClient

from core.json_input import (
    MAX_JSON_DEPTH,
    JSONTooDeep,
    json_body_problem,
    json_depth_exceeds,
    json_loads_bounded,
    unstorable_json_path,
)
from tests.orders.factories import OrderFactory, OrderLineFactory


def _depth(value) -> int:
    if isinstance(value, list):
        return 1 + max((_depth(item) for item in value), default=0)
    if isinstance(value, dict):
        return 1 + max((_depth(item) for item in value.values()), default=0)
    return 0


def _random_document(rng: random.Random, depth: int):
    if depth == 0 or rng.random() < 0.2:
        return rng.choice([1, "a[{", 'x\\"[', None, "]}"])
    if rng.random() < 0.5:
        return [_random_document(rng, depth - 1) for _ in range(rng.randint(0, 3))]
    return {f"k{i}[": _random_document(rng, depth - 1) for i in range(rng.randint(0, 3))}


def test_depth_check_agrees_with_the_parsed_depth():
    rng = random.Random(16)
    for _ in range(500):
        document = _random_document(rng, rng.randint(1, 40))
        body = json.dumps(document).encode()
        for limit in (1, 5, MAX_JSON_DEPTH):
            assert json_depth_exceeds(body, limit=limit) == (_depth(document) > limit), body


def test_brackets_inside_strings_do_not_count():
    assert not json_depth_exceeds(json.dumps(["[" * 100, "{" * 100]).encode())


@pytest.mark.parametrize("body", [b"[" * 5000, b"[" * 5000 + b"]" * 5000, b'{"a":' * 100])
def test_deep_or_unclosed_nesting_is_refused_without_recursion(body):
    with pytest.raises(JSONTooDeep):
        json_loads_bounded(body)


def test_json_too_deep_is_a_value_error():
    # Every `except ValueError` around a parser already treats it as bad JSON.
    assert issubclass(JSONTooDeep, ValueError)


def test_unstorable_path_names_the_first_bad_string_or_key():
    assert unstorable_json_path({"a": [1, {"b": "x\x00"}], "c": "\x00"}) == "a[1].b"
    assert unstorable_json_path({"ok": ["fine"], "k\ud800": 1}) == "k\ud800"
    assert unstorable_json_path({"emoji": "\U0001f4e6"}) is None


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b'{"a": "\\u0000"}', "at a holds NUL"),
        (b'{"a": ["x", "\\udc00"]}', "at a[1] holds NUL or a lone surrogate"),
        (b'{"a": "x\x00"}', "NUL byte"),
        (b"[" * 40 + b"]" * 40, "nests deeper"),
        (b'{"a": "\\ud83d\\udce6"}', None),  # a surrogate pair is one character
        (b'{"a": "\\\\u0000"}', None),  # an escaped backslash, then text
        (b"not json", None),
    ],
)
def test_json_body_problem(body, problem):
    found = json_body_problem(body)
    if problem is None:
        assert found is None
    else:
        assert problem in found


# --- The partner API ---------------------------------------------------------------------


def _string_paths(value, path=()):
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _string_paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _string_paths(item, (*path, index))
    elif isinstance(value, str):
        yield path


def _with(document, path, text):
    copied = copy.deepcopy(document)
    target = copied
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = text
    return copied


def _problem(response, *statuses):
    assert response.status_code in statuses, (response.status_code, response.content[:300])
    assert response["Content-Type"] == "application/problem+json"
    return response.json()


@pytest.mark.django_db
@pytest.mark.parametrize("text", ["a\x00b", "\ud800"], ids=["nul", "lone-surrogate"])
def test_unstorable_text_in_any_order_field_is_a_4xx_problem(
    api_client, api_world, order_payload, text
):
    api_client.raise_request_exception = False
    for path in _string_paths(order_payload):
        body = json.dumps(_with(order_payload, path, text))
        response = api_client.post("/api/v1/orders/", body, content_type="application/json")
        _problem(response, 400, 422)
    assert not api_client.get("/api/v1/orders/").json()["results"]


@pytest.mark.django_db
def test_unstorable_text_in_cancel_and_return_bodies_is_a_4xx_problem(api_client, api_channel):
    api_client.raise_request_exception = False
    order = OrderFactory(channel=api_channel)
    OrderLineFactory(order=order, line_number=1)
    bodies = {
        f"/api/v1/orders/{order.number}/cancel/": [{"reason": "x\x00"}],
        f"/api/v1/orders/{order.number}/returns/": [
            {"lines": [{"line_number": 1, "quantity": 1, "reason": "other", "note": "x\x00"}]},
            {"lines": [{"line_number": 1, "quantity": 1, "reason": "other\x00"}]},
            {"lines": [{"line_number": 1, "quantity": 1, "reason": "other"}], "note": "\x00"},
            {"lines": [{"line\x00": 1}]},
        ],
    }
    for url, cases in bodies.items():
        for body in cases:
            response = api_client.post(url, body, format="json")
            _problem(response, 400, 404, 409, 422)


@pytest.mark.django_db
def test_api_body_nested_past_the_limit_is_400_before_parsing(api_client, order_payload):
    # Well below Python's recursion limit: refused by the bound, not by a RecursionError.
    order_payload["customer"]["name"] = json.loads(b"[" * 60 + b"]" * 60)
    response = api_client.post("/api/v1/orders/", order_payload, format="json")
    assert f"deeper than {MAX_JSON_DEPTH}" in _problem(response, 400)["detail"]


@pytest.mark.django_db
def test_deeply_nested_cursor_is_a_400_problem(api_client):
    cursor = base64.urlsafe_b64encode(b"[" * 3000 + b"]" * 3000).decode().rstrip("=")
    response = APIClient().get("/api/v1/orders/", {"cursor": cursor})
    assert response.status_code == 401  # no key: refused before the cursor is read
    response = api_client.get("/api/v1/orders/", {"cursor": cursor})
    assert _problem(response, 400)["errors"][0]["field"] == "cursor"
