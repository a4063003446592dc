"""What every back-office page shares: login, server-side permission checks, the admin look."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.shortcuts import render
from django.utils import timezone

from backoffice.forms import CancelForm
from core.errors import DomainError, ValidationFailed
from orders.models import Order
from orders.services.cancellation import order_cancel


def staff_view(*perms: str) -> Callable:
    """Login required (redirect to the login page), then every permission in `perms` or 403."""

    def decorator(view):
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if not request.user.has_perms(perms):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return login_required(wrapper)

    return decorator


def page(request, template: str, context: dict | None = None, status: int = 200):
    """Render with the admin's site context so the pages look like the admin."""
    base = {
        "site_header": "Consign back office",
        "site_title": "Consign",
        "site_url": None,
        "has_permission": True,
        "is_popup": False,
        "is_nav_sidebar_enabled": False,
        "time_zone_default": settings.TIME_ZONE,
        "time_zone_name": timezone.get_current_timezone_name(),
    }
    base.update(context or {})
    return render(request, template, base, status=status)


def order_cancel_from_form(request: HttpRequest, *, order: Order) -> None:
    """Cancel `order` with the reason of the posted CancelForm; the outcome is a message."""
    form = CancelForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Give a reason and confirm that the order cannot be reopened.")
        return
    try:
        order_cancel(order=order, reason=form.cleaned_data["reason"], user=request.user)
    except DomainError as exc:
        report_domain_error(request, exc)
    else:
        messages.success(request, f"Order {order.number} is cancelled.")


def report_domain_error(request, exc: DomainError) -> None:
    text = exc.detail
    if isinstance(exc, ValidationFailed) and exc.errors:
        text += " " + "; ".join(f"{e['field']}: {e['message']}" for e in exc.errors)
    messages.error(request, text)
