"""Warehouse screens: stock and its history, adjustments and counts, receiving, dispatch board."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpResponseRedirect, JsonResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.views.decorators.http import require_GET, require_POST

from backoffice import selectors
from backoffice.forms import (
    AdjustForm,
    BinMoveForm,
    CountForm,
    InboundCreateForm,
    RerouteForm,
    ScanForm,
)
from backoffice.views.common import (
    order_cancel_from_form,
    page,
    report_domain_error,
    staff_view,
)
from core.csv_safe import csv_writer
from core.errors import DomainError
from inventory.bin_selectors import bin_by_code, bin_movements_for_level, bin_stock_for_level
from inventory.models import InboundReceipt, InboundShipment, StockLevel, Warehouse
from inventory.services.counts import stock_count_record
from inventory.services.receiving import (
    CANCELLABLE,
    RECEIVABLE,
    ExpectedLine,
    inbound_receive_into_bin,
)
from inventory.services.receiving import inbound_receive as inbound_receive_service
from inventory.services.stock import stock_adjust as stock_adjust_service
from logistics.models import AsnOutbox, Shipment
from logistics.services.asn import asn_cancel, asn_close, asn_create, asn_send_retry
from logistics.services.dispatch import shipment_dispatch_retry
from logistics.services.reroute import shipment_dispatch_reroute

VIEW_STOCK = "inventory.view_stocklevel"


def _redirect(url: str) -> HttpResponseRedirect:
    return HttpResponseRedirect(url, status=303)


def _stock_filters(request) -> dict:
    """The stock screen's filters from the query string (the list and its CSV export share them).

    `sku` (SKU prefix) is still read: older links and bookmarks carry it.
    """
    return {
        "query": " ".join(request.GET.get("q", "").split())[:100],
        "sku": request.GET.get("sku", "")[:64],
        "warehouse_code": request.GET.get("warehouse", "")[:32],
        "low_only": request.GET.get("low") == "1",
    }


def _filters_query_string(filters: dict) -> str:
    return urlencode(
        {
            key: value
            for key, value in {
                "q": filters["query"],
                "sku": filters["sku"],
                "warehouse": filters["warehouse_code"],
                "low": "1" if filters["low_only"] else "",
            }.items()
            if value
        }
    )


@require_GET
@staff_view(VIEW_STOCK)
def stock_list(request):
    filters = _stock_filters(request)
    levels = selectors.stock_levels_list(**filters)
    paginator = Paginator(levels, 50)
    page_obj = paginator.get_page(request.GET.get("page"))
    return page(
        request,
        "backoffice/stock_list.html",
        {
            "title": "Stock",
            "page_obj": page_obj,
            "q": filters["query"],
            "sku": filters["sku"],
            "warehouse_code": filters["warehouse_code"],
            "low_only": filters["low_only"],
            "filter_query": _filters_query_string(filters),
            "warehouses": Warehouse.objects.filter(is_active=True).order_by("code"),
        },
    )


class _Echo:
    """A file that hands back what is written to it: each CSV line goes straight out."""

    def write(self, value: str) -> str:
        return value


@require_GET
@staff_view(VIEW_STOCK)
def stock_export(request):
    """The stock screen's levels (its filters, every page) as CSV, streamed."""
    filters = _stock_filters(request)
    rows = selectors.stock_levels_export_rows(levels=selectors.stock_levels_list(**filters))
    # A spreadsheet must not execute a cell a partner could have written (core/csv_safe.py).
    writer = csv_writer(_Echo())
    response = StreamingHttpResponse(
        (writer.writerow(row) for row in rows), content_type="text/csv; charset=utf-8"
    )
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="stock-{stamp}.csv"'
    return response


@require_GET
@staff_view(VIEW_STOCK, "inventory.view_stockmovement")
def stock_detail(request, level_id: int):
    level = get_object_or_404(
        StockLevel.objects.select_related("product", "warehouse"), pk=level_id
    )
    return stock_detail_page(request, level)


