"""Editing an order before dispatch: contact, shipping address and lines (issue 18).

One call, one transaction: the order row is locked first (like every order service),
the edit is refused while any shipment is with the provider, and otherwise the
changes are applied, the order's unsent shipments voided, its stock released and
allocated again with the channel's policy, its shipments planned again, and the
`order_edited` event and the `order.updated` partner event recorded. Any error
rolls all of it back.

Semantics (docs/api.md, "Editing an order"): each top-level part that is given
replaces that part of the order and the others stay as they are. `customer` and
`shipping_address` are whole objects, checked like an incoming order's; `lines` is
the full set the order should have, one entry per SKU: a SKU the order has keeps
its line (quantity, and its price unless `unit_price` is given), a new SKU adds a
line (its `unit_price` is required) and a SKU left out is removed. A removed line
stays on the order with `quantity_cancelled` equal to its `quantity` (nothing of it
will ship; the voided shipments still name it), and comes back if listed again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, NotRequired, TypedDict

from django.db import transaction

from core.errors import Conflict, ValidationFailed
from inventory.models import Product
from logistics.models import Shipment, ShipmentStatusGroups
from logistics.services.dispatch import dispatch_in_flight_for_order, shipments_cancel_for_order
from logistics.services.partner_events import partner_event_publish
from logistics.webhook_topics import Topic
from orders import error_codes, events
from orders.iso import currency_places
from orders.models import Hold, Order, OrderLine
from orders.selectors import order_detail_json
from orders.services.allocation import order_allocate, order_deallocate
from orders.services.allocation_policy import hold_reasons
from orders.services.holds import BEFORE_SHIPPING_STATUSES, order_holds_place_automatic, order_lock
from orders.services.intake import AddressInput, CustomerInput
from orders.services.shipment_planning import shipments_plan_for_order
from orders.transitions import order_transition

if TYPE_CHECKING:
    from core.users import ActingUser

S = Order.Status

# Before anything has left: the statuses whose lines, address and plan may still change.
EDITABLE_STATUSES = BEFORE_SHIPPING_STATUSES
# Order.total_amount is numeric(14, 4).
MAX_TOTAL = Decimal("9999999999.9999")
_MONEY = Decimal("0.0001")

CUSTOMER_FIELDS = {"email": "customer_email", "name": "customer_name", "phone": "customer_phone"}
ADDRESS_FIELDS = {
    "name": "shipping_name",
    "line1": "shipping_line1",
    "line2": "shipping_line2",
    "city": "shipping_city",
    "postcode": "shipping_postcode",
    "region": "shipping_region",
    "country": "shipping_country",
}


class LineEdit(TypedDict):
    sku: str
    quantity: int
    unit_price: NotRequired[Decimal]


class OrderChanges(TypedDict, total=False):
    """What a caller asks to change; a part left out stays as it is."""

    customer: CustomerInput
    shipping_address: AddressInput
    lines: list[LineEdit]


@dataclass
class OrderEdit:
    """The edited order and what changed (empty: the request changed nothing)."""

    order: Order
    changes: dict[str, Any] = field(default_factory=dict)


def _money(value: Decimal) -> str:
    # As the order JSON shows money: numeric(14, 4) as text.
    return str(value.quantize(_MONEY))


def _invalid(errors: list[dict[str, str]]) -> ValidationFailed:
    return ValidationFailed(
        "The order edit has invalid fields.", code=error_codes.INVALID_ORDER, errors=errors
    )


def _not_editable(order: Order, reason: str, **extra: object) -> Conflict:
    return Conflict(
        f"Order {order.number} can no longer be edited: {reason}.",
        code=error_codes.ORDER_NOT_EDITABLE,
        order_status=order.status,
        **extra,
    )


def _refuse_unless_editable(order: Order) -> None:
    """Raise Conflict (order_not_editable) unless nothing of the order is with the provider.

    The caller holds the order's row lock: the dispatch gate takes the same lock while it
    calls the provider, so a dispatch has either finished (its shipment shows here) or
    not begun. A worker that claimed a shipment but is still waiting for that lock is
    named by `dispatch_in_flight_for_order`, which also keeps any other worker from
    claiming one until this transaction ends.
    """
    if order.status not in EDITABLE_STATUSES:
        raise _not_editable(order, f"order is {order.get_status_display().lower()}")
    with_provider = (
        Shipment.objects.filter(order_id=order.pk)
        .exclude(status__in=ShipmentStatusGroups.NOT_WITH_PROVIDER)
        .order_by("pk")
        .values_list("pk", "status")
        .first()
    )
    if with_provider is not None:
        shipment_id, status = with_provider
        raise _not_editable(
            order,
            f"shipment {shipment_id} is with the LSP ({status})",
            shipment_ids=[shipment_id],
        )
    in_flight = dispatch_in_flight_for_order(order_id=order.pk)
    if in_flight:
        raise _not_editable(
            order,
            f"shipment {in_flight[0]} is being handed to the LSP",
            shipment_ids=in_flight,
        )


def _header_changes(order: Order, changes: OrderChanges) -> tuple[dict[str, str], dict[str, Any]]:
    """The Order fields to write and the `customer` / `shipping_address` parts of the diff."""
    values: dict[str, str] = {}
    diff: dict[str, Any] = {}
    customer = changes.get("customer")
    if customer is not None:
        moved = {}
        for key, name in CUSTOMER_FIELDS.items():
            new = str(customer.get(key, "") or "")
            old = getattr(order, name)
            if new != old:
                values[name] = new
                moved[key] = {"old": old, "new": new}
        if moved:
            diff["customer"] = moved
    address = changes.get("shipping_address")
    if address is not None:
        old_address = {key: getattr(order, name) for key, name in ADDRESS_FIELDS.items()}
        new_address = {key: str(address.get(key, "") or "") for key in ADDRESS_FIELDS}
        if new_address != old_address:
            values.update({ADDRESS_FIELDS[key]: value for key, value in new_address.items()})
            diff["shipping_address"] = {"old": old_address, "new": new_address}
    return values, diff


@dataclass
class _LinePlan:
    update: list[OrderLine] = field(default_factory=list)
    create: list[OrderLine] = field(default_factory=list)
    diff: list[dict[str, Any]] = field(default_factory=list)
    total: Decimal | None = None  # the order's total with these lines; None: unchanged


def _lines_by_sku(lines: list[OrderLine], errors: list[dict[str, str]]) -> dict[str, OrderLine]:
    by_sku: dict[str, OrderLine] = {}
    for line in lines:
        if line.sku in by_sku:
            errors.append(
                {
                    "field": "lines",
                    "message": f"The order has SKU {line.sku!r} on more than one line; its "
                    "lines cannot be edited by SKU.",
                }
            )
        by_sku[line.sku] = line
    return by_sku


def _new_sku_errors(
    where: str, sku: str, product: Product | None, price: Decimal | None
) -> list[dict[str, str]]:
    """What is wrong with a line for a SKU the order does not have yet."""
    errors = []
    if product is None:
        errors.append({"field": f"{where}.sku", "message": f"Unknown SKU {sku!r}."})
    elif not product.is_active:
        errors.append({"field": f"{where}.sku", "message": f"SKU {sku!r} is not sold any more."})
    if price is None:
        errors.append(
            {
                "field": f"{where}.unit_price",
                "message": "Required for a SKU the order does not have yet.",
            }
        )
    return errors


def _wanted_errors(
    order: Order,
    wanted: list[LineEdit],
    by_sku: dict[str, OrderLine],
    products: dict[str, Product],
) -> list[dict[str, str]]:
    errors: list[dict[str, str]] = []
    if not wanted:
        errors.append({"field": "lines", "message": "At least one line is required."})
    places = currency_places(order.currency)
    step = Decimal(1).scaleb(-(places if places is not None else 2))
    seen: set[str] = set()
    for index, item in enumerate(wanted):
        sku, price = item["sku"], item.get("unit_price")
        where = f"lines[{index}]"
        if sku in seen:
            errors.append({"field": f"{where}.sku", "message": f"SKU {sku!r} is listed twice."})
        seen.add(sku)
        if price is not None and price != price.quantize(step):
            errors.append(
                {
                    "field": f"{where}.unit_price",
                    "message": f"{order.currency} has {places} decimal places.",
                }
            )
        if sku not in by_sku:
            errors += _new_sku_errors(where, sku, products.get(sku), price)
    return errors


def _plan_existing(
    plan: _LinePlan, lines: list[OrderLine], wanted_by_sku: dict[str, LineEdit]
) -> None:
    for line in lines:
        edit = wanted_by_sku.get(line.sku)
        old_quantity = line.quantity_expected
        old_price = line.unit_price
        if edit is None:
            if old_quantity:
                # Removed: the line stays (voided shipments name it), none of it ships.
                line.quantity_cancelled = line.quantity
                plan.update.append(line)
                plan.diff.append(_line_diff(line, old_quantity, 0, old_price, old_price))
            continue
        new_price = edit.get("unit_price", old_price)
        if edit["quantity"] == old_quantity and new_price == old_price:
            continue
        line.quantity = edit["quantity"]
        line.quantity_cancelled = 0
        line.unit_price = new_price
        plan.update.append(line)
        plan.diff.append(_line_diff(line, old_quantity, edit["quantity"], old_price, new_price))


def _line_plan(order: Order, wanted: list[LineEdit]) -> _LinePlan:
    """Compare the wanted lines (by SKU) with the order's; raise ValidationFailed for
    anything that cannot be applied, before anything is written."""
    lines = list(OrderLine.objects.filter(order=order).order_by("line_number"))
    errors: list[dict[str, str]] = []
    by_sku = _lines_by_sku(lines, errors)
    new_skus = [item["sku"] for item in wanted if item["sku"] not in by_sku]
    products = {p.sku: p for p in Product.objects.filter(sku__in=new_skus)}
    errors += _wanted_errors(order, wanted, by_sku, products)
    if errors:
        raise _invalid(errors)

    plan = _LinePlan()
    _plan_existing(plan, lines, {item["sku"]: item for item in wanted})
    next_number = max((line.line_number for line in lines), default=0) + 1
    for item in wanted:
        if item["sku"] in by_sku:
            continue
        line = OrderLine(
            order=order,
            line_number=next_number,
            product=products[item["sku"]],
            sku=item["sku"],
            quantity=item["quantity"],
            unit_price=item["unit_price"],
        )
        next_number += 1
        plan.create.append(line)
        plan.diff.append(_line_diff(line, 0, line.quantity, None, line.unit_price))
    plan.total = sum(
        (line.unit_price * line.quantity_expected for line in [*lines, *plan.create]),
        Decimal("0"),
    )
    if plan.total > MAX_TOTAL:
        raise _invalid([{"field": "lines", "message": "The order total is too large."}])
    return plan


def _line_diff(
    line: OrderLine,
    old_quantity: int,
    new_quantity: int,
    old_price: Decimal | None,
    new_price: Decimal,
) -> dict[str, Any]:
    diff: dict[str, Any] = {
        "line_number": line.line_number,
        "sku": line.sku,
        "old_quantity": old_quantity,
        "new_quantity": new_quantity,
    }
    if old_price != new_price:
        diff["old_unit_price"] = _money(old_price) if old_price is not None else None
        diff["new_unit_price"] = _money(new_price)
    return diff


@transaction.atomic
def order_edit(
    *,
    order: Order,
    changes: OrderChanges,
    user: ActingUser | None = None,
    actor: str | None = None,
) -> OrderEdit:
    """Change the order's contact, shipping address or lines before anything is dispatched.

    Promises, all in one transaction: contact fields are written as given; when the
    lines or the address change, the order's shipments that the provider has not
    accepted are voided (their outbox rows closed), its active allocations released
    and allocated again with the channel's policy (a shortage backorders, as at
    intake), its shipments planned again (the customs gate looks at the new
    destination) and its total recomputed. A held order stays held and is allocated
    when its last hold is released; an order whose total rises over the channel's
    limit, or whose new address fails the address check, is held automatically as at
    intake. Records an `order_edited` event with the changes and queues an
    `order.updated` partner event (the order as GET shows it, plus `changes`). A
    request that changes nothing writes nothing and returns empty `changes`.

    Raises Conflict (409, order_not_editable, with `order_status` and, when a shipment
    is the reason, `shipment_ids`) once the order is past fulfilment (shipped,
    cancelled, ...) or any of its shipments is with the provider or being handed to
    it; ValidationFailed (422, invalid_order, with per-field `errors`) for unknown or
    retired SKUs, a SKU listed twice, a new SKU without a price, a price with more
    decimals than the currency has, no line left or a total too large. Nothing is
    written when it raises.
    """
    locked = order_lock(order=order)
    _refuse_unless_editable(locked)
    header, diff = _header_changes(locked, changes)
    lines = _line_plan(locked, changes["lines"]) if "lines" in changes else _LinePlan()
    if lines.diff:
        diff["lines"] = lines.diff
    if not diff:
        return OrderEdit(order=locked)

    old_total = locked.total_amount
    for name, value in header.items():
        setattr(locked, name, value)
    if lines.update:
        OrderLine.objects.bulk_update(
            lines.update, ["quantity", "quantity_cancelled", "unit_price"]
        )
    if lines.create:
        OrderLine.objects.bulk_create(lines.create)
    if lines.total is not None:
        locked.total_amount = lines.total
    if locked.total_amount != old_total:
        diff["total_amount"] = {"old": _money(old_total), "new": _money(locked.total_amount)}
    locked.search_keys_set()
    locked.save(
        update_fields=[
            *header,
            "total_amount",
            "customer_phone_key",
            "shipping_postcode_key",
            "updated_at",
        ]
    )
    events.order_edited_event(order=locked, changes=diff, user=user, actor=actor)
    if "lines" in diff or "shipping_address" in diff:
        _replan(
            order=locked,
            total_rose=locked.total_amount > old_total,
            address_changed="shipping_address" in diff,
            user=user,
            actor=actor,
        )
    locked.refresh_from_db()
    order.status, order.updated_at = locked.status, locked.updated_at
    data = json.loads(order_detail_json(order=locked))
    partner_event_publish(
        channel_id=locked.channel_id,
        topic=Topic.ORDER_UPDATED,
        data={**data, "changes": diff},
        order_id=locked.pk,
    )
    return OrderEdit(order=locked, changes=diff)


def _replan(
    *,
    order: Order,
    total_rose: bool,
    address_changed: bool,
    user: ActingUser | None,
    actor: str | None,
) -> None:
    """Void the unsent shipments, release the stock, allocate and plan again.

    The order is locked and editable (nothing is with the provider).
    """
    shipments_cancel_for_order(order_id=order.pk, user=user, actor=actor)
    order_deallocate(order=order, user=user, actor=actor, reason="Order edited")
    # Intake's automatic holds, for what this edit changed: a total that rose over the
    # channel's limit, an address that fails the check. A hold someone released after
    # review is not placed again by an unrelated edit.
    reasons = [
        (reason, detail)
        for reason, detail in hold_reasons(order)
        if (reason == Hold.Reason.VALUE_OVER_LIMIT and total_rose)
        or (reason == Hold.Reason.ADDRESS_INVALID and address_changed)
    ]
    if reasons:
        order_holds_place_automatic(
            order=order,
            reasons=reasons,
            status_reason="; ".join(detail for _, detail in reasons),
            user=user,
            actor=actor,
        )
    if order.status == S.IN_FULFILMENT:
        # Its shipments are voided and its stock released: allocation starts again.
        order_transition(
            order=order,
            to=S.ALLOCATED,
            reason="Order edited: stock is allocated again.",
            user=user,
            actor=actor,
        )
    order_allocate(order=order, user=user, actor=actor)
    shipments_plan_for_order(order=order, user=user, actor=actor)
