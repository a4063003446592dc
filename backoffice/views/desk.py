"""Customer-service desk: search, order page and the actions an agent takes on an order."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from backoffice import selectors
from backoffice.forms import (
    AddressForm,
    CancelRestForm,
    HoldPlaceForm,
    HoldReleaseForm,
    NoteForm,
    OrderRerouteForm,
    SearchForm,
)
from backoffice.selectors.reroute import order_reroute_offered, reroute_site_choices
from backoffice.views.common import (
    order_cancel_from_form,
    page,
    report_domain_error,
    staff_view,
)
from core.errors import DomainError, ValidationFailed
from economics.selectors import expected_costs_for
from orders.iso import country_name
from orders.models import Hold, Order
from orders.services import desk as desk_services
from orders.services import holds as hold_services
from orders.services.cancellation import REST_CANCELLABLE
from orders.services.cancellation import order_cancel_rest as cancel_rest_service
from orders.transitions import CANCELLABLE

VIEW_ORDER = "orders.view_order"
CUSTOMER_CONTACT = "orders.view_customer_contact"


def _order_or_404(number: str) -> Order:
    try:
        return Order.objects.get(number=number)
    except Order.DoesNotExist as exc:
        raise Http404("No such order.") from exc


def _back(order: Order) -> HttpResponseRedirect:
    # No #fragment: the page opens at its top, where the outcome message is shown (a jump
    # to the timeline scrolled it out of sight, issue 16 item 10).
    return HttpResponseRedirect(reverse("backoffice:order_detail", args=[order.number]), status=303)


@require_GET
@staff_view(VIEW_ORDER)
def desk_search(request):
    form = SearchForm(request.GET)
    query = form.cleaned_data["q"] if form.is_valid() else ""
    hits = (
        selectors.desk_search(query=query, include_contact=request.user.has_perm(CUSTOMER_CONTACT))
        if query
        else []
    )
    if len(hits) == 1 and request.GET.get("go") == "1":
        return HttpResponseRedirect(reverse("backoffice:order_detail", args=[hits[0].order.number]))
    # The empty desk is where an agent starts: the latest orders and the holds to follow up.
    empty = not query
    return page(
        request,
        "backoffice/desk_search.html",
        {
            "title": "Customer desk",
            "form": form,
            "query": query,
            "hits": hits,
            "limit": selectors.SEARCH_LIMIT,
            "recent": (
                [selectors.SearchHit(order=order) for order in selectors.orders_recent()]
                if empty
                else []
            ),
            "my_holds": (
                selectors.holds_active_placed_by(user=request.user)
                if empty and request.user.has_perm("orders.place_hold")
                else []
            ),
            "my_holds_limit": selectors.MY_HOLDS_LIMIT,
            "now": timezone.now(),
        },
    )


@require_GET
@staff_view(VIEW_ORDER)
def order_detail(request, number: str):
    try:
        order = selectors.order_for_desk(number=number)
    except Order.DoesNotExist:
        # Rendered here rather than raised: a styled page with the search, even with DEBUG on.
        return page(
            request,
            "backoffice/not_found.html",
            {"title": "Order not found", "what": f"There is no order {number}.", "query": number},
            status=404,
        )
    user = request.user
    shipments = list(order.shipments.all())
    # What LSP work costs is the manager's business, not every agent's.
    see_cost = user.has_perm("economics.view_expected_cost")
    costs = expected_costs_for(shipment_ids=[s.pk for s in shipments]) if see_cost else {}
    lines = list(order.lines.all())
    timeline = selectors.order_timeline(order=order, shipments=shipments)
    kind = request.GET.get("timeline", "all")
    if kind not in selectors.TIMELINE_KINDS:
        kind = "all"
    holds = list(order.holds.all())
    can_change_address = desk_services.order_address_changeable(order=order, shipments=shipments)
    summary = selectors.order_customer_summary(
        order=order, lines=lines, shipments=shipments, timeline=timeline
    )
    rest_left = sum(line.quantity_unshipped for line in lines)
    can_reroute = user.has_perm("orders.reroute_order") and order_reroute_offered(
        order=order, shipments=shipments
    )
    return page(
        request,
        "backoffice/order_detail.html",
        {
            "title": f"Order {order.number}",
            "order": order,
            "lines": lines,
            "shipments": shipments,
            "shipment_rows": [(s, costs.get(s.pk)) for s in shipments],
            "shipments_with_provider": desk_services.shipments_with_provider(shipments),
            "active_holds": [h for h in holds if h.released_at is None],
            "past_holds": [h for h in holds if h.released_at is not None],
            "summary": summary,
            "rest_left": rest_left,
            "country_name": country_name(order.shipping_country),
            # Newest first (issue 16 item 12), filtered by ?timeline=<kind>.
            "timeline": selectors.timeline_filter(entries=timeline, kind=kind),
            "timeline_kind": kind,
            "why": selectors.routing_why(entries=timeline),
            "timeline_kinds": selectors.TIMELINE_KINDS,
            "notes": selectors.timeline_filter(entries=timeline, kind="notes"),
            "hold_form": HoldPlaceForm(),
            "note_form": NoteForm(),
            "reroute_form": (
                OrderRerouteForm(sites=reroute_site_choices(order=order)) if can_reroute else None
            ),
            "can": {
                "hold": user.has_perm("orders.place_hold")
                and order.status in hold_services.HOLDABLE_STATUSES,
                "release": user.has_perm("orders.release_hold"),
                "note": user.has_perm("orders.add_order_note"),
                "address": user.has_perm("orders.change_shipping_address") and can_change_address,
                "cancel": user.has_perm("orders.cancel_order") and order.status in CANCELLABLE,
                "see_cost": see_cost,
                # The unshipped rest of a partially shipped order (issue 16 item 12).
                "cancel_rest": user.has_perm("orders.cancel_order")
                and order.status in REST_CANCELLABLE
                and rest_left > 0,
                "retry": user.has_perm("logistics.retry_dispatch"),
                "reroute": can_reroute,
            },
        },
    )


@require_POST
@staff_view(VIEW_ORDER, "orders.place_hold")
def order_hold_place(request, number: str):
    order = _order_or_404(number)
    form = HoldPlaceForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a reason for the hold.")
        return _back(order)
    try:
        hours = form.cleaned_data["due_in_hours"]
        hold_services.order_hold_place(
            order=order,
            reason=form.cleaned_data["reason"],
            note=form.cleaned_data["note"],
            due_at=timezone.now() + timedelta(hours=hours) if hours else None,
            user=request.user,
        )
    except DomainError as exc:
        report_domain_error(request, exc)
    else:
        # Read after the hold committed: the dispatch gate finished any in-flight call.
        with_provider = desk_services.shipments_with_provider(list(order.shipments.all()))
        if with_provider:
            order.refresh_from_db(fields=["status"])
            refs = ", ".join(
                f"{s.pk} ({s.provider_reference or s.provider.code})" for s in with_provider
            )
            advice = (
                " Cancel the order to ask the provider to cancel them."
                if order.status in CANCELLABLE and request.user.has_perm("orders.cancel_order")
                else " Ask the warehouse to intercept them."
            )
            messages.warning(
                request,
                f"Hold recorded, but the provider already has shipment(s) {refs}: "
                f"a hold cannot stop them.{advice}",
            )
        else:
            messages.success(request, f"Order {order.number} is on hold.")
    return _back(order)


@require_POST
@staff_view(VIEW_ORDER, "orders.release_hold")
def order_hold_release(request, number: str, hold_id: int):
    order = _order_or_404(number)
    hold = get_object_or_404(Hold, pk=hold_id, order=order)
    form = HoldReleaseForm(request.POST)
    note = form.cleaned_data["note"] if form.is_valid() else ""
    try:
        hold_services.order_hold_release(hold=hold, note=note, user=request.user)
    except DomainError as exc:
        report_domain_error(request, exc)
    else:
        messages.success(request, f"Hold “{hold.get_reason_display()}” released.")
    return _back(order)


@require_POST
@staff_view(VIEW_ORDER, "orders.add_order_note")
def order_note_add(request, number: str):
    order = _order_or_404(number)
    form = NoteForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Write the note first.")
        return _back(order)
    try:
        desk_services.order_note_add(order=order, text=form.cleaned_data["text"], user=request.user)
    except DomainError as exc:
        report_domain_error(request, exc)
    else:
        messages.success(request, "Note added.")
    return _back(order)


@staff_view(VIEW_ORDER, "orders.change_shipping_address")
def order_address_change(request, number: str):
    order = _order_or_404(number)
    if request.method == "POST":
        form = AddressForm(request.POST)
        if form.is_valid():
            try:
                desk_services.order_shipping_address_change(
                    order=order, address=form.cleaned_data, user=request.user
                )
            except ValidationFailed as exc:
                for error in exc.errors:
                    field = error["field"] if error["field"] in form.fields else None
                    form.add_error(field, error["message"])
            except DomainError as exc:
                report_domain_error(request, exc)
                return _back(order)
            else:
                messages.success(request, "Shipping address changed.")
                return _back(order)
        status = 422
    else:
        form = AddressForm(initial={name: getattr(order, name) for name in AddressForm.base_fields})
        status = 200
    return page(
        request,
        "backoffice/order_address.html",
        {"title": f"Change shipping address of {order.number}", "order": order, "form": form},
        status=status,
    )


@require_POST
@staff_view(VIEW_ORDER, "orders.cancel_order")
def order_cancel(request, number: str):
    order = _order_or_404(number)
    order_cancel_from_form(request, order=order)
    return _back(order)


@require_POST
@staff_view(VIEW_ORDER, "orders.cancel_order")
def order_cancel_rest(request: HttpRequest, number: str) -> HttpResponseRedirect:
    order = _order_or_404(number)
    form = CancelRestForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Give a reason and confirm that the cancelled units will not ship.")
        return _back(order)
    try:
        cancel_rest_service(order=order, reason=form.cleaned_data["reason"], user=request.user)
    except DomainError as exc:
        report_domain_error(request, exc)
    else:
        messages.success(request, f"The unshipped rest of order {order.number} is cancelled.")
    return _back(order)
