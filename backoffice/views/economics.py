"""LSP economics in the ops screens: invoice upload with progress, reconciliation results,
disputes (docs/economics.md)."""

from __future__ import annotations

import datetime as dt
import io

from django import forms
from django.contrib import messages
from django.http import HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from backoffice import charts
from backoffice.views.common import page, report_domain_error, staff_view
from core.csv_safe import csv_writer
from core.errors import DomainError
from economics.histogram import RELATIVE_ERROR, percentile
from economics.models import Dispute, Invoice, InvoiceImportJob, Outcome
from economics.selectors import (
    Money,
    Scorecard,
    ScorecardRow,
    invoice_disputes_page,
    invoices_recent,
    scorecard,
)
from economics.services.disputes import MOVES, dispute_decide, disputes_csv
from economics.services.invoice_jobs import invoice_import_job_create, invoice_import_job_progress
from logistics.models import Provider

VIEW = "economics.view_invoice"
IMPORT = "economics.add_invoice"
DECIDE = "economics.decide_dispute"


class InvoiceUploadForm(forms.Form):
    provider = forms.ModelChoiceField(
        queryset=Provider.objects.filter(is_active=True).order_by("code"), to_field_name="code"
    )
    profile = forms.SlugField(
        required=False, help_text="The provider's invoice layout, if not ours."
    )
    file = forms.FileField(help_text="The invoice as CSV (UTF-8).")


class DisputeDecisionForm(forms.Form):
    to_status = forms.ChoiceField(choices=Dispute.Status.choices)
    note = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), required=False, max_length=2000
    )


@require_http_methods(["GET", "POST"])
@staff_view(VIEW)
def invoices(request):
    form = InvoiceUploadForm()
    if request.method == "POST":
        if not request.user.has_perm(IMPORT):
            messages.error(request, "You may look at invoices but not import them.")
            return HttpResponseRedirect(reverse("backoffice:invoices"))
        form = InvoiceUploadForm(request.POST, request.FILES)
        if form.is_valid():
            try:
                job = invoice_import_job_create(
                    provider_code=form.cleaned_data["provider"].code,
                    profile_name=form.cleaned_data["profile"],
                    file=form.cleaned_data["file"],
                    user=request.user,
                )
            except DomainError as exc:
                report_domain_error(request, exc)
            else:
                return HttpResponseRedirect(reverse("backoffice:invoice_job", args=[job.pk]))
    return page(
        request,
        "backoffice/invoices.html",
        {
            "title": "LSP invoices",
            "form": form,
            "invoices": invoices_recent(),
            "can_import": request.user.has_perm(IMPORT),
        },
    )


def _job(request, job_id: int) -> InvoiceImportJob:
    return get_object_or_404(InvoiceImportJob.objects.select_related("provider"), pk=job_id)


@require_GET
@staff_view(VIEW)
def invoice_job(request, job_id: int):
    job = _job(request, job_id)
    done, total = invoice_import_job_progress(job=job)
    return page(
        request,
        "backoffice/invoice_job.html",
        {
            "title": str(job),
            "job": job,
            "done": done,
            "total": total,
            "percent": _percent(job, done, total),
        },
    )


def _percent(job: InvoiceImportJob, done: int, total: int) -> int:
    if job.status == job.Status.DONE:
        return 100
    return int(done * 100 / total) if total else 0


@require_GET
@staff_view(VIEW)
def invoice_job_status(request, job_id: int):
    """The job's progress in the shape static/backoffice/app.js polls for every job page."""
    job = _job(request, job_id)
    done, total = invoice_import_job_progress(job=job)
    outcome = job.status
    return JsonResponse(
        {
            "id": job.pk,
            "status": job.status,
            "outcome": outcome,
            "outcome_label": job.get_status_display(),
            "total": total,
            "processed": done,
            "succeeded": done if job.status == job.Status.DONE else 0,
            "failed": 0,
            "percent": _percent(job, done, total),
            "finished": job.is_finished,
            "error": job.error,
        }
    )


@require_GET
@staff_view(VIEW)
def invoice_job_result(request, job_id: int):
    job = _job(request, job_id)
    if job.invoice_id is None:
        return HttpResponseRedirect(reverse("backoffice:invoice_job", args=[job.pk]))
    return HttpResponseRedirect(reverse("backoffice:invoice_detail", args=[job.invoice_id]))


def _page_after(raw: str) -> int:
    """The `after` id of a page link; anything that is not a plausible id starts at the top."""
    # ASCII digits only (isdigit() takes "²"), and within a bigint.
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 18 else 0