def stock_detail_page(
    request, level: StockLevel, *, adjust_form=None, count_form=None, move_form=None
):
    """The stock page; with a bound form that failed validation, its errors and typed values."""
    invalid = adjust_form is not None or count_form is not None or move_form is not None
    own = level.warehouse.kind == Warehouse.Kind.OWN
    bins = (
        bin_stock_for_level(product_id=level.product_id, warehouse_id=level.warehouse_id)
        if own
        else []
    )
    return page(
        request,
        "backoffice/stock_detail.html",
        {
            "title": f"{level.product.sku} at {level.warehouse.code}",
            "level": level,
            "movements": selectors.stock_movements_for(level=level),
            "adjust_form": adjust_form or AdjustForm(),
            "count_form": count_form or CountForm(),
            "can_adjust": request.user.has_perm("inventory.adjust_stock"),
            "can_count": request.user.has_perm("inventory.count_stock"),
            "own_site": own,
            "bins": bins,
            "unbinned": level.on_hand - sum(row.quantity for row in bins),
            "bin_movements": bin_movements_for_level(
                product_id=level.product_id, warehouse_id=level.warehouse_id
            )
            if own
            else [],
            "move_form": move_form or BinMoveForm(holding=[row.bin for row in bins]),
            "can_move": own and bool(bins) and request.user.has_perm("inventory.move_bin_stock"),
        },
        status=422 if invalid else 200,
    )


@require_POST
@staff_view(VIEW_STOCK, "inventory.adjust_stock")
def stock_adjust(request, level_id: int):
    level = get_object_or_404(
        StockLevel.objects.select_related("product", "warehouse"), pk=level_id
    )
    back = _redirect(reverse("backoffice:stock_detail", args=[level.pk]))
    form = AdjustForm(request.POST)
    if not form.is_valid():
        return stock_detail_page(request, level, adjust_form=form)
    delta = form.cleaned_data["delta"]
    try:
        stock_adjust_service(
            product=level.product,
            warehouse=level.warehouse,
            delta=delta,
            reason=form.cleaned_data["reason"],
            note=form.cleaned_data["note"],
            user=request.user,
        )
    except DomainError as exc:
        report_domain_error(request, exc)
    else:
        messages.success(request, f"Stock of {level.product.sku} adjusted by {delta:+d}.")
    return back


@require_POST
@staff_view(VIEW_STOCK, "inventory.count_stock")
def stock_count(request, level_id: int):
    level = get_object_or_404(
        StockLevel.objects.select_related("product", "warehouse"), pk=level_id
    )
    back = _redirect(reverse("backoffice:stock_detail", args=[level.pk]))
    form = CountForm(request.POST)
    if not form.is_valid():
        return stock_detail_page(request, level, count_form=form)
    try:
        count = stock_count_record(
            product=level.product,
            warehouse=level.warehouse,
            counted=form.cleaned_data["counted"],
            user=request.user,
        )
    except DomainError as exc:
        report_domain_error(request, exc)
    else:
        messages.success(
            request, f"Count recorded: {count.counted} on hand ({count.difference:+d})."
        )
    return back


@require_GET
@staff_view(VIEW_STOCK, "logistics.view_shipment")
def dispatch_board(request):
    return page(
        request,
        "backoffice/dispatch_board.html",
        {
            "title": "Dispatch board",
            "board": selectors.dispatch_board(),
            "can_retry": request.user.has_perm("logistics.retry_dispatch"),
            "can_reroute": request.user.has_perm("logistics.reroute_dispatch"),
            "can_cancel": request.user.has_perm("orders.cancel_order"),
        },
    )


def _back_to_board(request) -> HttpResponseRedirect:
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target = reverse("backoffice:dispatch_board")
    return _redirect(target)


# Each board action also needs the board itself: the customer-service desk cancels orders
# from the order page, not from a warehouse screen.
@require_POST
@staff_view(VIEW_STOCK, "logistics.view_shipment", "logistics.retry_dispatch")
def shipment_retry(request, shipment_id: int):
    shipment = get_object_or_404(Shipment.objects.select_related("order"), pk=shipment_id)
    try:
        shipment_dispatch_retry(shipment=shipment, user=request.user)
    except DomainError as exc:
        report_domain_error(request, exc)
    else:
        messages.success(request, f"SHP-{shipment.pk} is queued for dispatch again.")
    return _back_to_board(request)


