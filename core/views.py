"""Error views that say what went wrong (handler400) instead of a bare "Bad Request"."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.views import defaults

from core.middleware import API_PREFIX, _problem


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    """400, naming the upload limit that was hit (size, file count, field count)."""
    detail = None
    status = 400
    if isinstance(exception, RequestDataTooBig):
        status = 413
        detail = (
            f"The upload is too large: the limit is "
            f"{settings.DATA_UPLOAD_MAX_MEMORY_SIZE // (1024 * 1024)} MiB per request."
        )
    elif isinstance(exception, TooManyFilesSent):
        detail = f"Too many files: at most {settings.DATA_UPLOAD_MAX_NUMBER_FILES} per request."
    elif isinstance(exception, TooManyFieldsSent):
        detail = f"Too many form fields: at most {settings.DATA_UPLOAD_MAX_NUMBER_FIELDS}."
    if detail is None:
        return defaults.bad_request(request, exception)
    if request.path.startswith(API_PREFIX):
        return _problem(status, detail)
    response = HttpResponseBadRequest(
        f"<!doctype html><title>Upload refused</title><h1>Upload refused</h1><p>{detail}</p>"
    )
    response.status_code = status
    return response


def server_error(request: HttpRequest) -> HttpResponse:
    """500, except a lost database connection, which is a temporary 503 with Retry-After."""
    import sys

    from django import db

    from core.middleware import database_unavailable

    exc = sys.exc_info()[1]
    if isinstance(exc, db.OperationalError | db.InterfaceError):
        return database_unavailable(request)
    return defaults.server_error(request)


def pdf_response(content: bytes, filename: str) -> HttpResponse:
    response = HttpResponse(content, content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="{filename}"'
    return response
