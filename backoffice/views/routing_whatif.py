"""Routing what-if in the ops screens: start a run from a rule set, watch its progress,
compare simulated with actual, download the per-order CSV (docs/routing.md, "What-if")."""

from __future__ import annotations

import datetime as dt

from django import forms
from django.contrib import messages
from django.http import HttpResponseRedirect, JsonResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from backoffice import charts
from backoffice.views.common import page, report_domain_error, staff_view
from core.csv_safe import csv_writer
from core.errors import DomainError
from routing.models import RuleSet, WhatIfRun
from routing.selectors import whatif_csv_rows, whatif_figures, whatif_site_volumes
from routing.services.whatif import whatif_create, whatif_delete, whatif_progress

VIEW = "routing.view_whatifrun"
START = "routing.add_whatifrun"
DELETE = "routing.delete_whatifrun"
DEFAULT_DAYS = 30


def default_period(today: dt.date | None = None) -> tuple[dt.date, dt.date]:
    """The last DEFAULT_DAYS days, today included."""
    today = today or timezone.localdate()
    return today - dt.timedelta(days=DEFAULT_DAYS - 1), today


class WhatIfStartForm(forms.Form):
    period_start = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    period_end = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))


@require_POST
@staff_view(VIEW, START)
def whatif_start(request, ruleset_id: int):
    rule_set = get_object_or_404(RuleSet, pk=ruleset_id)
    form = WhatIfStartForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Give the first and the last day of the period.")
        return HttpResponseRedirect(_rule_set_url(rule_set))
    try:
        run = whatif_create(
            rule_set_id=rule_set.pk,
            period_start=form.cleaned_data["period_start"],
            period_end=form.cleaned_data["period_end"],
            actor=request.user.get_username(),
        )
    except DomainError as exc:
        report_domain_error(request, exc)
        return HttpResponseRedirect(_rule_set_url(rule_set))
    return HttpResponseRedirect(reverse("backoffice:routing_whatif", args=[run.pk]))


@require_POST
@staff_view(VIEW, DELETE)
def whatif_remove(request, run_id: int):
    run = _run(run_id)
    try:
        whatif_delete(run_id=run.pk)
    except DomainError as exc:
        report_domain_error(request, exc)
        return HttpResponseRedirect(reverse("backoffice:routing_whatif", args=[run.pk]))
    messages.success(request, f"{run} and its orders are deleted.")
    return HttpResponseRedirect(_rule_set_url(run.rule_set))


def _rule_set_url(rule_set: RuleSet) -> str:
    return reverse("backoffice:routing_rule_set", args=[rule_set.pk])


def _run(run_id: int) -> WhatIfRun:
    return get_object_or_404(WhatIfRun.objects.select_related("rule_set"), pk=run_id)


def _percent(run: WhatIfRun, done: int, total: int) -> int:
    if run.status == WhatIfRun.Status.DONE:
        return 100
    return int(done * 100 / total) if total else 0


@require_GET
@staff_view(VIEW)
def whatif_detail(request, run_id: int):
    run = _run(run_id)
    done, total = whatif_progress(run)
    volumes = whatif_site_volumes(run=run)
    return page(
        request,
        "backoffice/routing/whatif.html",
        {
            "title": f"{run} · rule set v{run.rule_set.version}",
            "run": run,
            "can_delete": request.user.has_perm(DELETE),
            "done": done,
            "total": total,
            "percent": _percent(run, done, total),
            "figures": whatif_figures(run=run),
            "volumes": volumes,
            "volume_chart": charts.paired_bars(
                [(code, sim, act) for code, sim, act in volumes],
                title="Shipments per site: simulated and actual",
                series=("Simulated", "Actual"),
            )
            if volumes
            else None,
        },
    )


@require_GET
@staff_view(VIEW)
def whatif_status(request, run_id: int):
    """The run's progress in the shape static/backoffice/app.js polls for every job page."""
    run = _run(run_id)
    done, total = whatif_progress(run)
    return JsonResponse(
        {
            "id": run.pk,
            "status": run.status,
            "outcome": run.status,
            "outcome_label": run.get_status_display(),
            "total": total,
            "processed": done,
            "succeeded": done if run.status == WhatIfRun.Status.DONE else 0,
            "failed": 0,
            "percent": _percent(run, done, total),
            "finished": run.is_finished,
            "error": run.error,
        }
    )


class _Echo:
    """A file that hands back what is written to it: each CSV line goes straight out."""

    def write(self, value: str) -> str:
        return value


@require_GET
@staff_view(VIEW)
def whatif_csv(request, run_id: int):
    """One row per order of the run: the simulated plan next to what happened, streamed."""
    run = _run(run_id)
    writer = csv_writer(_Echo())
    response = StreamingHttpResponse(
        (writer.writerow(row) for row in whatif_csv_rows(run=run)),
        content_type="text/csv; charset=utf-8",
    )
    response["Content-Disposition"] = f'attachment; filename="whatif-{run.pk}.csv"'
    return response
