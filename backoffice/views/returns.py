"""Returns in the back office: request one at the desk, receive one at the warehouse, documents."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from backoffice.views.common import page, report_domain_error, staff_view
from core.errors import DomainError
from core.views import pdf_response
from logistics.documents import shipment_document_pdf
from logistics.models import Shipment
from orders.models import Order
from returns.models import ReturnLine, ReturnRequest
from returns.selectors import return_get, returns_awaiting_receipt
from returns.services import ReceivedLine, RequestedLine, return_receive, return_request_create

VIEW_ORDER = "orders.view_order"


def _int(value: str | None, default: int = 0) -> int:
    try:
        return int(value or default)
    except ValueError:
        return -1


@require_POST
@staff_view(VIEW_ORDER, "returns.request_return")
def order_return_request(request, number: str):
    order = get_object_or_404(Order, number=number)
    lines = []
    for line in order.lines.all():
        quantity = _int(request.POST.get(f"qty_{line.line_number}"))
        if quantity:
            lines.append(
                RequestedLine(
                    line_number=line.line_number,
                    quantity=quantity,
                    reason=request.POST.get(f"reason_{line.line_number}", ""),
                )
            )
    try:
        return_request = return_request_create(
            order=order, lines=lines, note=request.POST.get("note", ""), user=request.user
        )
    except DomainError as exc:
        report_domain_error(request, exc)
    else:
        messages.success(
            request, f"Return {return_request.number} requested; the label is on its way."
        )
    return HttpResponseRedirect(reverse("backoffice:order_detail", args=[order.number]), status=303)


@require_GET
@staff_view("returns.receive_return")
def return_queue(request):
    return page(
        request,
        "backoffice/returns/queue.html",
        {"title": "Returns to receive", "returns": list(returns_awaiting_receipt())},
    )


def _return_or_404(return_id: int) -> ReturnRequest:
    return_request = return_get(pk=return_id)
    if return_request is None:
        raise Http404("No such return.")
    return return_request


@require_http_methods(["GET", "POST"])
@staff_view("returns.receive_return")
def return_receive_view(request, return_id: int):
    return_request = _return_or_404(return_id)
    if request.method == "POST":
        received = []
        for line in return_request.lines.all():
            quantity = request.POST.get(f"qty_{line.pk}", "").strip()
            if not quantity:
                # A blank box is not "none came back": leaving the line out makes the
                # service name it as missing instead of closing the return with 0 units.
                continue
            received.append(
                ReceivedLine(
                    return_line_id=line.pk,
                    quantity=_int(quantity),
                    condition=request.POST.get(f"condition_{line.pk}", ""),
                    disposition=request.POST.get(f"disposition_{line.pk}", ""),
                )
            )
        try:
            return_receive(return_request=return_request, lines=received, user=request.user)
        except DomainError as exc:
            report_domain_error(request, exc)
        else:
            messages.success(request, f"Return {return_request.number} received.")
            return HttpResponseRedirect(
                reverse("backoffice:return_receive", args=[return_id]), status=303
            )
        return_request = _return_or_404(return_id)
    return page(
        request,
        "backoffice/returns/receive.html",
        {
            "title": f"Receive return {return_request.number}",
            "rma": return_request,
            "lines": list(return_request.lines.all()),
            "conditions": ReturnLine.Condition.choices,
            "dispositions": ReturnLine.Disposition.choices,
            "receivable": return_request.status != ReturnRequest.Status.RECEIVED,
        },
    )


@require_GET
@staff_view(VIEW_ORDER)
def shipment_document(request, shipment_id: int, kind: str):
    shipment = get_object_or_404(
        Shipment.objects.select_related("order__channel", "warehouse", "provider"), pk=shipment_id
    )
    try:
        content, filename = shipment_document_pdf(shipment=shipment, kind=kind)
    except DomainError as exc:
        raise Http404(exc.detail) from exc
    return pdf_response(content, filename)
