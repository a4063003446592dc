"""Signal receivers and middleware that feed the security log (core/security_log.py)."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.contrib.auth import signals as auth_signals
from django.contrib.auth.base_user import AbstractBaseUser
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django.shortcuts import resolve_url

from core.login_throttle import SCOPE_ATTRIBUTE
from core.middleware import GetResponse
from core.security_log import security_event


@receiver(auth_signals.user_logged_in)
def _logged_in(sender: object, request: HttpRequest, user: AbstractBaseUser, **kwargs: Any) -> None:
    security_event("login.succeeded", request=request, user=user.get_username())


@receiver(auth_signals.user_logged_out)
def _logged_out(
    sender: object, request: HttpRequest, user: AbstractBaseUser | None, **kwargs: Any
) -> None:
    security_event("logout", request=request, user=user.get_username() if user else "")


@receiver(auth_signals.user_login_failed)
def _login_failed(
    sender: object,
    credentials: dict[str, Any],
    request: HttpRequest | None = None,
    **kwargs: Any,
) -> None:
    # Django has already masked the password in `credentials`; only the username is kept.
    username = str(credentials.get("username", ""))[:150]
    security_event("login.failed", request=request, level=logging.WARNING, user=username)


def _connect_axes() -> None:
    from axes.signals import user_locked_out

    @receiver(user_locked_out, weak=False)
    def _locked_out(
        sender: object, request: HttpRequest, username: str | None, ip_address: str, **kwargs: Any
    ) -> None:
        security_event(
            "login.locked_out",
            request=request,
            level=logging.WARNING,
            user=str(username or "")[:150],
            cooloff_seconds=int(settings.AXES_COOLOFF_TIME.total_seconds()),
            scope=_lockout_scope(request),
        )


_connect_axes()


class SecurityAuditMiddleware:
    """Logs every access denial: 401/403, and an anonymous bounce to the login page.

    A 404 answered to an authenticated caller on an object URL is logged as
    `access.not_found`: another channel's object is deliberately a 404, so this is
    where probing for other tenants' ids shows up.
    """

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response
        self.login_path = ""

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        status = response.status_code
        if status in (401, 403):
            security_event("access.denied", request=request, level=logging.WARNING, status=status)
        elif status == 404 and _authenticated(request):
            security_event("access.not_found", request=request, status=status)
        elif status == 302 and not _authenticated(request):
            location = response.get("Location", "")
            if not self.login_path:
                self.login_path = resolve_url(settings.LOGIN_URL)
            if location.startswith(self.login_path) and request.path != self.login_path:
                security_event("access.login_required", request=request, status=status)
        return response


def _authenticated(request: HttpRequest) -> bool:
    if getattr(request, "auth", None) is not None:
        return True
    user = getattr(request, "user", None)
    return bool(user is not None and user.is_authenticated)


def _lockout_scope(request: HttpRequest) -> str:
    """`username` when the ceiling across IPs locked it, else `username_ip` (axes' own)."""
    return getattr(request, SCOPE_ATTRIBUTE, None) or "username_ip"


def lockout_response(
    request: HttpRequest,
    original_response: HttpResponse | None = None,
    credentials: dict[str, Any] | None = None,
) -> HttpResponse:
    """429 that states the cool-off, for the admin login (and any other login form)."""
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    if _lockout_scope(request) == "username":
        what = (
            f"locked from every network for {minutes} minutes after "
            f"{settings.LOGIN_USERNAME_FAILURE_LIMIT} failed attempts from several networks"
        )
    else:
        what = (
            f"locked on this network for {minutes} minutes after "
            f"{settings.AXES_FAILURE_LIMIT} failed attempts"
        )
    response = HttpResponse(
        "<!doctype html><title>Too many failed logins</title>"
        "<h1>Too many failed logins</h1>"
        f"<p>This account is {what}. Try again later, or ask an "
        "administrator to unlock it (python manage.py axes_reset_username USERNAME).</p>",
        status=429,
    )
    response["Retry-After"] = str(int(settings.AXES_COOLOFF_TIME.total_seconds()))
    return response
