"""What /api/schema/ promises, point by point, where generated clients and validators read it."""

from __future__ import annotations

import json
import re

import pytest
from django.test import Client

METHODS = ("get", "put", "post", "delete", "patch")


@pytest.fixture(scope="module")
def schema() -> dict:
    response = Client().get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    return json.loads(response.content)


def _operation(schema: dict, operation_id: str) -> dict:
    for item in schema["paths"].values():
        for method, operation in item.items():
            if method in METHODS and operation["operationId"] == operation_id:
                return operation
    raise AssertionError(operation_id)


def _parameter(operation: dict, name: str) -> dict:
    return next(p for p in operation["parameters"] if p["name"] == name)


def _components(schema: dict) -> dict:
    return schema["components"]["schemas"]


def test_return_request_body_is_required(schema):
    assert _operation(schema, "orders_returns_create")["requestBody"]["required"] is True


def test_inventory_sku_list_allows_at_most_100(schema):
    sku = _parameter(_operation(schema, "inventory_list"), "sku")
    assert sku["schema"]["maxItems"] == 100


def test_more_than_100_skus_are_refused(api_client):
    response = api_client.get("/api/v1/inventory/", {"sku": ["SAME"] * 101})
    assert response.status_code == 400


def test_stock_item_component_has_a_name_of_its_own(schema):
    content = _operation(schema, "inventory_list")["responses"]["200"]["content"]
    assert content["application/json"]["schema"]["$ref"] == "#/components/schemas/Inventory"
    by_sku, feed = _components(schema)["Inventory"]["oneOf"]
    assert by_sku["items"]["$ref"] == "#/components/schemas/StockAvailability"
    assert feed["$ref"] == "#/components/schemas/InventoryPage"
    assert "Output" not in _components(schema)


def test_inventory_feed_is_documented(schema):
    operation = _operation(schema, "inventory_list")
    assert _parameter(operation, "sku").get("required", False) is False
    assert _parameter(operation, "page_size")["schema"]["maximum"] == 1000
    assert _parameter(operation, "by_warehouse")["schema"]["enum"] == ["1", "0", "true", "false"]
    assert {"cursor", "updated_after"} <= {p["name"] for p in operation["parameters"]}
    page = _components(schema)["InventoryPage"]
    assert set(page["required"]) == {"next", "next_cursor", "changes_cursor", "results"}
    item = _components(schema)["InventoryFeedItem"]
    assert item["properties"]["warehouses"]["items"]["$ref"].endswith("/WarehouseAvailability")


def test_unit_price_pattern_refuses_negative_prices(schema):
    pattern = _components(schema)["LineInputRequest"]["properties"]["unit_price"]["pattern"]
    assert re.search(pattern, "19.95")
    assert not re.search(pattern, "-19.95")


def test_country_pattern_is_two_capitals(schema):
    country = _components(schema)["AddressInputRequest"]["properties"]["country"]
    assert country["pattern"] == "^[A-Z]{2}$"


def test_problem_documents_window_closed_at(schema):
    field = _components(schema)["Problem"]["properties"]["window_closed_at"]
    assert field["format"] == "date-time"


def test_created_order_declares_location(schema):
    created = _operation(schema, "orders_create")["responses"]["201"]
    assert "Location" in created["headers"]


def test_every_operation_has_a_default_problem_response(schema):
    for item in schema["paths"].values():
        for method, operation in item.items():
            if method not in METHODS:
                continue
            default = operation["responses"]["default"]["content"]["application/problem+json"]
            assert default["schema"]["$ref"] == "#/components/schemas/Problem"


def test_ordering_values_have_names_for_generated_clients(schema):
    ordering = _parameter(_operation(schema, "orders_list"), "ordering")["schema"]
    assert dict(zip(ordering["enum"], ordering["x-enum-varnames"], strict=True)) == {
        "-created_at": "created_at_desc",
        "created_at": "created_at",
        "-updated_at": "updated_at_desc",
        "updated_at": "updated_at",
    }


def test_no_inline_enum_repeats_a_component_enum(schema):
    component_enums = {
        frozenset(c["enum"]): name for name, c in _components(schema).items() if "enum" in c
    }
    repeats = []

    def visit(node, path):
        if isinstance(node, dict):
            if frozenset(node.get("enum", ())) in component_enums:
                repeats.append(path)
            for key, value in node.items():
                visit(value, f"{path}/{key}")
        elif isinstance(node, list):
            for index, value in enumerate(node):
                visit(value, f"{path}/{index}")

    visit(schema["paths"], "paths")
    assert repeats == []
    status = _parameter(_operation(schema, "orders_list"), "status")["schema"]["items"]
    assert status == {"$ref": "#/components/schemas/OrderStatusEnum"}


def test_null_return_label_is_a_nullable_component(schema):
    label = _components(schema)["Return"]["properties"]["label"]
    target = _components(schema)[label["$ref"].rsplit("/", 1)[-1]]
    assert target["nullable"] is True
    assert target["title"] == "ReturnLabel"
    nullable_all_of = [
        f"{name}.{prop_name}"
        for name, component in _components(schema).items()
        for prop_name, prop in (component.get("properties") or {}).items()
        if prop.get("nullable") and "allOf" in prop
    ]
    assert nullable_all_of == []