@require_POST
@staff_view(VIEW_STOCK, "logistics.view_shipment", "logistics.reroute_dispatch")
def shipment_reroute(request, shipment_id: int):
    shipment = get_object_or_404(Shipment.objects.select_related("order"), pk=shipment_id)
    form = RerouteForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose an active provider to send the shipment with.")
        return _back_to_board(request)
    provider = form.cleaned_data["provider"]
    try:
        shipment_dispatch_reroute(shipment=shipment, provider=provider, user=request.user)
    except DomainError as exc:
        report_domain_error(request, exc)
    else:
        messages.success(request, f"SHP-{shipment.pk} is queued for dispatch with {provider.code}.")
    return _back_to_board(request)


@require_POST
@staff_view(VIEW_STOCK, "logistics.view_shipment", "orders.view_order", "orders.cancel_order")
def shipment_order_cancel(request, shipment_id: int):
    """Cancel the order of a failed shipment (its whole order: stock is allocated per order)."""
    shipment = get_object_or_404(Shipment.objects.select_related("order"), pk=shipment_id)
    order_cancel_from_form(request, order=shipment.order)
    return _back_to_board(request)


# --- Receiving ----------------------------------------------------------------------


@require_GET
@staff_view(VIEW_STOCK, "inventory.receive_stock")
def inbound_list(request):
    return page(
        request,
        "backoffice/inbound_list.html",
        {"title": "Receiving", "inbounds": selectors.inbounds_open()},
    )


@staff_view(VIEW_STOCK, "inventory.receive_stock")
def inbound_create(request):
    """Staff announce an ASN for any warehouse (no channel); an LSP site's goes to the LSP."""
    form = InboundCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            inbound = asn_create(
                warehouse_code=data["warehouse"].code,
                reference=data["reference"],
                supplier=data["supplier"],
                expected_at=data["expected_at"],
                carrier=data["carrier"],
                tracking_number=data["tracking_number"],
                lines=[ExpectedLine(sku=sku, quantity=qty) for sku, qty in data["lines"]],
                user=request.user,
            )
        except DomainError as exc:
            for error in getattr(exc, "errors", []) or [{"field": "", "message": exc.detail}]:
                field = error["field"].split("[")[0].split(".")[0]
                form.add_error(field if field in form.fields else None, error["message"])
        else:
            messages.success(request, f"{inbound.number} created ({inbound.get_status_display()}).")
            return _redirect(reverse("backoffice:inbound_detail", args=[inbound.pk]))
    return page(
        request,
        "backoffice/inbound_create.html",
        {"title": "New inbound shipment (ASN)", "form": form},
        status=422 if form.is_bound else 200,
    )


@require_POST
@staff_view(VIEW_STOCK, "inventory.receive_stock")
def inbound_cancel(request, inbound_id: int):
    inbound = get_object_or_404(InboundShipment, pk=inbound_id)
    try:
        asn_cancel(inbound=inbound, user=request.user)
    except DomainError as exc:
        report_domain_error(request, exc)
    else:
        messages.success(request, f"{inbound.number} cancelled.")
    return _redirect(reverse("backoffice:inbound_detail", args=[inbound.pk]))


@require_POST
@staff_view(VIEW_STOCK, "inventory.receive_stock")
def inbound_send_retry(request, inbound_id: int):
    inbound = get_object_or_404(InboundShipment, pk=inbound_id)
    try:
        asn_send_retry(inbound=inbound)
    except DomainError as exc:
        report_domain_error(request, exc)
    else:
        messages.success(request, f"{inbound.number} queued to be sent to the LSP again.")
    return _redirect(reverse("backoffice:inbound_detail", args=[inbound.pk]))


@require_GET
@staff_view(VIEW_STOCK, "inventory.receive_stock")
def inbound_detail(request, inbound_id: int):
    inbound = get_object_or_404(InboundShipment.objects.select_related("warehouse"), pk=inbound_id)
    return _inbound_detail_page(request, inbound)


