"""Order events in words for the desk's timeline: one method per OrderEvent type.

The events keep machine-readable parameters (orders/events.py, orders/shipment_events.py,
returns/order_events.py); this turns each type and its parameters into a title and a
sentence for a person, so no raw `lines: [{'sku': …}]` or `api:csk_…` reaches the page.
Old events that lack a parameter still read (e.g. an address change without `old`).
"""

from __future__ import annotations

from typing import Any

from logistics.models import Shipment
from orders.iso import country_name
from orders.models import Hold, Order, OrderEvent

S = Order.Status
T = OrderEvent.Type

# The timeline filter each event type belongs to (a return's events go to "returns").
KIND_OF_TYPE: dict[str, str] = {  # keyed by OrderEvent.type (a str on the row)
    T.RECEIVED: "status",
    T.STATUS_CHANGED: "status",
    T.ALLOCATED: "status",
    T.BACKORDERED: "status",
    T.DEALLOCATED: "status",
    T.CANCELLED: "status",
    T.REST_CANCELLED: "status",
    T.ADDRESS_CHANGED: "status",
    T.EDITED: "status",
    T.REROUTED: "status",
    T.HOLD_PLACED: "holds",
    T.HOLD_RELEASED: "holds",
    T.HOLD_ASSIGNED: "holds",
    T.NOTE_ADDED: "notes",
    T.SHIPMENT_CREATED: "shipments",
    T.SHIPMENT_DISPATCHED: "shipments",
    T.DISPATCH_FAILED: "shipments",
    T.SHIPPED: "shipments",
    T.DELIVERED: "shipments",
    T.TRACKING_EXCEPTION: "shipments",
    T.RETURN_REQUESTED: "returns",
    T.RETURN_RECEIVED: "returns",
}

# Notes the system writes about a shipment (orders/shipment_events.py): their titles.
_SHIPMENT_NOTE_TITLES = {
    "dispatch_parked": "Dispatch paused",
    "dispatch_resumed": "Dispatch resumed",
    "dispatch_retry": "Dispatch retried",
    "dispatch_rerouted": "Shipment sent with another carrier",
    "shipment_cancelled": "Shipment cancelled",
    "provider_cancel_requested": "Carrier asked to cancel",
    "provider_cancel_refused": "Carrier refused to cancel",
}

_SYSTEM_ACTORS = {
    "system": "Automatic",
    "system:dispatch": "Automatic (dispatch)",
    "system:tracking": "Automatic (tracking)",
    "system:returns": "Automatic (returns)",
    "system:customs": "Automatic (customs check)",
}


def _status_label(value: Any) -> str:
    return S(value).label if value in S.values else str(value or "?")


def _hold_label(value: Any) -> str:
    return Hold.Reason(value).label if value in Hold.Reason.values else ""


def _quantities(items: Any, *, quantity_key: str = "quantity", where_key: str = "") -> str:
    # "2 × SKU-1 from AMS, 1 × SKU-2": what a list of {"sku", "quantity"} parameters says.
    parts = []
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        text = f"{item.get(quantity_key, '?')} × {item.get('sku', '?')}"
        if where_key and item.get(where_key):
            text += f" from {item[where_key]}"
        parts.append(text)
    return ", ".join(parts)


def _address_line(address: Any) -> str:
    if not isinstance(address, dict):
        return ""
    city = " ".join(
        str(address[key]) for key in ("shipping_postcode", "shipping_city") if address.get(key)
    )
    country = address.get("shipping_country")
    parts = [
        address.get("shipping_name"),
        address.get("shipping_line1"),
        address.get("shipping_line2"),
        city,
        address.get("shipping_region"),
        country_name(str(country)) if country else "",
    ]
    return ", ".join(str(part) for part in parts if part)


def _sentence(*parts: str) -> str:
    return " — ".join(part for part in parts if part)


