"""Bins of own warehouses: the bins list (filters by warehouse and zone) and bin-to-bin moves."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_GET, require_POST

from backoffice.forms import BinFilterForm, BinMoveForm
from backoffice.views.common import page, report_domain_error, staff_view
from backoffice.views.warehouse import VIEW_STOCK, stock_detail_page
from core.errors import DomainError
from inventory.bin_selectors import bin_by_code, bin_stock_for_level, bin_zones, bins_list
from inventory.models import StockLevel, Warehouse
from inventory.services.bins import bin_move as bin_move_service


@require_GET
@staff_view(VIEW_STOCK, "inventory.view_bin")
def bin_list(request):
    form = BinFilterForm(request.GET)
    valid = form.is_valid()
    warehouse_id = form.cleaned_data["warehouse"] if valid else None
    zone = form.cleaned_data["zone"].strip() if valid else ""
    paginator = Paginator(bins_list(warehouse_id=warehouse_id, zone=zone), 100)
    page_obj = paginator.get_page(request.GET.get("page"))
    query = urlencode(
        {k: v for k, v in {"warehouse": warehouse_id or "", "zone": zone}.items() if v}
    )
    return page(
        request,
        "backoffice/bin_list.html",
        {
            "title": "Bins",
            "warehouses": Warehouse.objects.filter(kind=Warehouse.Kind.OWN).order_by("code"),
            "warehouse_id": warehouse_id,
            "zone": zone,
            "page_obj": page_obj,
            "zones": bin_zones(warehouse_id=warehouse_id),
            "filter_query": query,
        },
    )


@require_POST
@staff_view(VIEW_STOCK, "inventory.move_bin_stock")
def bin_move(request, level_id: int):
    level = get_object_or_404(
        StockLevel.objects.select_related("product", "warehouse"), pk=level_id
    )
    holding = [row.bin for row in bin_stock_for_level(
        product_id=level.product_id, warehouse_id=level.warehouse_id
    )]  # fmt: skip
    form = BinMoveForm(request.POST, holding=holding)
    if not form.is_valid():
        return stock_detail_page(request, level, move_form=form)
    try:
        to_bin = bin_by_code(warehouse_id=level.warehouse_id, code=form.cleaned_data["to_bin"])
        quantity = form.cleaned_data["quantity"]
        source, target = bin_move_service(
            from_bin=form.cleaned_data["from_bin"],
            to_bin=to_bin,
            product=level.product,
            quantity=quantity,
            user=request.user,
        )
    except DomainError as exc:
        report_domain_error(request, exc)
    else:
        messages.success(
            request,
            f"{quantity} × {level.product.sku} moved from {source.bin.code} to {target.bin.code}.",
        )
    return HttpResponseRedirect(reverse("backoffice:stock_detail", args=[level.pk]), status=303)
