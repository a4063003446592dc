"""Logging in and the error pages of the back office."""

from __future__ import annotations

from django.conf import settings
from django.contrib import admin
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.http import HttpResponseRedirect
from django.shortcuts import resolve_url
from django.utils.http import url_has_allowed_host_and_scheme
from django.views import defaults

from backoffice.views.common import page
from core.middleware import API_PREFIX, MACHINE_PREFIXES


def login(request):
    """The admin's login form, but without a `next` it lands on the role's own start screen.

    The admin's own view sends everyone to the admin index; `/` (backoffice.views.home)
    knows where each role starts its day. The form's page loads app.js, which sets the
    time-zone cookie before the password is even typed, so the first page after login
    already shows the person's local times.
    """
    target = request.POST.get(REDIRECT_FIELD_NAME) or request.GET.get(REDIRECT_FIELD_NAME)
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target = None
    if request.method == "GET" and admin.site.has_permission(request):
        # Already logged in: where they were going, else their start screen (not the admin index).
        return HttpResponseRedirect(target or resolve_url(settings.LOGIN_REDIRECT_URL))
    extra = {} if target else {REDIRECT_FIELD_NAME: resolve_url(settings.LOGIN_REDIRECT_URL)}
    return admin.site.login(request, extra_context=extra)


def _is_machine(request) -> bool:
    return request.path_info.startswith((*MACHINE_PREFIXES, API_PREFIX))


def permission_denied(request, exception=None):
    """403 inside the back-office frame: the navigation stays, so the way on is one click."""
    if _is_machine(request):
        return defaults.permission_denied(request, exception)
    return page(request, "403.html", {"title": "Not allowed"}, status=403)


def page_not_found(request, exception=None):
    """404 inside the back-office frame, with the desk search to find what was meant."""
    if _is_machine(request):
        return defaults.page_not_found(request, exception)
    return page(
        request,
        "backoffice/not_found.html",
        {"title": "Page not found", "what": "There is no page at this address."},
        status=404,
    )