def _inbound_detail_page(request, inbound: InboundShipment, *, scan_form=None):
    """The receiving page; with a scan that failed validation, its errors and typed values."""
    return page(
        request,
        "backoffice/inbound_detail.html",
        {
            "title": f"Receive {inbound.reference}",
            "inbound": inbound,
            # Own sites are received here by barcode; an LSP's site by the LSP's receipts.
            "can_receive": inbound.status in RECEIVABLE
            and inbound.warehouse.kind == Warehouse.Kind.OWN,
            "can_cancel": inbound.status in CANCELLABLE,
            "outbox": AsnOutbox.objects.filter(inbound_id=inbound.pk).first(),
            "lines": selectors.inbound_lines_with_stock(inbound=inbound, suggest_bins=True),
            # Only a site that uses bins shows them (the handheld's columns are few).
            "has_bins": inbound.warehouse.kind == Warehouse.Kind.OWN
            and inbound.warehouse.bins.filter(is_active=True).exists(),
            "scan_form": scan_form or ScanForm(),
            "last": request.session.pop("last_scan", None),
        },
        status=422 if scan_form is not None else 200,
    )


def _wants_json(request) -> bool:
    return "application/json" in request.headers.get("Accept", "")


@require_POST
@staff_view(VIEW_STOCK, "inventory.receive_stock")
def inbound_receive(request, inbound_id: int):
    """Record one scan. The receiving page's script asks for JSON (no reload, so a scan typed
    while the page reloads is never appended to the last one or lost); without script the
    form posts and the page redirects back."""
    inbound = get_object_or_404(InboundShipment.objects.select_related("warehouse"), pk=inbound_id)
    as_json = _wants_json(request)
    back = _redirect(reverse("backoffice:inbound_detail", args=[inbound.pk]))
    form = ScanForm(request.POST)
    if not form.is_valid():
        if as_json:
            errors = [
                {"field": field, "message": str(message)}
                for field, messages_ in form.errors.items()
                for message in messages_
            ]
            return JsonResponse(
                {"error": " ".join(e["message"] for e in errors), "errors": errors}, status=422
            )
        return _inbound_detail_page(request, inbound, scan_form=form)
    code = form.cleaned_data["barcode"]
    try:
        receipt, bin = _receive(request, inbound, form)
    except DomainError as exc:
        if as_json:
            return JsonResponse(
                {"error": exc.detail, "code": exc.code, "errors": getattr(exc, "errors", [])},
                status=exc.status,
            )
        report_domain_error(request, exc)
        return back
    outcome = selectors.inbound_scan_outcome(receipt=receipt) | {"bin": bin.code if bin else ""}
    if as_json:
        return JsonResponse({"code": code, **outcome})
    for warning in outcome["warnings"]:
        messages.warning(request, warning["message"])
    request.session["last_scan"] = {
        "code": code,
        "name": outcome["name"],
        "quantity": receipt.quantity,
        "line_id": receipt.line_id,
        "bin": outcome["bin"],
    }
    return back


def _receive(request, inbound: InboundShipment, form: ScanForm):
    """Receive the scan; at an own site put it away too (the typed bin, else the suggested
    one) in the same transaction. Returns (receipt, bin or None)."""
    data = form.cleaned_data
    if inbound.warehouse.kind != Warehouse.Kind.OWN:
        receipt = inbound_receive_service(
            inbound=inbound,
            code=data["barcode"],
            quantity=data["quantity"],
            source=InboundReceipt.Source.SCAN,
            user=request.user,
        )
        return receipt, None
    typed = data["bin"].strip()
    chosen = bin_by_code(warehouse_id=inbound.warehouse_id, code=typed) if typed else None
    return inbound_receive_into_bin(
        inbound=inbound,
        code=data["barcode"],
        quantity=data["quantity"],
        bin=chosen,
        source=InboundReceipt.Source.SCAN,
        user=request.user,
    )


@require_POST
@staff_view(VIEW_STOCK, "inventory.receive_stock")
def inbound_close(request, inbound_id: int):
    inbound = get_object_or_404(InboundShipment, pk=inbound_id)
    try:
        discrepancies = asn_close(inbound=inbound, user=request.user)
    except DomainError as exc:
        report_domain_error(request, exc)
    else:
        if discrepancies:
            messages.warning(
                request,
                "Closed with discrepancies: "
                + "; ".join(f"{d['sku']} {d['difference']:+d}" for d in discrepancies),
            )
        else:
            messages.success(request, f"{inbound.reference} closed: everything received.")
    return _redirect(reverse("backoffice:inbound_detail", args=[inbound.pk]))
