"""The pack station of an own warehouse (390 px first): scan the shipment, add parcels in
boxes, scan each item into the current parcel, weigh, buy the labels, print the labels
and the packing slip, void, hand to the carrier. The rules are logistics.services.packing's."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from backoffice.forms import (
    PackBuyForm,
    PackMoveForm,
    PackParcelForm,
    PackParcelRemoveForm,
    PackScanForm,
    PackStartForm,
    PackWeighForm,
)
from backoffice.views.common import page, report_domain_error, staff_view
from core.errors import DomainError
from logistics.adapters.base import AdapterError
from logistics.documents import packing_slip_pdf
from logistics.models import Box, Parcel, Shipment, ShipmentLine
from logistics.services.packing import (
    PackSession,
    pack_buy_labels,
    pack_dispatch,
    pack_item_move,
    pack_label_document,
    pack_parcel_add,
    pack_parcel_remove,
    pack_parcel_weigh,
    pack_scan_item,
    pack_session,
    pack_start,
    pack_void,
)

PACK = ("logistics.view_box", "logistics.pack_shipment")


def _see_other(url: str) -> HttpResponseRedirect:
    return HttpResponseRedirect(url, status=303)


def _station(shipment_id: int) -> str:
    return reverse("backoffice:pack_shipment", args=[shipment_id])


@require_http_methods(["GET", "POST"])
@staff_view(*PACK)
def pack_start_view(request):
    if request.method == "POST":
        form = PackStartForm(request.POST)
        if not form.is_valid():
            messages.error(request, "Scan the shipment label (SHP-…) or type the order number.")
            return _see_other(reverse("backoffice:pack_start"))
        try:
            session = pack_start(code=form.cleaned_data["code"])
        except DomainError as exc:
            report_domain_error(request, exc)
            return _see_other(reverse("backoffice:pack_start"))
        return _see_other(_station(session.shipment.pk))
    return page(
        request,
        "backoffice/pack_start.html",
        {"title": "Pack station", "bodyclass": "handheld"},
    )


def _parcel(session: PackSession, parcel_id: int) -> Parcel | None:
    return next((p for p in session.parcels if p.pk == parcel_id), None)


def _scan(request, session: PackSession) -> None:
    form = PackScanForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Scan an item's barcode.")
        return
    line = pack_scan_item(session=session, barcode=form.cleaned_data["code"])
    messages.success(
        request,
        f"{line.product.sku}: {line.packed} of {line.required} packed"
        f" into parcel {session.current.position if session.current else 1}.",
    )


def _add_parcel(request, session: PackSession) -> None:
    form = PackParcelForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a box (and a weight in grams, if known).")
        return
    parcel = pack_parcel_add(
        shipment=session.shipment,
        box=form.cleaned_data["box"],
        weight_grams=form.cleaned_data["weight_grams"],
    )
    messages.success(request, f"Parcel {parcel.position}: {parcel.box}. Scan its items.")


def _weigh(request, session: PackSession) -> None:
    form = PackWeighForm(request.POST)
    parcel = _parcel(session, form.cleaned_data["parcel"]) if form.is_valid() else None
    if parcel is None:
        messages.error(request, "Enter the parcel's weight in grams.")
        return
    pack_parcel_weigh(parcel=parcel, weight_grams=form.cleaned_data["weight_grams"])
    messages.success(request, f"Parcel {parcel.position}: {parcel.weight_grams} g.")


def _move(request, session: PackSession) -> None:
    form = PackMoveForm(request.POST)
    valid = form.is_valid()
    source = _parcel(session, form.cleaned_data["parcel"]) if valid else None
    target = _parcel(session, form.cleaned_data["target"]) if valid else None
    line = (
        ShipmentLine.objects.filter(pk=form.cleaned_data["line"], shipment=session.shipment).first()
        if valid
        else None
    )
    if source is None or target is None or line is None:
        messages.error(request, "Choose the item and the parcel to move it to.")
        return
    pack_item_move(
        source=source, target=target, shipment_line=line, quantity=form.cleaned_data["quantity"]
    )
    messages.success(request, f"Moved to parcel {target.position}.")


def _remove(request, session: PackSession) -> None:
    form = PackParcelRemoveForm(request.POST)
    parcel = _parcel(session, form.cleaned_data["parcel"]) if form.is_valid() else None
    if parcel is None:
        messages.error(request, "That parcel is not in this shipment.")
        return
    pack_parcel_remove(parcel=parcel)
    messages.success(request, "Empty parcel removed.")


def _buy(request, session: PackSession) -> None:
    form = PackBuyForm(request.POST)
    label_format = form.cleaned_data["label_format"] if form.is_valid() else "PDF"
    purchase = pack_buy_labels(
        shipment=session.shipment, label_format=label_format, user=request.user
    )
    messages.success(
        request,
        f"Labels bought ({purchase.carrier_account.code} {purchase.service}): "
        + ", ".join(purchase.tracking_numbers)
        + ". Print the labels and the packing slip.",
    )


def _void(request, session: PackSession) -> None:
    pack_void(shipment=session.shipment, user=request.user)
    messages.success(request, "Labels voided at the carrier; the parcels can be changed again.")


def _handover(request, session: PackSession) -> None:
    pack_dispatch(shipments=[session.shipment], user=request.user)
    messages.success(request, f"SHP-{session.shipment.pk} handed to the carrier: dispatched.")


_ACTIONS = {
    "scan": _scan,
    "parcel": _add_parcel,
    "weigh": _weigh,
    "move": _move,
    "remove": _remove,
    "buy": _buy,
    "void": _void,
    "handover": _handover,
}


@require_http_methods(["GET", "POST"])
@staff_view(*PACK)
def pack_shipment(request, shipment_id: int):
    shipment = get_object_or_404(
        Shipment.objects.select_related("order", "warehouse", "provider"),
        pk=shipment_id,
        warehouse__kind="own",
    )
    here = _station(shipment.pk)
    if request.method == "POST":
        action = _ACTIONS.get(request.POST.get("action", ""))
        if action is None:
            messages.error(request, "Unknown action.")
            return _see_other(here)
        try:
            action(request, pack_session(shipment))
        except (DomainError, AdapterError) as exc:
            if isinstance(exc, DomainError):
                report_domain_error(request, exc)
            else:
                messages.error(request, f"The carrier refused: {exc.message}")
        return _see_other(here)
    session = pack_session(shipment)
    return page(
        request,
        "backoffice/pack_station.html",
        {
            "title": f"Pack SHP-{shipment.pk}",
            "bodyclass": "handheld",
            "session": session,
            "shipment": shipment,
            "boxes": Box.objects.filter(is_active=True).order_by("code"),
            "editable": shipment.status == Shipment.Status.PICKED,
            "packed": shipment.status == Shipment.Status.PACKED,
        },
    )


def _file(content: bytes, content_type: str, filename: str) -> HttpResponse:
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = f'inline; filename="{filename}"'
    return response


@require_GET
@staff_view(*PACK)
def pack_labels(request, shipment_id: int):
    shipment = get_object_or_404(Shipment, pk=shipment_id, warehouse__kind="own")
    try:
        content, content_type, filename = pack_label_document(shipment=shipment)
    except DomainError as exc:
        return HttpResponse(exc.detail, status=404, content_type="text/plain")
    return _file(content, content_type, filename)


@require_GET
@staff_view(*PACK)
def pack_packing_slip(request, shipment_id: int):
    shipment = get_object_or_404(
        Shipment.objects.select_related("order__channel", "warehouse", "provider"),
        pk=shipment_id,
        warehouse__kind="own",
    )
    return _file(
        packing_slip_pdf(shipment=shipment),
        "application/pdf",
        f"packing-slip-{shipment.order.number}-{shipment.pk}.pdf",
    )
