"""Re-routing orders: the order page's action and the bulk job (issue 20, part 4).

The work is orders.services.reroute.order_reroute; these views take what a person chose
(the reason, a site to avoid, which orders) and report the outcome.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponseRedirect
from django.views.decorators.http import require_POST

from backoffice import selectors
from backoffice.forms import BulkRerouteForm, OrderRerouteForm
from backoffice.selectors.reroute import reroute_queue_resolve, reroute_site_choices
from backoffice.services import BULK_JOB_MAX_ORDERS, bulk_reroute_job_create
from backoffice.views.common import page, report_domain_error, staff_view
from backoffice.views.desk import VIEW_ORDER, _back, _order_or_404
from backoffice.views.ops import DASHBOARD, _recent_jobs
from core.errors import DomainError
from orders.models import Order
from orders.services.reroute import order_reroute as order_reroute_service

REROUTE = "orders.reroute_order"


@require_POST
@staff_view(VIEW_ORDER, REROUTE)
def order_reroute(request, number: str):
    order = _order_or_404(number)
    form = OrderRerouteForm(request.POST, sites=reroute_site_choices(order=order))
    if not form.is_valid():
        messages.error(request, "Say why the order is re-routed (and choose a listed site).")
        return _back(order)
    avoid = form.cleaned_data["avoid_site"]
    try:
        outcome = order_reroute_service(
            order=order,
            reason=form.cleaned_data["reason"],
            exclude_sites=[avoid] if avoid else [],
            user=request.user,
        )
    except DomainError as exc:
        report_domain_error(request, exc)
    else:
        before = ", ".join(outcome.before_sites) or "no site"
        after = ", ".join(outcome.after_sites) or "no site: it waits for stock"
        messages.success(
            request,
            f"Order {order.number} re-routed from {before} to {after}; it is now "
            f"{outcome.order.get_status_display().lower()}.",
        )
    return _back(order)


def _selected(request) -> list[int]:
    # An id has at most 18 digits (bigint); int() refuses 4,300 or more with a ValueError.
    return [int(pk) for pk in request.POST.getlist("order_ids") if pk.isdigit() and len(pk) <= 18][
        : BULK_JOB_MAX_ORDERS + 1
    ]


@staff_view(DASHBOARD, REROUTE)
def reroute_bulk(request):
    """Re-route many orders as a BulkJob: typed numbers, a queue, or rows ticked in the
    exception queue (which arrive without a reason: the form asks for it first).

    Typed numbers and a queue are checked first (how many orders, which entries name
    none); only "Start" (confirm=1) makes the job.
    """
    sites = reroute_site_choices()
    if request.method != "POST":
        initial = {"queue": request.GET.get("queue", "")}
        return _page(request, BulkRerouteForm(initial=initial, sites=sites))
    selected = _selected(request)
    if selected and "reason" not in request.POST:
        # Ticked in the exception queue: carry the selection and ask for the reason.
        return _page(request, BulkRerouteForm(sites=sites, has_selection=True), selected=selected)
    form = BulkRerouteForm(request.POST, sites=sites, has_selection=bool(selected))
    if not form.is_valid():
        return _page(request, form, selected=selected, status=422)
    data = form.cleaned_data
    entries = unrecognised = None
    duplicates = 0
    if selected:
        order_ids = selected
    elif data["numbers"].strip():
        selection = selectors.bulk_numbers_resolve(text=data["numbers"])
        order_ids, entries, unrecognised = (
            selection.order_ids,
            selection.entries,
            selection.unrecognised,
        )
        duplicates = selection.duplicates
    else:
        order_ids = reroute_queue_resolve(kind=data["queue"], limit=BULK_JOB_MAX_ORDERS + 1)
    if request.POST.get("confirm") != "1":
        preview = {
            "recognised": len(order_ids),
            "too_many": len(order_ids) > BULK_JOB_MAX_ORDERS,
            "unrecognised": unrecognised or [],
            "duplicates": duplicates,
        }
        return _page(request, form, selected=selected, preview=preview)
    try:
        job = bulk_reroute_job_create(
            user=request.user,
            order_ids=order_ids,
            reason=data["reason"],
            exclude_sites=[data["avoid_site"]] if data["avoid_site"] else [],
            entries=entries,
            unrecognised=unrecognised,
        )
    except DomainError as exc:
        report_domain_error(request, exc)
        return _page(request, form, selected=selected, status=422)
    return HttpResponseRedirect(job.get_absolute_url(), status=303)


def _page(
    request,
    form: BulkRerouteForm,
    *,
    selected: list[int] | None = None,
    preview: dict | None = None,
    status: int = 200,
):
    return page(
        request,
        "backoffice/routing/reroute_bulk.html",
        {
            "title": "Re-route orders",
            "form": form,
            "selected": selected or [],
            "selected_numbers": list(
                Order.objects.filter(pk__in=(selected or [])[:20])
                .order_by("pk")
                .values_list("number", flat=True)
            )
            if selected
            else [],
            "preview": preview,
            "max_orders": BULK_JOB_MAX_ORDERS,
            "jobs": _recent_jobs(request.user),
        },
        status=status,
    )
