"""Warehouse screens: stock by SKU and warehouse, movement history, dispatch board."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from backoffice import selectors
from backoffice.views.common import page, report_domain_error, staff_view
from core.errors import DomainError
from inventory.models import StockLevel, Warehouse

VIEW_STOCK = "inventory.view_stocklevel"


@require_GET
@staff_view(VIEW_STOCK)
def stock_list(request):
    sku = request.GET.get("sku", "")[:64]
    warehouse_code = request.GET.get("warehouse", "")[:32]
    low_only = request.GET.get("low") == "1"
    levels = selectors.stock_levels_list(sku=sku, warehouse_code=warehouse_code, low_only=low_only)
    paginator = Paginator(levels, 50)
    page_obj = paginator.get_page(request.GET.get("page"))
    return page(
        request,
        "backoffice/stock_list.html",
        {
            "title": "Stock",
            "page_obj": page_obj,
            "sku": sku,
            "warehouse_code": warehouse_code,
            "low_only": low_only,
            "warehouses": Warehouse.objects.filter(is_active=True).order_by("code"),
        },
    )


@require_GET
@staff_view(VIEW_STOCK, "inventory.view_stockmovement")
def stock_detail(request, level_id: int):
    level = get_object_or_404(
        StockLevel.objects.select_related("product", "warehouse"), pk=level_id
    )
    return page(
        request,
        "backoffice/stock_detail.html",
        {
            "title": f"{level.product.sku} at {level.warehouse.code}",
            "level": level,
            "movements": selectors.stock_movements_for(level=level),
            "can_adjust": request.user.has_perm("inventory.adjust_stock")
            and _stock_adjust_service() is not None,
        },
    )


def _stock_adjust_service():
    # The stock-changing service lives on the inventory branch; the adjustment
    # form appears once it is merged (see docs/backoffice.md).
    try:
        from inventory.services.stock import stock_adjust
    except ImportError:
        return None
    return stock_adjust


@require_POST
@staff_view(VIEW_STOCK, "inventory.adjust_stock")
def stock_adjust(request, level_id: int):
    level = get_object_or_404(
        StockLevel.objects.select_related("product", "warehouse"), pk=level_id
    )
    back = HttpResponseRedirect(reverse("backoffice:stock_detail", args=[level.pk]), status=303)
    service = _stock_adjust_service()
    if service is None:
        messages.error(request, "Stock adjustments are not available in this build.")
        return back
    try:
        delta = int(request.POST.get("delta", ""))
    except ValueError:
        messages.error(request, "Give the change as a whole number, e.g. -2 or 5.")
        return back
    reason = request.POST.get("reason", "").strip()[:64]
    try:
        service(
            product=level.product,
            warehouse=level.warehouse,
            delta=delta,
            reason=reason,
            user=request.user,
        )
    except DomainError as exc:
        report_domain_error(request, exc)
    else:
        messages.success(request, f"Stock of {level.product.sku} adjusted by {delta:+d}.")
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
            "can_retry": request.user.has_perm("logistics.retry_dispatch")
            and _dispatch_retry_service() is not None,
        },
    )


def _dispatch_retry_service():
    try:
        from logistics.services.shipments import shipment_dispatch_retry
    except ImportError:
        return None
    return shipment_dispatch_retry
