"""The sandbox's public tracking page: what a recipient sees at the tracking link.

Plain HTML with no external resources; every value from a shipment is escaped. It
shows the destination town only, never the recipient's name or street: anyone who
has the link can open it.
"""

from __future__ import annotations

import datetime as dt
from html import escape
from typing import Any

from sandbox.store import SandboxShipment

# Status → (headline, what it means for the recipient).
STATUS_TEXT: dict[str, tuple[str, str]] = {
    "INFO_RECEIVED": (
        "Announced",
        "The sender has booked this parcel with us. We have not collected it yet; "
        "it usually moves within a working day.",
    ),
    "IN_TRANSIT": (
        "On its way",
        "We have the parcel and it is moving through our network towards you.",
    ),
    "EXCEPTION": (
        "Delayed",
        "Something held the parcel up (a damaged label, a missed connection or a check). "
        "We are dealing with it and it will move on; there is nothing you need to do.",
    ),
    "OUT_FOR_DELIVERY": (
        "Out for delivery",
        "The parcel is in the delivery van and should arrive today.",
    ),
    "DELIVERY_FAILED": (
        "Delivery attempt failed",
        "We tried to deliver the parcel but could not. We will try again, usually on the "
        "next working day.",
    ),
    "READY_FOR_PICKUP": (
        "Ready for pickup",
        "The parcel is waiting for you at a pickup point.",
    ),
    "DELIVERED": ("Delivered", "The parcel has been delivered."),
    "RETURNED_TO_SENDER": (
        "Returned to sender",
        "We could not deliver the parcel, so it is on its way back to the sender, who "
        "will be in touch.",
    ),
    "CANCELLED": (
        "Cancelled",
        "The sender cancelled this shipment before handing it over. No parcel will come.",
    ),
}

_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem;"
    "color:#1d2430}h1{font-size:1.4rem}.status{font-size:1.2rem;font-weight:600}"
    "table{border-collapse:collapse;width:100%}td,th{text-align:left;padding:.4rem;"
    "border-bottom:1px solid #dde}th{font-weight:600}.muted{color:#667;font-size:.9rem}"
)


def _page(title: str, body: str) -> bytes:
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="robots" content="noindex">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body>{body}"
        '<p class="muted">Consign LSP sandbox: a simulated carrier for trying Consign out. '
        "No real parcel moves.</p></body></html>\n"
    ).encode()


def _when(value: Any) -> str:
    try:
        at = dt.datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    if at.tzinfo is None:
        at = at.replace(tzinfo=dt.UTC)
    return at.astimezone(dt.UTC).strftime("%d %b %Y, %H:%M UTC")


def tracking_page(shipment: SandboxShipment) -> bytes:
    """The human tracking page of one shipment: status, what it means, events newest first."""
    headline, meaning = STATUS_TEXT.get(
        shipment.status, (shipment.status.replace("_", " ").capitalize(), "")
    )
    to = shipment.request.get("ship_to") or {}
    place = ", ".join(str(p) for p in (to.get("city"), to.get("country")) if p)
    kind = "Return parcel" if shipment.kind == "return" else "Parcel"
    rows = "".join(
        "<tr>"
        f"<td>{escape(_when(event.get('occurred_at', '')))}</td>"
        f"<td>{escape(str(event.get('description') or event.get('status') or ''))}</td>"
        f"<td>{escape(str(event.get('location') or ''))}</td>"
        "</tr>"
        for _, event in sorted(
            enumerate(shipment.events),
            key=lambda item: (str(item[1].get("occurred_at", "")), item[0]),
            reverse=True,
        )
    )
    events = (
        "<table><thead><tr><th>When</th><th>What happened</th><th>Where</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>"
        if rows
        else "<p>No tracking events yet.</p>"
    )
    body = (
        f"<h1>{escape(kind)} {escape(shipment.tracking_number)}</h1>"
        f'<p class="status">{escape(headline)}</p>'
        f"<p>{escape(meaning)}</p>"
        + (f"<p>Going to: {escape(place)}</p>" if place else "")
        + f"<h2>History</h2>{events}"
    )
    return _page(f"Tracking {shipment.tracking_number}: {headline}", body)


def unknown_tracking_page(number: str) -> bytes:
    body = (
        "<h1>Tracking number not found</h1>"
        f"<p>We have no parcel with the tracking number <strong>{escape(number)}</strong>. "
        "Check the number in your shipping e-mail; a new parcel can take a few minutes "
        "to appear.</p>"
    )
    return _page("Tracking number not found", body)
