"""Picking at own warehouses: pick waves (list, build, page, cancel), the handheld pick
screen (390 px first: scan the bin, then each item; Short) and the pick list PDFs."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from backoffice.forms import PickScanForm, PickShortForm, WaveBuildForm, WaveFilterForm
from backoffice.views.common import page, report_domain_error, staff_view
from core.errors import DomainError
from inventory.models import Warehouse
from logistics.documents import pick_list_pdf
from logistics.hooks import ShortPickOutcome
from logistics.models import PickTask, PickWave, Shipment
from logistics.picking_selectors import (
    shipment_pick_tasks,
    wave_progress,
    wave_tasks,
    waves_list,
)
from logistics.services.picking import (
    pick_scan_bin,
    pick_scan_item,
    pick_short,
    wave_cancel,
    waves_build,
)

VIEW_WAVES = "logistics.view_pickwave"
PICK = "logistics.pick_wave"


def _see_other(url: str) -> HttpResponseRedirect:
    return HttpResponseRedirect(url, status=303)


@require_GET
@staff_view(VIEW_WAVES)
def wave_list(request):
    form = WaveFilterForm(request.GET)
    valid = form.is_valid()
    warehouse_id = form.cleaned_data["warehouse"] if valid else None
    status = form.cleaned_data["status"] if valid else ""
    paginator = Paginator(waves_list(warehouse_id=warehouse_id, status=status), 50)
    own = Warehouse.objects.filter(kind=Warehouse.Kind.OWN, is_active=True).order_by("code")
    chosen = next((w for w in own if w.pk == warehouse_id), None)
    return page(
        request,
        "backoffice/wave_list.html",
        {
            "title": "Pick waves",
            "warehouses": own,
            "warehouse_id": warehouse_id,
            "status": status,
            "statuses": PickWave.Status.choices,
            "page_obj": paginator.get_page(request.GET.get("page")),
            "build_form": WaveBuildForm(initial={"warehouse": chosen.code if chosen else None}),
            "filter_query": urlencode(
                {k: v for k, v in {"warehouse": warehouse_id or "", "status": status}.items() if v}
            ),
        },
    )


@require_POST
@staff_view(VIEW_WAVES, PICK)
def wave_build(request):
    form = WaveBuildForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose an own warehouse and limits of at least 1.")
        return _see_other(reverse("backoffice:wave_list"))
    warehouse = form.cleaned_data["warehouse"]
    try:
        waves = waves_build(
            warehouse=warehouse,
            now=timezone.now(),
            max_shipments=form.cleaned_data["max_shipments"],
            max_units=form.cleaned_data["max_units"],
            user=request.user,
        )
    except DomainError as exc:
        report_domain_error(request, exc)
    else:
        if waves:
            codes = ", ".join(w.code for w in waves[:10]) + ("…" if len(waves) > 10 else "")
            messages.success(request, f"{len(waves)} wave(s) built at {warehouse.code}: {codes}.")
        else:
            messages.info(request, f"No open shipments at {warehouse.code} to wave.")
    return _see_other(f"{reverse('backoffice:wave_list')}?warehouse={warehouse.pk}")


@require_GET
@staff_view(VIEW_WAVES)
def wave_detail(request, wave_id: int):
    wave = get_object_or_404(
        PickWave.objects.select_related("warehouse", "service_level", "created_by"), pk=wave_id
    )
    tasks = wave_tasks(wave_id=wave.pk)
    live = [t for t in tasks if t.status != PickTask.Status.CANCELLED]
    return page(
        request,
        "backoffice/wave_detail.html",
        {
            "title": f"Pick wave {wave.code} at {wave.warehouse.code}",
            "wave": wave,
            "tasks": tasks,
            "done": sum(1 for t in live if t.status != PickTask.Status.OPEN),
            "total": len(live),
            "shipments": sorted({t.shipment_id for t in tasks}),
            "can_pick": request.user.has_perm(PICK),
        },
    )


@require_POST
@staff_view(VIEW_WAVES, PICK)
def wave_cancel_view(request, wave_id: int):
    wave = get_object_or_404(PickWave, pk=wave_id)
    try:
        wave_cancel(wave=wave, user=request.user)
    except DomainError as exc:
        report_domain_error(request, exc)
    else:
        messages.success(request, f"Wave {wave.code} cancelled; its shipments wait for a wave.")
    return _see_other(reverse("backoffice:wave_detail", args=[wave.pk]))


def _scan(request, task: PickTask, code: str) -> None:
    if not task.bin_scanned:
        pick_scan_bin(task=task, code=code, user=request.user)
        messages.success(request, f"Bin {task.bin.code}: now scan {task.product.sku}.")
        return
    pick_scan_item(task=task, barcode=code, user=request.user)
    if task.status == PickTask.Status.PICKED:
        messages.success(request, f"{task.product.sku}: all {task.quantity} picked.")
    else:
        messages.success(
            request, f"{task.product.sku}: {task.picked_quantity} of {task.quantity} picked."
        )


def _short(request, task: PickTask, found: int) -> None:
    outcome = pick_short(task=task, found_quantity=found, user=request.user)
    missing = task.quantity - found
    rest = (
        "the shipment waits (ship complete)"
        if outcome == ShortPickOutcome.WAIT
        else "the shipment goes on with what was found"
    )
    messages.warning(
        request,
        f"Short: {missing} of {task.product.sku} missing at {task.bin.code}; re-allocated, {rest}.",
    )


@require_http_methods(["GET", "POST"])
@staff_view(VIEW_WAVES, PICK)
def wave_pick(request, wave_id: int):
    wave = get_object_or_404(PickWave.objects.select_related("warehouse"), pk=wave_id)
    here = reverse("backoffice:wave_pick", args=[wave.pk])
    if request.method == "POST":
        short = "found" in request.POST
        form = PickShortForm(request.POST) if short else PickScanForm(request.POST)
        if not form.is_valid():
            messages.error(request, "Scan a code (or enter how many you found).")
            return _see_other(here)
        task = (
            PickTask.objects.select_related("bin", "product", "wave")
            .filter(pk=form.cleaned_data["task"], wave=wave)
            .first()
        )
        if task is None:
            messages.error(request, "That pick is not in this wave.")
            return _see_other(here)
        try:
            if short:
                _short(request, task, form.cleaned_data["found"])
            else:
                _scan(request, task, form.cleaned_data["code"])
        except DomainError as exc:
            report_domain_error(request, exc)
        return _see_other(here)
    progress = wave_progress(wave_id=wave.pk)
    return page(
        request,
        "backoffice/wave_pick.html",
        {
            "title": f"Pick {wave.code}",
            "wave": wave,
            "progress": progress,
            "task": progress.current,
            "bodyclass": "handheld",
        },
    )


def _pdf(content: bytes, filename: str) -> HttpResponse:
    response = HttpResponse(content, content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="{filename}"'
    return response


@require_GET
@staff_view(VIEW_WAVES)
def wave_pick_list_pdf(request, wave_id: int):
    wave = get_object_or_404(PickWave.objects.select_related("warehouse"), pk=wave_id)
    tasks = [t for t in wave_tasks(wave_id=wave.pk) if t.status != PickTask.Status.CANCELLED]
    title = f"Pick list {wave.code} {wave.warehouse.code}"
    return _pdf(pick_list_pdf(title=title, tasks=tasks), f"pick-list-{wave.code}.pdf")


@require_GET
@staff_view(VIEW_WAVES)
def shipment_pick_list_pdf(request, shipment_id: int):
    shipment = get_object_or_404(Shipment.objects.select_related("order"), pk=shipment_id)
    tasks = shipment_pick_tasks(shipment_id=shipment.pk)
    title = f"Pick list SHP-{shipment.pk} {shipment.order.number}"
    return _pdf(pick_list_pdf(title=title, tasks=tasks), f"pick-list-SHP-{shipment.pk}.pdf")