@require_GET
@staff_view(VIEW)
def invoice_detail(request, invoice_id: int):
    invoice = get_object_or_404(Invoice.objects.select_related("provider"), pk=invoice_id)
    kind = request.GET.get("kind", "")
    status = request.GET.get("status", "")
    kind = kind if kind in Outcome.values else ""
    status = status if status in Dispute.Status.values else ""
    after = request.GET.get("after", "")
    disputes, next_after = invoice_disputes_page(
        invoice=invoice,
        kind=kind,
        status=status,
        after_id=_page_after(after),
    )
    counts = [(outcome, invoice.summary.get(str(outcome), 0)) for outcome in Outcome]
    return page(
        request,
        "backoffice/invoice_detail.html",
        {
            "title": f"Invoice {invoice.number} · {invoice.provider.code}",
            "invoice": invoice,
            "counts": counts,
            "disputes": disputes,
            "next_after": next_after,
            "kind": kind,
            "status": status,
            "kinds": [o for o in Outcome if o != Outcome.MATCHED],
            "statuses": Dispute.Status.choices,
        },
    )


@require_GET
@staff_view(VIEW)
def invoice_disputes_csv(request, invoice_id: int):
    invoice = get_object_or_404(Invoice, pk=invoice_id)
    response = HttpResponse(disputes_csv(invoice=invoice), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="disputes-{invoice.pk}.csv"'
    return response


@require_http_methods(["GET", "POST"])
@staff_view(VIEW)
def dispute_detail(request, dispute_id: int):
    dispute = get_object_or_404(
        Dispute.objects.select_related("invoice__provider", "line"), pk=dispute_id
    )
    form = DisputeDecisionForm()
    if request.method == "POST":
        if not request.user.has_perm(DECIDE):
            messages.error(request, "You may not decide disputes.")
            return HttpResponseRedirect(request.path)
        form = DisputeDecisionForm(request.POST)
        if form.is_valid():
            try:
                dispute_decide(
                    dispute_id=dispute.pk,
                    to_status=form.cleaned_data["to_status"],
                    note=form.cleaned_data["note"],
                    actor=request.user.get_username(),
                )
            except DomainError as exc:
                report_domain_error(request, exc)
            else:
                messages.success(request, "The dispute was updated.")
                return HttpResponseRedirect(request.path)
    moves = sorted(MOVES.get(dispute.status, frozenset()))
    return page(
        request,
        "backoffice/dispute_detail.html",
        {
            "title": f"Dispute {dispute.pk} · invoice {dispute.invoice.number}",
            "dispute": dispute,
            "events": list(dispute.events.all()),
            "form": form,
            "moves": [(move, Dispute.Status(move).label) for move in moves],
            "can_decide": request.user.has_perm(DECIDE) and bool(moves),
        },
    )


# --- Provider scorecard (docs/economics.md) --------------------------------------------

PERIODS = [
    ("this_week", "This week"),
    ("last_week", "Last week"),
    ("this_month", "This month"),
    ("last_month", "Last month"),
    ("custom", "From … to …"),
]
LONGEST_PERIOD_DAYS = 366


class ScorecardForm(forms.Form):
    provider = forms.ModelChoiceField(
        queryset=Provider.objects.order_by("code"),
        to_field_name="code",
        required=False,
        empty_label="All providers",
    )
    period = forms.ChoiceField(choices=PERIODS, initial="this_month", required=False)
    start = forms.DateField(
        required=False, label="From", widget=forms.DateInput(attrs={"type": "date"})
    )
    end = forms.DateField(
        required=False, label="To", widget=forms.DateInput(attrs={"type": "date"})
    )

    def clean(self):
        data = super().clean()
        if data.get("period") == "custom":
            start, end = data.get("start"), data.get("end")
            if not start or not end:
                raise forms.ValidationError("A custom period needs both From and To.")
            if start > end:
                raise forms.ValidationError("From is after To.")
            if (end - start).days >= LONGEST_PERIOD_DAYS:
                raise forms.ValidationError(f"At most {LONGEST_PERIOD_DAYS} days at a time.")
        return data


def scorecard_period(
    period: str, *, today: dt.date, start: dt.date | None = None, end: dt.date | None = None
) -> tuple[dt.date, dt.date]:
    """(first, last) day of a named period (weeks start on Monday), inclusive."""
    monday = today - dt.timedelta(days=today.weekday())
    if period == "this_week":
        return monday, today
    if period == "last_week":
        return monday - dt.timedelta(days=7), monday - dt.timedelta(days=1)
    if period == "last_month":
        last = today.replace(day=1) - dt.timedelta(days=1)
        return last.replace(day=1), last
    if period == "custom" and start and end:
        return start, end
    return today.replace(day=1), today


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "no data"
    if seconds < 1:
        return "< 1 s"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def _pct(value: float | None) -> str:
    return "no data" if value is None else f"{value:.1f} %"


def _money(values: tuple[Money, ...]) -> str:
    return " + ".join(f"{m.currency} {m.amount:.2f}" for m in values) or "no data"


SCORECARD_COLUMNS = [
    "Provider",
    "Shipments",
    "On time",
    "On-time sample",
    "Dispatch to first scan p50",
    "Dispatch to first scan p90",
    "First scan to delivered p50",
    "First scan to delivered p90",
    "Exception rate",
    "Dispatch failure rate",
    "Event to received p50",
    "Event to received p95",
    "Webhooks refused",
    "Dock to stock p50",
    "Return processing p50",
    "Returns received",
    "Expected cost per shipment",
    "Expected cost per order",
    "Invoiced",
    "Expected (invoiced work)",
    "Open disputes",
]


def scorecard_cells(row: ScorecardRow) -> list[str]:
    """One provider's table row, as shown and as exported (the CSV is this, cell for cell)."""
    return [
        row.provider,
        str(row.shipments),
        _pct(row.on_time_percent),
        str(row.on_time_sample),
        _duration(percentile(row.to_first_scan, 0.5)),
        _duration(percentile(row.to_first_scan, 0.9)),
        _duration(percentile(row.to_delivered, 0.5)),
        _duration(percentile(row.to_delivered, 0.9)),
        _pct(row.exception_percent),
        _pct(row.dispatch_failure_percent),
        _duration(percentile(row.event_latency, 0.5)),
        _duration(percentile(row.event_latency, 0.95)),
        f"{row.webhooks_refused} of {row.webhooks}",
        _duration(percentile(row.dock_to_stock, 0.5)),
        _duration(percentile(row.return_processing, 0.5)),
        str(row.returns_received),
        _money(row.cost_per_shipment()),
        _money(row.cost_per_order()),
        _money(row.invoiced),
        _money(row.invoiced_expected),
        str(row.open_disputes),
    ]


def _scorecard_request(request) -> tuple[ScorecardForm, Scorecard]:
    form = ScorecardForm(request.GET or None)
    today = timezone.localdate()
    data = form.cleaned_data if form.is_bound and form.is_valid() else {}
    first, last = scorecard_period(
        data.get("period") or "this_month",
        today=today,
        start=data.get("start"),
        end=data.get("end"),
    )
    provider = data.get("provider")
    return form, scorecard(first=first, last=last, provider_id=provider.pk if provider else None)


@require_GET
@staff_view(VIEW)
def provider_scorecard(request):
    form, card = _scorecard_request(request)
    table = [scorecard_cells(row) for row in card.rows]
    on_time = [(row.provider, row.on_time_percent or 0.0) for row in card.rows]
    first_scan = [
        (row.provider, (percentile(row.to_first_scan, 0.5) or 0) / 3600) for row in card.rows
    ]
    exceptions = [(row.provider, row.exception_percent or 0.0) for row in card.rows]
    return page(
        request,
        "backoffice/scorecard.html",
        {
            "title": "Provider scorecard",
            "form": form,
            "card": card,
            "columns": SCORECARD_COLUMNS,
            "table": table,
            "reasons": [
                (row.provider, reason, n, _pct(rate))
                for row in card.rows
                for reason, n, rate in row.exception_rates()
            ],
            "histogram_error": f"{RELATIVE_ERROR * 100:.1f}",
            "csv_query": request.GET.urlencode(),
            "on_time_chart": charts.horizontal_bars(
                on_time, title="On-time delivery (%)", unit=" %", max_value=100
            ),
            "first_scan_chart": charts.horizontal_bars(
                first_scan, title="Median dispatch to first scan (hours)", unit=" h"
            ),
            "exceptions_chart": charts.horizontal_bars(
                exceptions, title="Exception rate (% of shipments)", unit=" %"
            ),
            "shipments_chart": charts.stacked_columns(
                [day.strftime("%d %b") for day in card.days],
                card.daily_shipments,
                title="Shipments dispatched per day",
            ),
        },
    )


@require_GET
@staff_view(VIEW)
def provider_scorecard_csv(request):
    _, card = _scorecard_request(request)
    out = io.StringIO()
    writer = csv_writer(out)
    writer.writerow(SCORECARD_COLUMNS)
    for row in card.rows:
        writer.writerow(scorecard_cells(row))
    response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="scorecard-{card.first.isoformat()}-{card.last.isoformat()}.csv"'
    )
    return response
