"""core.serializers: JSON types as the published schema gives them, checked before DRF coerces."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import path
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.views import APIView

from core.problems import flatten_errors
from core.serializers import StrictSerializer, field_json_type


class Plain(serializers.Serializer):  # nested without the mixin: its strict parent checks it
    code = serializers.CharField()


class Item(StrictSerializer):
    quantity = serializers.IntegerField()


class AllFields(StrictSerializer):
    char = serializers.CharField(required=False)
    email = serializers.EmailField(required=False)
    regex = serializers.RegexField(r"^a+$", required=False)
    slug = serializers.SlugField(required=False)
    url = serializers.URLField(required=False)
    uuid = serializers.UUIDField(required=False)
    ip = serializers.IPAddressField(required=False)
    integer = serializers.IntegerField(required=False)
    float = serializers.FloatField(required=False)
    money = serializers.DecimalField(max_digits=8, decimal_places=2, required=False)
    decimal_number = serializers.DecimalField(
        max_digits=8, decimal_places=2, coerce_to_string=False, required=False
    )
    boolean = serializers.BooleanField(required=False)
    date = serializers.DateField(required=False)
    datetime = serializers.DateTimeField(required=False)
    time = serializers.TimeField(required=False)
    duration = serializers.DurationField(required=False)
    choice = serializers.ChoiceField(choices=["a", "b"], required=False)
    int_choice = serializers.ChoiceField(choices=[1, 2], required=False)
    multiple = serializers.MultipleChoiceField(choices=["a", "b"], required=False)
    numbers = serializers.ListField(child=serializers.IntegerField(), required=False)
    labels = serializers.DictField(child=serializers.CharField(), required=False)
    anything = serializers.JSONField(required=False)
    plain = Plain(required=False)
    items = Item(many=True, required=False)
    plains = serializers.ListField(child=Plain(), required=False)
    nullable = serializers.CharField(allow_null=True, required=False)


def _errors(serializer_class, data) -> dict[str, list[str]]:
    serializer = serializer_class(data=data)
    assert not serializer.is_valid()
    out: dict[str, list[str]] = {}
    for error in flatten_errors(serializer.errors):
        out.setdefault(error["field"], []).append(error["message"])
    return out


def _schema_types() -> dict[str, str | None]:
    """The JSON type drf-spectacular publishes for each field of AllFields in a request."""

    class View(APIView):
        @extend_schema(request=AllFields, responses={204: None})
        def post(self, request):
            raise NotImplementedError

    spec = SchemaGenerator(patterns=[path("x/", View.as_view())]).get_schema(public=True)
    schemas = spec["components"]["schemas"]
    types = {}
    for name, prop in schemas["AllFieldsRequest"]["properties"].items():
        while "$ref" in prop or "allOf" in prop:
            ref = prop["$ref"] if "$ref" in prop else prop["allOf"][0]["$ref"]
            prop = schemas[ref.rsplit("/", 1)[1]]
        types[name] = prop.get("type")
    return types


def test_each_field_is_checked_against_the_type_the_schema_publishes():
    fields = AllFields().fields
    published = _schema_types()
    assert set(published) == set(fields)
    ours = {name: field_json_type(field) for name, field in fields.items()}
    assert ours == published
    assert ours["money"] == "string"  # money is a decimal string by contract
    assert ours["anything"] is None  # the schema leaves a JSONField open


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("char", 12),
        ("char", 1.5),
        ("char", True),
        ("email", ["a@example.com"]),
        ("integer", "3"),
        ("integer", 3.0),
        ("integer", True),
        ("float", "1.5"),
        ("float", False),
        ("money", 10.5),
        ("money", 10),
        ("decimal_number", "10.50"),
        ("boolean", "true"),
        ("boolean", 1),
        ("datetime", 1767225600),
        ("choice", 1),
        ("int_choice", "1"),
        ("multiple", "a"),
        ("numbers", "1,2"),
        ("labels", ["a"]),
        ("plain", "x"),
        ("items", {"quantity": 1}),
        ("char", None),
        ("plain", None),
    ],
)
def test_a_value_of_another_json_type_is_refused_naming_the_field(field, value):
    errors = _errors(AllFields, {field: value})
    assert list(errors) == [field]
    assert errors[field][0].startswith("Expected ")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("char", "12"),
        ("integer", 3),
        ("integer", -3),
        ("float", 3),
        ("float", 1.5),
        ("money", "10.50"),
        ("decimal_number", 10.5),
        ("decimal_number", 10),
        ("boolean", False),
        ("datetime", "2026-03-01T10:00:00Z"),
        ("choice", "a"),
        ("int_choice", 2),
        ("multiple", ["a"]),
        ("numbers", [1, 2]),
        ("labels", {"k": "v"}),
        ("anything", [1, "x", None]),
        ("plain", {"code": "x"}),
        ("items", [{"quantity": 1}]),
        ("nullable", None),
    ],
)
def test_a_value_of_the_right_json_type_is_accepted(field, value):
    serializer = AllFields(data={field: value})
    assert serializer.is_valid(), serializer.errors


def test_the_message_says_what_was_expected_and_what_came():
    assert _errors(AllFields, {"char": 12}) == {"char": ["Expected a string, got an integer."]}
    assert _errors(AllFields, {"integer": "3"}) == {
        "integer": ["Expected an integer, got a string."]
    }
    assert _errors(AllFields, {"money": 10.5}) == {
        "money": ['Expected a decimal string such as "10.00", got a number.']
    }
    assert _errors(AllFields, {"plain": None}) == {"plain": ["Expected an object, got null."]}


def test_items_and_nested_fields_are_named_by_their_path():
    errors = _errors(
        AllFields,
        {
            "numbers": [1, "2"],
            "labels": {"ok": "v", "bad": 3},
            "plain": {"code": 5},
            "items": [{"quantity": 1}, {"quantity": "2"}, 7],
        },
    )
    assert set(errors) == {
        "numbers[1]",
        "labels.bad",
        "plain.code",
        "items[1].quantity",
        "items[2]",
    }


def test_other_invalid_fields_are_reported_in_the_same_answer():
    class Order(StrictSerializer):
        reference = serializers.CharField()
        currency = serializers.CharField(max_length=3)
        quantity = serializers.IntegerField()

    errors = _errors(Order, {"reference": 10, "currency": "EURO"})
    assert errors == {
        "reference": ["Expected a string, got an integer."],
        "currency": ["Ensure this field has no more than 3 characters."],
        "quantity": ["This field is required."],
    }


def test_max_length_counts_the_string_as_sent_not_trimmed():
    # The schema's maxLength is about the JSON string; DRF alone would trim first.
    class Cancel(StrictSerializer):
        reason = serializers.CharField(max_length=5)

    assert _errors(Cancel, {"reason": "\x1d   abcde"}) == {
        "reason": ["Ensure this field has no more than 5 characters."]
    }
    assert Cancel(data={"reason": " abc "}).is_valid()


@pytest.mark.parametrize("body", [[], "x", 1, 1.5, True, None])
def test_a_body_that_is_not_an_object_is_refused_as_a_whole(body):
    errors = _errors(Item, body)
    assert list(errors) == [""]
    assert errors[""][0].startswith("Expected an object, got ")


def test_validated_values_are_what_drf_makes_of_them():
    serializer = AllFields(
        data={"money": "10.50", "integer": 3, "datetime": "2026-03-01T10:00:00Z"}
    )
    assert serializer.is_valid(), serializer.errors
    assert serializer.validated_data["money"] == Decimal("10.50")
    assert serializer.validated_data["integer"] == 3
