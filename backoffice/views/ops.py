"""Operations: exception queue, dashboard, bulk actions with progress."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import Model
from django.http import HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_GET, require_POST

from backoffice import charts, selectors
from backoffice.forms import BulkActionForm, DashboardRangeForm, ExceptionQueueFilterForm
from backoffice.models import BulkJob
from backoffice.services import (
    BULK_JOB_MAX_ORDERS,
    bulk_assign_job_create,
    bulk_hold_job_create,
    bulk_job_result_rows,
    bulk_release_job_create,
    order_export_job_create,
)
from backoffice.views.common import page, report_domain_error, staff_view
from core.csv_safe import csv_writer
from core.errors import DomainError
from logistics.models import Shipment, WebhookEndpoint
from logistics.services.webhook_endpoints import webhook_endpoint_update
from orders.models import Channel, Order

DASHBOARD = "orders.view_dashboard"
REROUTE_KINDS = frozenset({"hold", "backorder", "dispatch_failed"})


@require_GET
@staff_view(DASHBOARD)
def exception_queue(request):
    form = ExceptionQueueFilterForm(request.GET)
    valid = form.is_valid()
    data = form.cleaned_data if valid else {}
    kind = data.get("kind", "")
    channel_code = data.get("channel", "")
    backorder_days = data.get("days", ExceptionQueueFilterForm.DEFAULT_DAYS)
    mine = data.get("mine", False)
    # A refused filter shows what was typed and why, not a queue for other numbers.
    queue = (
        selectors.exception_queue(
            kind=kind,
            channel_code=channel_code,
            backorder_days=backorder_days,
            owner=request.user if mine else None,
            # The overview shows the oldest few of each kind; one kind shows more.
            limit=200 if kind in selectors.EXCEPTION_KINDS else 25,
        )
        if valid
        else {}
    )
    return page(
        request,
        "backoffice/exceptions.html",
        {
            "title": "Exception queue",
            "filter_form": form,
            "queue": queue,
            "kinds": selectors.EXCEPTION_KINDS,
            "kind": kind if valid else request.GET.get("kind", "")[:32],
            "channel_code": channel_code if valid else request.GET.get("channel", "")[:32],
            "channels": Channel.objects.order_by("code").values_list("code", flat=True),
            "backorder_days": backorder_days if valid else request.GET.get("days", "")[:32],
            "mine": mine,
            "bulk_form": BulkActionForm(),
            # The kinds whose orders may be re-routed (orders.services.reroute decides).
            "reroute_kinds": REROUTE_KINDS,
        },
        status=200 if valid else 400,
    )


@require_POST
@staff_view(DASHBOARD, "logistics.change_webhookendpoint")
def webhook_endpoint_enable(request, endpoint_id: int):
    """Enable a disabled partner webhook endpoint again (its failure clock restarts)."""
    endpoint = get_object_or_404(WebhookEndpoint.objects.select_related("channel"), pk=endpoint_id)
    webhook_endpoint_update(endpoint=endpoint, active=True)
    messages.success(request, f"{endpoint.channel.code}: {endpoint.url} is enabled again.")
    return HttpResponseRedirect(reverse("backoffice:exceptions") + "#q-webhook_endpoint_disabled")


def _admin_list(model: type[Model], **filters: str) -> str:
    """An admin changelist filtered like a dashboard figure (the list behind the number)."""
    opts = model._meta
    changelist = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
    return f"{changelist}?{urlencode(filters)}"


@require_GET
@staff_view(DASHBOARD)
def dashboard(request):
    range_form = DashboardRangeForm(request.GET)
    valid = range_form.is_valid()
    # A refused range is said so, above the default window's figures.
    window = range_form.cleaned_data if valid else {}
    figures = selectors.dashboard_figures_cached(start=window.get("start"), end=window.get("end"))
    orders_since = figures["orders_since"].isoformat()
    orders_until = figures["orders_until"].isoformat()
    on_time_since = figures["on_time_since"].isoformat()
    on_time_until = figures["on_time_until"].isoformat()
    exception_statuses = ",".join(selectors.DASHBOARD_EXCEPTION_STATUSES)
    links = {
        "orders": _admin_list(Order, created_at__gte=orders_since, created_at__lt=orders_until),
        "backlog": _admin_list(Order, status__in=",".join(figures["backlog_statuses"])),
        "stock_alerts": f"{reverse('backoffice:stock_list')}?low=1",
    }
    on_time = [
        {
            "provider": code,
            "on_time": n,
            "delivered": total,
            "percent": round(100 * n / total, 1),
            "url": _admin_list(
                Shipment,
                provider__id__exact=provider_id,
                status__exact="delivered",
                delivered_at__gte=on_time_since,
                delivered_at__lt=on_time_until,
            ),
        }
        for code, n, total, provider_id in figures["on_time_samples"]
    ]
    return page(
        request,
        "backoffice/dashboard.html",
        {
            "title": "Operations dashboard",
            "range_form": range_form,
            "figures": figures,
            "links": links,
            "on_time": on_time,
            "orders_chart": charts.stacked_columns(
                figures["days"], figures["orders_per_day"], title="Orders per day by channel"
            ),
            "backlog_chart": charts.horizontal_bars(
                figures["backlog"],
                title="Backlog by status",
                links=[_admin_list(Order, status__exact=s) for s in figures["backlog_statuses"]],
            ),
            # The sample size goes with every percentage: 100 % of 2 is not 100 % of 2,000.
            "on_time_chart": charts.horizontal_bars(
                [
                    (f"{row['provider']} (n={row['delivered']:,})", row["percent"])
                    for row in on_time
                ],
                title="On-time delivery by provider",
                unit=" %",
                max_value=100,
                links=[row["url"] for row in on_time],
            ),
            "exceptions_chart": charts.horizontal_bars(
                figures["exceptions"],
                title="Open exceptions by provider",
                links=[
                    _admin_list(
                        Shipment,
                        provider__id__exact=provider_id,
                        status__in=exception_statuses,
                    )
                    for provider_id in figures["exception_provider_ids"]
                ],
            ),
        },
        status=200 if valid else 400,
    )


@staff_view(DASHBOARD)
def bulk_hold(request):
    """Bulk actions on many orders (hold, release, assign, CSV export), run as a BulkJob.

    Typed numbers or a status are checked first: the page says how many orders were
    recognised and lists every entry that was not, and only "Start" (confirm=1) makes
    the job. Rows ticked in the exception queue are known orders and start at once.
    """
    if request.method != "POST":
        initial = {"action": request.GET.get("action", BulkActionForm.HOLD)}
        return _bulk_page(request, BulkActionForm(initial=initial))
    # An id has at most 18 digits (bigint); int() refuses 4,300 or more with a ValueError.
    selected = [
        int(pk) for pk in request.POST.getlist("order_ids") if pk.isdigit() and len(pk) <= 18
    ]
    form = BulkActionForm(request.POST, has_selection=bool(selected))
    if not form.is_valid():
        return _bulk_page(request, form, status=422)
    data = form.cleaned_data
    needed = {
        BulkActionForm.HOLD: "orders.place_hold",
        BulkActionForm.RELEASE: "orders.release_hold",
        BulkActionForm.ASSIGN: "orders.place_hold",
    }.get(data["action"])
    if needed and not request.user.has_perm(needed):
        raise PermissionDenied
    entries = unrecognised = None
    if selected:
        order_ids = selected
    elif data["numbers"].strip():
        selection = selectors.bulk_numbers_resolve(text=data["numbers"])
        order_ids, entries, unrecognised = (
            selection.order_ids,
            selection.entries,
            selection.unrecognised,
        )
    else:
        order_ids = selectors.bulk_status_resolve(
            status=data["status"],
            channel_code=data.get("channel", ""),
            limit=BULK_JOB_MAX_ORDERS + 1,
        )
    if not selected and request.POST.get("confirm") != "1":
        return _bulk_page(
            request,
            form,
            preview={
                "recognised": len(order_ids),
                "too_many": len(order_ids) > BULK_JOB_MAX_ORDERS,
                "unrecognised": unrecognised or [],
                "duplicates": selection.duplicates if entries is not None else 0,
            },
        )
    try:
        if data["action"] == BulkActionForm.EXPORT:
            job = order_export_job_create(
                user=request.user, order_ids=order_ids, entries=entries, unrecognised=unrecognised
            )
        elif data["action"] == BulkActionForm.RELEASE:
            job = bulk_release_job_create(
                user=request.user, order_ids=order_ids, reason=data["reason"], note=data["note"]
            )
        elif data["action"] == BulkActionForm.ASSIGN:
            job = bulk_assign_job_create(
                user=request.user, order_ids=order_ids, owner=data["owner"]
            )
        else:
            job = bulk_hold_job_create(
                user=request.user,
                order_ids=order_ids,
                reason=data["reason"],
                note=data["note"],
                entries=entries,
                unrecognised=unrecognised,
            )
    except DomainError as exc:
        report_domain_error(request, exc)
        return _bulk_page(request, form, status=422)
    return HttpResponseRedirect(job.get_absolute_url(), status=303)


def _bulk_page(request, form, status: int = 200, preview: dict | None = None):
    return page(
        request,
        "backoffice/bulk_hold.html",
        {
            "title": "Bulk actions",
            "form": form,
            "preview": preview,
            "max_orders": BULK_JOB_MAX_ORDERS,
            "jobs": _recent_jobs(request.user),
        },
        status=status,
    )


def _recent_jobs(user):
    return BulkJob.objects.filter(created_by=user).order_by("-created_at")[:10]


def _job_for(request, job_id: int) -> BulkJob:
    job = get_object_or_404(BulkJob, pk=job_id)
    if job.created_by_id != request.user.pk and not request.user.has_perm(DASHBOARD):
        raise PermissionDenied
    return job


@require_GET
@staff_view()
def job_detail(request, job_id: int):
    job = _job_for(request, job_id)
    return page(
        request,
        "backoffice/job_detail.html",
        {"title": str(job), "job": job, "unrecognised": job.parameters.get("unrecognised", [])},
    )


@require_GET
@staff_view()
def job_status(request, job_id: int):
    job = _job_for(request, job_id)
    return JsonResponse(
        {
            "id": job.pk,
            "kind": job.kind,
            "status": job.status,
            "outcome": job.outcome,
            "outcome_label": job.outcome_label,
            "unrecognised": len(job.parameters.get("unrecognised", [])),
            "total": job.total,
            "processed": job.processed,
            "succeeded": job.succeeded,
            "failed": job.failed,
            "percent": job.percent,
            "finished": job.is_finished,
            "error": job.error,
        }
    )


@require_GET
@staff_view()
def job_result(request, job_id: int):
    job = _job_for(request, job_id)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="bulk-job-{job.pk}.csv"'
    # A spreadsheet must not execute a cell a customer could have written (core/csv_safe.py).
    csv_writer(response).writerows(bulk_job_result_rows(job=job))
    return response
