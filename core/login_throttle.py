"""Login lockout: django-axes per username + IP, plus a ceiling per username across all IPs."""

from __future__ import annotations

from typing import Any

from axes.attempts import get_cool_off_threshold
from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_client_username, get_failure_limit
from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import Sum
from django.http import HttpRequest

# request attribute naming what locked the login: "username" (the ceiling across IPs);
# absent for axes' own per-username+IP lockout.
SCOPE_ATTRIBUTE = "consign_lockout_scope"


class LoginAttemptsHandler(AxesDatabaseHandler):
    """axes' database handler, with LOGIN_USERNAME_FAILURE_LIMIT failures per username.

    axes counts failures per username + IP (AXES_LOCKOUT_PARAMETERS) against one limit,
    so guessing one account's password from many addresses (a botnet, rotating proxies)
    never reaches it. Here the username's failures from every address within the
    cool-off also lock it, at a higher limit: a typo-prone colleague behind the same
    NAT is not locked out by a few misses, a spray is. Both locks end after the
    cool-off, or with `manage.py axes_reset_username NAME`.
    """

    def get_failures(self, request: HttpRequest, credentials: dict[str, Any] | None = None) -> int:
        failures = int(super().get_failures(request, credentials))
        limit = int(get_failure_limit(request, credentials))
        username = get_client_username(request, credentials)
        if failures >= limit or not username:
            return failures
        across = (
            AccessAttempt.objects.filter(
                username=username, attempt_time__gte=get_cool_off_threshold(request)
            ).aggregate(total=Sum("failures_since_start"))["total"]
            or 0
        )
        if across >= settings.LOGIN_USERNAME_FAILURE_LIMIT:
            setattr(request, SCOPE_ATTRIBUTE, "username")
            # axes compares one count with one limit (AXES_FAILURE_LIMIT): the ceiling
            # reached reads as that limit reached.
            return limit
        return failures
