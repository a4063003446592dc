"""RFC 9457 problem+json responses for everything under /api/."""

from http import HTTPStatus
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404
from rest_framework import exceptions as drf_exceptions
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_default_handler

from core.errors import DomainError

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "https://consign.dev/problems/"


def problem_body(
    *, status: int, title: str, detail: str, code: str, **extra: Any
) -> dict[str, Any]:
    return _problem_body(status, title, detail, code, extra)


def _problem_body(
    status: int, title: str, detail: str, code: str, extra: dict[str, Any]
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + code.replace("_", "-"),
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
    }
    # Extra members never overwrite the standard ones: a service passing `status=`
    # (an order's status, say) keeps it under `<name>_value` instead.
    for key, value in extra.items():
        body[f"{key}_value" if key in body else key] = value
    return body


def _flatten_errors(data: Any, prefix: str = "") -> list[dict[str, str]]:
    """DRF's nested error dicts as a flat list of {field, message}; `lines[2].sku`."""
    out: list[dict[str, str]] = []
    if isinstance(data, dict):
        for key, value in data.items():
            if isinstance(key, int):  # ListField errors are keyed by the item's index
                out.extend(_flatten_errors(value, f"{prefix}[{key}]"))
                continue
            name = "" if key == "non_field_errors" else str(key)
            field = f"{prefix}.{name}" if prefix and name else (prefix or name)
            out.extend(_flatten_errors(value, field))
    elif isinstance(data, list):
        if all(not isinstance(item, dict | list) for item in data):
            out.extend({"field": prefix, "message": str(item)} for item in data)
        else:
            for index, item in enumerate(data):
                if item:
                    out.extend(_flatten_errors(item, f"{prefix}[{index}]"))
    else:
        out.append({"field": prefix, "message": str(data)})
    return out


def _render_as_json(context: dict[str, Any]) -> None:
    """Problems are JSON whatever the view renders on success (a PDF, say):
    DRF renders an error response with the renderer negotiated for the request."""
    request = context.get("request")
    if request is not None and not isinstance(
        getattr(request, "accepted_renderer", None), JSONRenderer
    ):
        request.accepted_renderer = JSONRenderer()
        request.accepted_media_type = "application/json"


def _title(exc: drf_exceptions.APIException, status: int) -> str:
    """DRF's default message, unless it is a template ('Unsupported media type
    "{media_type}" in request.'): the title is the same for every occurrence of
    the problem type (RFC 9457), so then it is the status phrase."""
    default = str(exc.default_detail or "")
    if not default or "{" in default:
        try:
            return HTTPStatus(status).phrase
        except ValueError:
            return "Error"
    return default


def _validation_detail(exc: drf_exceptions.ValidationError, request: Request | None) -> str:
    """Which part of the request the invalid fields are in: DRF's ValidationError
    comes from query parameters (filters, pagination, blank values) in the partner
    API, whose bodies are validated into 422 problems of their own; a field named
    in the query string, or any field of a request that has no body, is one."""
    fields = set(exc.detail) if isinstance(exc.detail, dict) else set()
    if request is not None and (
        request.method in ("GET", "HEAD", "OPTIONS")
        or (fields and fields <= set(request.query_params))
    ):
        return "The query string has invalid parameters."
    return "The request has invalid fields."


def problem_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    _render_as_json(context)
    if isinstance(exc, DomainError):
        extra = dict(exc.extra)
        errors = getattr(exc, "errors", None)
        if errors:
            extra["errors"] = errors
        body = _problem_body(exc.status, exc.title, exc.detail, exc.code, extra)
        return Response(body, status=exc.status, content_type=PROBLEM_CONTENT_TYPE)

    if isinstance(exc, Http404):
        exc = drf_exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = drf_exceptions.PermissionDenied()

    response = drf_default_handler(exc, context)
    if response is None or not isinstance(exc, drf_exceptions.APIException):
        return response  # None: not an API exception, Django's own handling
    status = response.status_code
    if isinstance(exc, drf_exceptions.ValidationError):
        body = problem_body(
            status=status,
            title="Validation failed",
            detail=_validation_detail(exc, context.get("request")),
            code="validation_failed",
            errors=_flatten_errors(exc.detail),
        )
    else:
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        body = problem_body(
            status=status,
            title=_title(exc, status),
            detail=str(detail),
            code=codes if isinstance(codes := exc.get_codes(), str) else str(exc.default_code),
        )
    response.data = body
    response.content_type = PROBLEM_CONTENT_TYPE
    return response


def flatten_errors(data: Any) -> list[dict[str, str]]:
    """Public spelling of the {field, message} flattening, for views raising ValidationFailed."""
    return _flatten_errors(data)