class EventDescriber:
    """Title and detail of each event type, with the names the page already loaded."""

    def __init__(self, *, order: Order, shipments: list[Shipment]) -> None:
        self.order = order
        self.providers = {s.provider.code: s.provider.name for s in shipments}

    def provider(self, code: Any) -> str:
        return self.providers.get(str(code), str(code or "the carrier"))

    def actor(self, actor: str) -> str:
        if actor.startswith("user:"):
            return actor.removeprefix("user:")
        if actor.startswith("api:"):
            # Keys are scoped to one channel: the key that acted is one of this order's channel's.
            return f"Partner API ({self.order.channel.name})"
        if actor.startswith("lsp:"):
            return self.provider(actor.removeprefix("lsp:"))
        if actor in _SYSTEM_ACTORS:
            return _SYSTEM_ACTORS[actor]
        if actor.startswith("system:"):
            return f"Automatic ({actor.removeprefix('system:').replace('_', ' ')})"
        return actor

    def describe(self, event: OrderEvent) -> tuple[str, str, str]:
        """(title, detail, kind) of one order event."""
        p = event.parameters if isinstance(event.parameters, dict) else {}
        kind = KIND_OF_TYPE.get(event.type, "status")
        if p.get("direction") == "return":
            kind = "returns"
        method = getattr(self, f"_{event.type}", None)
        title, detail = method(p) if method else (event.get_type_display(), "")
        if event.type == T.NOTE_ADDED and p.get("kind"):
            kind = "shipments"
        return title, detail, kind

    def _received(self, p: dict) -> tuple[str, str]:
        lines = p.get("lines")
        count = f"{lines} line{'s' if lines != 1 else ''}" if isinstance(lines, int) else ""
        reference = p.get("external_reference")
        return "Order received", _sentence(
            f"{count} from {self.order.channel.name}" if count else "",
            f"their reference {reference}" if reference else "",
        )

    def _status_changed(self, p: dict) -> tuple[str, str]:
        text = f"{_status_label(p.get('old_status'))} → {_status_label(p.get('new_status'))}"
        reason = str(p.get("reason") or "")
        if reason.startswith("hold:"):
            reason = f"{_hold_label(reason.removeprefix('hold:')) or 'hold'} hold"
        return "Status changed", f"{text} ({reason})" if reason else text

    def _allocated(self, p: dict) -> tuple[str, str]:
        what = _quantities(p.get("allocations"), where_key="warehouse")
        return "Stock reserved", _sentence(what, str(p.get("reason") or ""))

    def _backordered(self, p: dict) -> tuple[str, str]:
        missing = [
            f"{line.get('backordered', '?')} of {line.get('ordered', '?')} × {line.get('sku', '?')}"
            for line in p.get("lines") or []
            if isinstance(line, dict)
        ]
        what = f"waiting for {', '.join(missing)}" if missing else ""
        return "Waiting for stock", _sentence(what, str(p.get("reason") or ""))

    def _deallocated(self, p: dict) -> tuple[str, str]:
        what = _quantities(p.get("allocations"), where_key="warehouse")
        return "Stock released", _sentence(what, str(p.get("reason") or ""))

    def _hold_placed(self, p: dict) -> tuple[str, str]:
        title = "Hold placed automatically" if p.get("automatic") else "Hold placed"
        note = p.get("note") or p.get("detail") or ""
        return title, _sentence(_hold_label(p.get("reason")), str(note))

    def _hold_released(self, p: dict) -> tuple[str, str]:
        return "Hold released", _sentence(_hold_label(p.get("reason")), str(p.get("note") or ""))

    def _hold_assigned(self, p: dict) -> tuple[str, str]:
        owners = f"{p.get('previous_owner') or 'nobody'} → {p.get('owner') or 'nobody'}"
        return "Hold owner changed", _sentence(_hold_label(p.get("reason")), owners)

    def _cancelled(self, p: dict) -> tuple[str, str]:
        previous = p.get("previous_status")
        was = f"it was {_status_label(previous).lower()}" if previous else ""
        return "Cancelled", _sentence(str(p.get("reason") or ""), was)

    def _rest_cancelled(self, p: dict) -> tuple[str, str]:
        what = _quantities(p.get("lines"))
        return "Unshipped rest cancelled", _sentence(
            f"{what} will not be sent" if what else "", str(p.get("reason") or "")
        )

    def _address_changed(self, p: dict) -> tuple[str, str]:
        old, new = _address_line(p.get("old")), _address_line(p.get("new"))
        if old and new:
            return "Shipping address changed", f"from “{old}” to “{new}”"
        return "Shipping address changed", f"to “{new}”" if new else ""

    def _order_edited(self, p: dict) -> tuple[str, str]:
        # orders.services.edits: {"lines": [{sku, old_quantity, new_quantity, ...}],
        # "shipping_address": {old, new}, "customer": {field: {old, new}}, "total_amount"}.
        raw = p.get("changes")
        changes: dict[str, Any] = raw if isinstance(raw, dict) else {}
        parts = []
        for line in changes.get("lines") or []:
            if not isinstance(line, dict):
                continue
            sku, old, new = line.get("sku", "?"), line.get("old_quantity"), line.get("new_quantity")
            if not old:
                text = f"{new} × {sku} added"
            elif not new:
                text = f"{old} × {sku} removed"
            elif old != new:
                text = f"{sku} {old} → {new}"
            else:
                text = f"{sku} price changed"
            if old and new and line.get("new_unit_price") and old != new:
                text += " (price changed)"
            parts.append(text)
        address = changes.get("shipping_address")
        if isinstance(address, dict):
            new_address = {
                f"shipping_{key}": value for key, value in (address.get("new") or {}).items()
            }
            parts.append(f"shipping address now “{_address_line(new_address)}”")
        customer = changes.get("customer")
        if isinstance(customer, dict) and customer:
            parts.append(f"customer {', '.join(sorted(customer))} changed")
        total = changes.get("total_amount")
        if isinstance(total, dict):
            parts.append(f"total {total.get('old')} → {total.get('new')} {self.order.currency}")
        return "Order edited", "; ".join(parts)

    def _order_rerouted(self, p: dict) -> tuple[str, str]:
        # orders.services.reroute: {reason, before_sites, after_sites, excluded_sites,
        # cancelled_shipments}.
        def sites(key: str) -> str:
            value = p.get(key)
            return ", ".join(str(s) for s in value) if isinstance(value, list) else ""

        before, after, avoided = (
            sites("before_sites"),
            sites("after_sites"),
            sites("excluded_sites"),
        )
        moved = f"from {before or 'no site'} to {after or 'no site (waiting for stock)'}"
        cancelled = p.get("cancelled_shipments")
        shipments = (
            "unsent " + ", ".join(f"SHP-{pk}" for pk in cancelled) + " cancelled"
            if isinstance(cancelled, list) and cancelled
            else ""
        )
        return "Order re-routed", _sentence(
            moved,
            f"avoiding {avoided}" if avoided else "",
            shipments,
            str(p.get("reason") or ""),
        )

    def _note_added(self, p: dict) -> tuple[str, str]:
        kind = p.get("kind")
        if not kind:
            return "Note added", str(p.get("text") or "")
        shipment = f"SHP-{p['shipment_id']}" if p.get("shipment_id") else "The shipment"
        carrier = self.provider(p.get("provider"))
        details = {
            "dispatch_parked": f"{shipment} waits: the order is on hold.",
            "dispatch_resumed": f"{shipment} goes out again: the last hold was released.",
            "dispatch_retry": f"{shipment} sent to {carrier} again by staff.",
            "dispatch_rerouted": (
                f"{shipment} now goes with {carrier}; "
                f"{self.provider(p.get('previous_provider'))} refused it."
            ),
            "shipment_cancelled": (
                f"{shipment} cancelled by {carrier}."
                if p.get("at_provider")
                else f"{shipment} cancelled before it was sent to {carrier}."
            ),
            "provider_cancel_requested": (
                f"{carrier} already had {shipment}; we asked them to cancel it."
            ),
            "provider_cancel_refused": (
                f"{carrier} could not cancel {shipment}: the parcel had already left. "
                "It will be delivered; offer a return."
            ),
        }
        title = _SHIPMENT_NOTE_TITLES.get(kind, "Note added")
        return title, details.get(kind, str(p.get("text") or ""))

    def _shipment_created(self, p: dict) -> tuple[str, str]:
        carrier = self.provider(p.get("provider"))
        if p.get("direction") == "return":
            tracking = f", tracking {p['tracking_number']}" if p.get("tracking_number") else ""
            return (
                "Return label issued",
                f"{p.get('return_number', 'Return')} with {carrier}{tracking}",
            )
        shipment = f"SHP-{p['shipment_id']}" if p.get("shipment_id") else "A shipment"
        where = f" from {p['warehouse']}" if p.get("warehouse") else ""
        return "Shipment planned", _sentence(
            f"{shipment}{where} with {carrier}", _quantities(p.get("lines"))
        )

    def _shipment_dispatched(self, p: dict) -> tuple[str, str]:
        carrier = self.provider(p.get("provider"))
        tracking = f", tracking {p['tracking_number']}" if p.get("tracking_number") else ""
        return (
            "Sent to the carrier",
            f"{carrier} accepted SHP-{p.get('shipment_id', '?')}{tracking}",
        )

    def _dispatch_failed(self, p: dict) -> tuple[str, str]:
        if p.get("direction") == "return":
            return "Return label refused", _sentence(
                str(p.get("return_number") or ""), str(p.get("message") or "")
            )
        carrier = self.provider(p.get("provider"))
        return "Dispatch failed", _sentence(
            f"{carrier} did not accept SHP-{p.get('shipment_id', '?')}", str(p.get("message") or "")
        )

    def _shipped(self, p: dict) -> tuple[str, str]:
        tracking = f", tracking {p['tracking_number']}" if p.get("tracking_number") else ""
        return "Shipped", f"SHP-{p.get('shipment_id', '?')} is with the carrier{tracking}"

    def _delivered(self, p: dict) -> tuple[str, str]:
        if p.get("direction") == "return":
            return "Return arrived", _sentence(
                str(p.get("return_number") or ""),
                f"at {p['warehouse']}" if p.get("warehouse") else "",
            )
        return "Delivered", f"SHP-{p.get('shipment_id', '?')} was delivered"

    def _tracking_exception(self, p: dict) -> tuple[str, str]:
        status = str(p.get("status") or "")
        label = Shipment.Status(status).label if status in Shipment.Status.values else status
        return "Carrier reported a problem", _sentence(
            f"SHP-{p.get('shipment_id', '?')}: {label.lower()}" if label else "",
            str(p.get("description") or ""),
        )

    def _return_requested(self, p: dict) -> tuple[str, str]:
        from returns.models import ReturnLine

        lines = [
            f"{line.get('quantity', '?')} × {line.get('sku', '?')}"
            + (
                f" ({ReturnLine.Reason(line['reason']).label.lower()})"
                if line.get("reason") in ReturnLine.Reason.values
                else ""
            )
            for line in p.get("lines") or []
            if isinstance(line, dict)
        ]
        return "Return requested", _sentence(str(p.get("return_number") or ""), ", ".join(lines))

    def _return_received(self, p: dict) -> tuple[str, str]:
        what = _quantities(p.get("lines"), quantity_key="quantity_received")
        refund = (
            f"refund due {p['refund_amount_due']} {p.get('currency', '')}".strip()
            if p.get("refund_amount_due") not in (None, "")
            else ""
        )
        return "Return received", _sentence(str(p.get("return_number") or ""), what, refund)
