"""LSP economics in the ops screens: invoice upload with progress, reconciliation results,
disputes (docs/economics.md)."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.http import HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from backoffice.views.common import page, report_domain_error, staff_view
from core.errors import DomainError
from economics.models import Dispute, Invoice, InvoiceImportJob, Outcome
from economics.selectors import invoice_disputes_page, invoices_recent
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
        invoice=invoice, kind=kind, status=status, after_id=int(after) if after.isdigit() else 0
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
