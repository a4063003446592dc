"""Strict JSON types for API input serializers.

DRF's fields coerce what they are given: a CharField takes `12` as "12", an
IntegerField takes "3" and 3.0, a DecimalField takes 10.5, a BooleanField takes
"yes" and 1. The partner API's OpenAPI schema promises JSON types, and a client
that sends a number where the schema says string has a bug we should tell it
about, not hide. So every API input serializer derives from StrictSerializer
(nested ones too, though a plain nested serializer is checked by its strict
parent): before DRF's own validation, each value's JSON type must be the one the
schema gives the field, else the field gets "Expected a string, got a number."

The JSON type of a field comes from its class, mapped the way drf-spectacular
maps it (`AutoSchema._map_serializer_field`), so the check and the published
schema agree; tests/core/test_strict_serializers.py holds the two equal.
Fields whose type the schema does not fix (JSONField, relations, custom or
`@extend_schema_field` fields) are left to DRF.

The check costs a set lookup per field on the common path (a value of the type
the parser makes for the field's JSON type): no queries, no copies of the data,
about a microsecond per serializer object (one per order line).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeAlias

from rest_framework import serializers
from rest_framework.fields import empty
from rest_framework.settings import api_settings
from rest_framework.utils import html

AnyField: TypeAlias = "serializers.Field[Any, Any, Any, Any]"
AnySerializer: TypeAlias = "serializers.Serializer[Any]"
if TYPE_CHECKING:
    # The mixin only ever sits in front of a Serializer: type it as one.
    _MixinBase = serializers.Serializer[Any]
    _SerializerBase = serializers.Serializer[Any]
else:
    _MixinBase = object
    _SerializerBase = serializers.Serializer

STRING = "string"
INTEGER = "integer"
NUMBER = "number"
BOOLEAN = "boolean"
OBJECT = "object"
ARRAY = "array"

_ARTICLE = {INTEGER: "an", OBJECT: "an", ARRAY: "an"}
_UNCHECKED = "-"  # cached "the schema leaves the type open" (None: not computed yet)
_CACHE_ATTRIBUTE = "_strict_json_type"
# Field class -> JSON type, for the classes whose type their arguments do not change.
# Fields are copied for every serializer instance, so a cache on the field object
# alone would be rebuilt on every request.
_BY_CLASS: dict[type, str] = {}


def json_type_of_value(value: Any) -> str:
    """The JSON type name of a value as the JSON parser produced it."""
    if value is None:
        return "null"
    if isinstance(value, bool):  # before int: bool is an int in Python
        return BOOLEAN
    if isinstance(value, int):
        return INTEGER
    if isinstance(value, float | Decimal):
        return NUMBER
    if isinstance(value, str):
        return STRING
    if isinstance(value, Mapping):
        return OBJECT
    if isinstance(value, list | tuple):
        return ARRAY
    return type(value).__name__


def _matches(expected: str, value: Any) -> bool:
    if expected == STRING:
        return isinstance(value, str)
    if expected == INTEGER:
        # JSON 3.0 is a number, not an integer (JSON Schema draft 4, which OpenAPI 3.0 uses).
        return isinstance(value, int) and not isinstance(value, bool)
    if expected == NUMBER:
        return isinstance(value, int | float | Decimal) and not isinstance(value, bool)
    if expected == BOOLEAN:
        return isinstance(value, bool)
    if expected == OBJECT:
        return isinstance(value, Mapping)
    return isinstance(value, list | tuple)  # ARRAY


def _choice_type(field: serializers.ChoiceField) -> str | None:
    # drf_spectacular.plumbing.build_choice_field
    choices = list(OrderedDict.fromkeys(field.choices))
    if field.allow_blank and "" not in choices:
        choices.append("")
    if not choices:
        return None
    if all(isinstance(choice, bool) for choice in choices):
        return BOOLEAN
    if all(isinstance(choice, int) for choice in choices):
        return INTEGER
    if all(isinstance(choice, int | float | Decimal) for choice in choices):
        return NUMBER
    if all(isinstance(choice, str) for choice in choices):
        return STRING
    return None


def _field_json_type(field: AnyField) -> str | None:
    # The order of AutoSchema._map_serializer_field: subclasses before their bases.
    if getattr(field, "_spectacular_annotation", None) is not None:
        return None  # the schema says what the annotation says; DRF validates
    if isinstance(
        field,
        serializers.ListSerializer
        | serializers.ManyRelatedField
        | serializers.MultipleChoiceField
        | serializers.ListField,
    ):
        return ARRAY
    if isinstance(field, serializers.BaseSerializer):
        return OBJECT
    if isinstance(
        field, serializers.RelatedField | serializers.FileField | serializers.HiddenField
    ):
        return None
    if isinstance(field, serializers.ChoiceField):
        return _choice_type(field)
    if isinstance(
        field,
        serializers.DateField
        | serializers.DateTimeField
        | serializers.TimeField
        | serializers.DurationField
        | serializers.UUIDField,
    ):
        return STRING
    if isinstance(field, serializers.DecimalField):
        coerce = getattr(field, "coerce_to_string", api_settings.COERCE_DECIMAL_TO_STRING)
        return STRING if coerce else NUMBER
    if isinstance(field, serializers.FloatField):
        return NUMBER
    if isinstance(field, serializers.IntegerField):
        return INTEGER
    if isinstance(field, serializers.BooleanField):
        return BOOLEAN
    if isinstance(field, serializers.JSONField):
        return None
    if isinstance(field, serializers.DictField):
        return OBJECT
    if isinstance(field, serializers.CharField):
        return STRING
    return None


def field_json_type(field: AnyField) -> str | None:
    """The JSON type the schema gives `field`, or None when it leaves the type open."""
    cached = _BY_CLASS.get(type(field)) or field.__dict__.get(_CACHE_ATTRIBUTE)
    if cached is None:
        cached = _field_json_type(field) or _UNCHECKED
        if _decided_by_class(field):
            _BY_CLASS[type(field)] = cached
        else:  # one field object serves every item of a list
            field.__dict__[_CACHE_ATTRIBUTE] = cached
    return None if cached == _UNCHECKED else cached


def _decided_by_class(field: AnyField) -> bool:
    # A ChoiceField's type comes from its choices, a DecimalField's from
    # coerce_to_string, an annotated instance's from its annotation.
    if "_spectacular_annotation" in field.__dict__:
        return False
    if isinstance(field, serializers.MultipleChoiceField):
        return True
    return not isinstance(field, serializers.ChoiceField | serializers.DecimalField)


def type_error_message(field: AnyField, expected: str, value: Any) -> str:
    got = json_type_of_value(value)
    if isinstance(field, serializers.DecimalField) and expected == STRING:
        return f'Expected a decimal string such as "10.00", got {_with_article(got)}.'
    return f"Expected {_with_article(expected)}, got {_with_article(got)}."


def _with_article(name: str) -> str:
    if name == "null":
        return name
    return f"{_ARTICLE.get(name, 'a')} {name}"


def json_type_errors(field: AnyField, value: Any) -> Any:
    """DRF-shaped error detail when `value` is not of the field's JSON type, else None.

    Containers are checked down to their items (`{index: [...]}` for a list,
    `{key: [...]}` for a dict), except nested strict serializers, which check
    their own fields when DRF runs them.
    """
    if value is empty or (value is None and field.allow_null):
        return None
    expected = field_json_type(field)
    if expected is None:
        return None
    if value is None or not _matches(expected, value):
        return [type_error_message(field, expected, value)]
    if expected == ARRAY:
        return _array_items_errors(field, value)
    if expected == OBJECT:
        return _object_errors(field, value)
    return None


def _items_errors(child: AnyField, items: Iterable[tuple[Any, Any]]) -> Any:
    errors: dict[Any, Any] = {}
    for key, item in items:
        error = json_type_errors(child, item)
        if error:
            errors[key] = error
    return errors or None


def _array_items_errors(field: AnyField, value: list[Any] | tuple[Any, ...]) -> Any:
    child = getattr(field, "child", None)
    if child is None:
        child = getattr(field, "child_relation", None)
    if child is None or isinstance(child, StrictTypesMixin):
        return None
    return _items_errors(child, enumerate(value))


def _object_errors(field: AnyField, value: Mapping[str, Any]) -> Any:
    if isinstance(field, StrictTypesMixin):
        return None
    if isinstance(field, serializers.Serializer):
        return _fields_type_errors(field, value) or None
    child = getattr(field, "child", None)  # DictField
    if child is None:
        return None
    return _items_errors(child, value.items())


def _fields_type_errors(serializer: AnySerializer, data: Mapping[str, Any]) -> dict[str, Any]:
    errors: dict[str, Any] = {}
    for name, field, exact_types, deep in _plan(serializer):
        value = data.get(name, empty)
        # The common case costs a lookup: a value of the right type, no items to check.
        if type(value) in exact_types and not deep:
            continue
        error = json_type_errors(field, value)
        if error:
            errors[name] = error
    # DRF counts a CharField's length after trimming whitespace; the schema's maxLength
    # counts the string as sent, so "   " + 500 characters must be refused like 503.
    for name, field in _trimmed_length_plan(serializer):
        value = data.get(name)
        if isinstance(value, str) and len(value) > field.max_length and name not in errors:
            errors[name] = [field.error_messages["max_length"].format(max_length=field.max_length)]
    return errors


def _trimmed_length_plan(serializer: AnySerializer) -> list[tuple[str, Any]]:
    plan = serializer.__dict__.get("_strict_length_plan")
    if plan is None:
        plan = [
            (field.field_name, field)
            for field in serializer._writable_fields
            if isinstance(field, serializers.CharField)
            and field.trim_whitespace
            and field.max_length is not None
        ]
        serializer.__dict__["_strict_length_plan"] = plan
    return plan


# What the JSON parser makes of each JSON type (anything else takes the slow path).
_PARSED_TYPES = {
    STRING: frozenset({str}),
    INTEGER: frozenset({int}),
    NUMBER: frozenset({int, float}),
    BOOLEAN: frozenset({bool}),
    OBJECT: frozenset({dict}),
    ARRAY: frozenset({list}),
}


def _plan(
    serializer: AnySerializer,
) -> list[tuple[str, AnyField, frozenset[type], bool]]:
    """Per serializer object, once: (name, field, parsed types, items to check) per typed field.

    A list's child serializer is one object for all the items, so the plan is
    made once for them all.
    """
    plan = serializer.__dict__.get("_strict_plan")
    if plan is None:
        plan = []
        for field in serializer._writable_fields:
            expected = field_json_type(field)
            if expected is not None:
                deep = expected in (ARRAY, OBJECT) and _has_unchecked_items(field)
                plan.append((field.field_name, field, _PARSED_TYPES[expected], deep))
        serializer.__dict__["_strict_plan"] = plan
    return plan


def _has_unchecked_items(field: AnyField) -> bool:
    """Whether a container's items need this check (a strict serializer checks its own)."""
    if isinstance(field, StrictTypesMixin):
        return False
    if isinstance(field, serializers.Serializer):
        return True
    child = getattr(field, "child", None)
    if child is None:
        child = getattr(field, "child_relation", None)
    if child is None or isinstance(child, StrictTypesMixin):
        return False
    return isinstance(child, serializers.BaseSerializer) or field_json_type(child) is not None


