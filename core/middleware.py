"""Middleware that keeps every answer under /api/ an RFC 9457 problem (never an HTML page)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeAlias

from csp.middleware import CSPMiddleware as DjangoCSPMiddleware
from csp.utils import build_policy
from django import db
from django.conf import settings
from django.contrib.auth.middleware import (
    AuthenticationMiddleware as DjangoAuthenticationMiddleware,
)
from django.contrib.messages.middleware import MessageMiddleware as DjangoMessageMiddleware
from django.contrib.sessions.middleware import SessionMiddleware as DjangoSessionMiddleware
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.middleware.common import CommonMiddleware as DjangoCommonMiddleware
from django.template.loader import render_to_string

from core.json_input import text_unstorable
from core.problems import PROBLEM_CONTENT_TYPE, problem_body

# What a middleware wraps: the rest of the stack (sync; Django adapts async views).
GetResponse: TypeAlias = Callable[[HttpRequest], HttpResponse]

API_PREFIX = "/api/"
# The partner API proper (not its schema and docs pages): JSON only, API-key auth.
PARTNER_API_PREFIX = "/api/v1/"
# Machine-to-machine endpoints: the partner API and the LSPs' signed webhooks. No
# browser session, cookie or HTML page is involved in either.
MACHINE_PREFIXES = (PARTNER_API_PREFIX, "/webhooks/")
# A JSON answer is never a document to render or frame.
PARTNER_API_CSP = "default-src 'none'; frame-ancestors 'none'"

_TITLES = {
    503: ("Service unavailable", "service_unavailable", "Retry shortly."),
    400: ("Bad request", "bad_request", "The request could not be understood."),
    401: ("Not authenticated", "not_authenticated", "Authentication credentials are missing."),
    403: ("Forbidden", "permission_denied", "You may not do this."),
    404: ("Not found", "not_found", "There is nothing at this URL."),
    405: ("Method not allowed", "method_not_allowed", "This URL does not accept that method."),
    406: ("Not acceptable", "not_acceptable", "The API answers only application/json."),
    413: (
        "Request body too large",
        "payload_too_large",
        "The request body is larger than the limit.",
    ),
    415: ("Unsupported media type", "unsupported_media_type", "Send application/json."),
    500: ("Internal server error", "server_error", "Something went wrong on our side."),
}


def _problem(status: int, detail: str | None = None, **extra: Any) -> HttpResponse:
    title, code, default_detail = _TITLES.get(status, ("Error", "error", "The request failed."))
    body = problem_body(status=status, title=title, detail=detail or default_detail, code=code)
    body.update(extra)
    return HttpResponse(json.dumps(body), status=status, content_type=PROBLEM_CONTENT_TYPE)


# Pages and API answers carry customer data (names, e-mails, addresses): no browser disk cache,
# shared proxy or back button on a shared warehouse PC may keep a copy.
NO_STORE = "no-store, private"


class NoStoreMiddleware:
    """`Cache-Control: no-store, private` on every answer that does not set its own.

    Outermost, so that it also covers the answers other middleware makes (problem+json,
    the 503 of a database outage). Static files keep WhiteNoise's caching, and a view
    that decides its own caching keeps it.
    """

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response
        self.static_prefix = "/" + settings.STATIC_URL.lstrip("/")

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if "Cache-Control" not in response and not request.path.startswith(self.static_prefix):
            response["Cache-Control"] = NO_STORE
        return response


class ApiProblemMiddleware:
    """Turns Django's own error pages under /api/ into problem+json and caps body size.

    DRF views already answer with problems (core.problems); this catches what
    happens outside them: unknown URLs, oversized bodies, unhandled exceptions.
    """

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path.startswith(API_PREFIX):
            return self.get_response(request)
        limit = settings.API_MAX_BODY_BYTES
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return _problem(400, "The Content-Length header is not a number.")
        if length > limit:
            return _problem(413, f"The request body is over the limit of {limit} bytes.")
        response = self.get_response(request)
        if response.status_code >= 400 and not _is_json(response):
            problem = _problem(response.status_code)
            for header in ("Allow", "Retry-After", "WWW-Authenticate"):
                if header in response:
                    problem[header] = response[header]
            response = problem
        if request.path.startswith(PARTNER_API_PREFIX):
            # django-csp does not run here (see MachineRequestBypass): a fixed policy instead.
            response.headers.setdefault("Content-Security-Policy", PARTNER_API_CSP)
        return response


def database_unavailable(request: HttpRequest) -> HttpResponse:
    """503 with Retry-After: a database outage is temporary, never a 500 with a traceback."""
    detail = "The database is unavailable for a moment. Retry shortly."
    if request.path.startswith((API_PREFIX, "/webhooks/")):
        response = _problem(503, detail)
    else:
        response = HttpResponse(
            "<!doctype html><title>Temporarily unavailable</title>"
            f"<h1>Temporarily unavailable</h1><p>{detail}</p>",
            status=503,
        )
    response["Retry-After"] = "5"
    return response


class DatabaseUnavailableMiddleware:
    """Turns a lost database connection (Postgres restarting, failover) into a 503.

    Django closes the broken connection at the end of the request; with
    CONN_HEALTH_CHECKS the next request reconnects by itself.
    """

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            return self.get_response(request)
        except (db.OperationalError, db.InterfaceError):
            return database_unavailable(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, db.OperationalError | db.InterfaceError):
            return database_unavailable(request)
        return None


def _unstorable_field(params: QueryDict) -> str | None:
    """The name of the first parameter whose name or value Postgres cannot store."""
    for name, values in params.lists():
        if text_unstorable(name) or any(text_unstorable(value) for value in values):
            return name
    return None


class UnstorableInputMiddleware:
    """NUL (or a lone surrogate) in a URL or a form never reaches a query.

    Postgres text cannot hold NUL: a lookup or INSERT with one fails with DataError,
    which every view would otherwise have to catch. So, before any view runs:
    - in the path, nothing can be named by it: 404;
    - in the query string or a form field (name or value): 400, problem+json under
      /api/ and /webhooks/, a plain back-office page elsewhere.
    Machine requests (/api/v1/, /webhooks/) carry JSON bodies, which are checked
    where they are parsed (partners/parsers.py, logistics/views.py); form bodies
    are read here only for browser requests. Over-long and out-of-range values are
    the forms' job (bounds matching the columns, errors shown next to the field).
    """

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if text_unstorable(request.path_info):
            raise Http404("No page has a NUL character in its address.")
        query = request.META.get("QUERY_STRING", "")
        # Cheap test first: the decoded parameters are built only when one may hold NUL.
        if "%00" in query or "\x00" in query:
            field = _unstorable_field(request.GET)
            if field is not None:
                return _bad_input(request, f"query parameter {field!r}")
        if request.method == "POST" and not request.path_info.startswith(MACHINE_PREFIXES):
            field = _unstorable_field(request.POST)
            if field is not None:
                return _bad_input(request, f"form field {field!r}")
        return self.get_response(request)


def _bad_input(request: HttpRequest, where: str) -> HttpResponse:
    detail = (
        f"The {where} contains a NUL character, which cannot be stored. Remove it and try again."
    )
    if request.path_info.startswith((API_PREFIX, "/webhooks/")):
        return _problem(400, detail)
    # Rendered without the request: no context processor touches the session or user.
    html = render_to_string("core/bad_input.html", {"detail": detail})
    return HttpResponse(html, status=400)


def _is_json(response: HttpResponse) -> bool:
    content_type = response.get("Content-Type", "")
    return content_type.startswith(("application/json", PROBLEM_CONTENT_TYPE))


class CommonMiddleware(DjangoCommonMiddleware):
    """Django's CommonMiddleware without the trailing-slash redirect under /api/.

    A redirect would turn a partner's POST into a GET (and DEBUG raises a 500
    for it); a wrong API URL is simply a 404 problem.
    """

    def should_redirect_with_slash(self, request: HttpRequest) -> bool:
        if request.path_info.startswith(API_PREFIX):
            return False
        return super().should_redirect_with_slash(request)


if TYPE_CHECKING:
    from collections.abc import Awaitable

    from django.http.response import HttpResponseBase
    from django.utils.deprecation import MiddlewareMixin as _BypassBase
else:
    _BypassBase = object


class MachineRequestBypass(_BypassBase):
    """Mixin: the middleware does nothing for machine requests (MACHINE_PREFIXES).

    Sessions, session users, messages and the HTML Content-Security-Policy serve
    browser pages; a partner's request carries a bearer key, an LSP's webhook a
    signature, and both get JSON: running them cost every such request a share
    of its time for nothing. Subclasses keep the original class in their bases,
    so Django's system checks still recognise them.
    """

    def __call__(self, request: HttpRequest) -> HttpResponseBase | Awaitable[HttpResponseBase]:
        if request.path_info.startswith(MACHINE_PREFIXES):
            return self.get_response(request)
        return super().__call__(request)


class SessionMiddleware(MachineRequestBypass, DjangoSessionMiddleware):
    def process_request(self, request: HttpRequest) -> None:
        # A quoted cookie may carry NUL as an octal escape ("\\000"); Postgres cannot look
        # such a key up (DataError, a 500 on every page). It names no session: none.
        key = request.COOKIES.get(settings.SESSION_COOKIE_NAME)
        if key is not None and text_unstorable(key):
            del request.COOKIES[settings.SESSION_COOKIE_NAME]
        super().process_request(request)


class AuthenticationMiddleware(MachineRequestBypass, DjangoAuthenticationMiddleware):
    # DRF authenticates partner requests by key and sets request.user itself.
    pass


class MessageMiddleware(MachineRequestBypass, DjangoMessageMiddleware):
    pass


class CSPMiddleware(MachineRequestBypass, DjangoCSPMiddleware):
    pass


class CSPFallbackMiddleware:
    """A Content-Security-Policy on every answer, error pages included.

    django-csp (CSPMiddleware above) sets the policy on what passes through it, but some
    answers are made or replaced outside it: ApiProblemMiddleware's problem+json for
    Django's own errors under /api/, the 404/405 pages under /webhooks/ (which skip it,
    see MachineRequestBypass), the database-outage 503 and whatever an outer layer
    short-circuits. Outermost, this fills the gap: JSON gets the partner API's
    "nothing may load" policy, anything else the site's own policy.
    """

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = (
                PARTNER_API_CSP if _is_json(response) else build_policy()
            )
        return response