# No docstrings on the two classes below: drf-spectacular would publish them as
# the description of every input serializer built on them.


class StrictTypesMixin(_MixinBase):
    # Refuses values whose JSON type is not the field's, before DRF coerces them.
    # Every wrongly typed field is reported and the other fields are still
    # validated, so one answer lists everything wrong, as DRF's own errors do.

    def run_validation(self, data: Any = empty) -> Any:
        # A body of `null` is a body of the wrong type, like `[]` or `"x"`.
        if data is None and not self.allow_null:
            raise serializers.ValidationError(
                {api_settings.NON_FIELD_ERRORS_KEY: [type_error_message(self, OBJECT, data)]},
                code="invalid",
            )
        return super().run_validation(data)

    def to_internal_value(self, data: Any) -> Any:
        if html.is_html_input(data):  # form data has no types to check
            return super().to_internal_value(data)
        if not isinstance(data, Mapping):
            raise serializers.ValidationError(
                {api_settings.NON_FIELD_ERRORS_KEY: [type_error_message(self, OBJECT, data)]},
                code="invalid",
            )
        errors = _fields_type_errors(self, data)
        if not errors:
            return super().to_internal_value(data)
        rest = {key: value for key, value in data.items() if key not in errors}
        try:
            super().to_internal_value(rest)
        except serializers.ValidationError as exc:
            if isinstance(exc.detail, Mapping):
                # A wrongly typed field is missing from `rest`: its "required" error gives way.
                errors = {**exc.detail, **errors}
        raise serializers.ValidationError(errors, code="invalid")


class StrictSerializer(StrictTypesMixin, _SerializerBase):
    pass  # the base of every API input serializer: JSON types as the schema says
