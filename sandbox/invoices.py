"""The sandbox bills too: its monthly invoice as CSV, priced with a rate card, faults on request.

`GET /invoices/<YYYY-MM>.csv` lists, per outbound shipment the sandbox accepted in that
month (UTC) and did not cancel, one line per charge type the rate card gives it (the
card the sandbox was started with, `--rate-card FILE`, in Consign's rate-card CSV
format; economics.pricing prices it exactly as Consign's expected cost does). Faults,
counted over those lines in order (1-based), for rehearsing reconciliation:

- `overcharge_every=N`: every Nth line is billed 10 % over (at least two minor units);
- `duplicate_every=N`: every Nth line is billed a second time, right after;
- `unknown_every=N`: after every Nth line, a line for a reference the sandbox never had.

The columns are Consign's own invoice columns, so it imports with no profile.
"""

from __future__ import annotations

import calendar
import datetime as dt
import io
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

from core.csv_safe import csv_writer
from economics import pricing

COLUMNS = (
    "invoice_number", "invoice_date", "reference", "tracking_number", "charge_type",
    "description", "quantity", "amount", "currency", "service_date",
)  # fmt: skip
MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
FAULTS = ("overcharge_every", "duplicate_every", "unknown_every")


class Billable(Protocol):
    id: str
    tracking_number: str
    request: dict[str, Any]
    created_at: float
    cancelled: bool
    kind: str


@dataclass(frozen=True)
class Faults:
    overcharge_every: int = 0
    duplicate_every: int = 0
    unknown_every: int = 0

    @classmethod
    def from_query(cls, query: Mapping[str, list[str]]) -> Faults:
        """ValueError (with the reason) for a parameter that is not a whole number ≥ 0."""
        values = {}
        for name in FAULTS:
            raw = (query.get(name) or ["0"])[-1]
            if not raw.isdigit():
                raise ValueError(f"{name} must be a whole number of at least 0, not {raw!r}")
            values[name] = int(raw)
        return cls(**values)


def month_bounds(month: str) -> tuple[float, float, dt.date]:
    """(start, end) epoch seconds of the UTC month and its last day; ValueError if not YYYY-MM."""
    found = MONTH.match(month)
    if found is None:
        raise ValueError(f"{month!r} is not a month (YYYY-MM)")
    year, number = int(found.group(1)), int(found.group(2))
    start = dt.datetime(year, number, 1, tzinfo=dt.UTC)
    last = calendar.monthrange(year, number)[1]
    end = start + dt.timedelta(days=last)
    return start.timestamp(), end.timestamp(), dt.date(year, number, last)


def work_of(request: Mapping[str, Any]) -> pricing.ShipmentWork:
    """What the sandbox did for a shipment, from the request Consign sent it."""
    ship_to = request.get("ship_to") or {}
    return pricing.ShipmentWork(
        units=sum(int(line.get("quantity") or 0) for line in request.get("lines") or []),
        parcel_weights_grams=tuple(
            int(parcel.get("weight_grams") or 0) for parcel in request.get("parcels") or []
        ),
        country=str(ship_to.get("country") or ""),
        postcode=str(ship_to.get("postcode") or ""),
        customs_declarations=1 if request.get("customs") else 0,
    )


def _base_lines(
    shipments: Iterable[Billable], card: pricing.CardTerms, start: float, end: float
) -> list[dict[str, Any]]:
    lines = []
    billable = sorted(
        (s for s in shipments if s.kind == "outbound" and not s.cancelled),
        key=lambda s: (s.created_at, s.id),
    )
    for shipment in billable:
        if not start <= shipment.created_at < end:
            continue
        quote = pricing.shipment_quote(card, work_of(shipment.request))
        by_type: dict[str, tuple[Decimal, list[str]]] = {}
        for line in quote.lines:
            amount, names = by_type.get(line.charge_type, (Decimal(0), []))
            by_type[line.charge_type] = (amount + line.amount, [*names, line.description])
        day = dt.datetime.fromtimestamp(shipment.created_at, tz=dt.UTC).date().isoformat()
        for charge_type, (amount, names) in by_type.items():
            if amount > 0:  # nobody bills a zero line
                lines.append(
                    {
                        "reference": shipment.id,
                        "tracking_number": shipment.tracking_number,
                        "charge_type": charge_type,
                        "description": "; ".join(names),
                        "quantity": 1,
                        "amount": amount,
                        "service_date": day,
                    }
                )
    return lines


def _with_faults(lines: list[dict[str, Any]], faults: Faults, places: int) -> list[dict[str, Any]]:
    minor = Decimal(1).scaleb(-places)
    out: list[dict[str, Any]] = []
    for index, line in enumerate(lines, start=1):
        if faults.overcharge_every and index % faults.overcharge_every == 0:
            extra = max(pricing.money(line["amount"] / 10, places), 2 * minor)
            line = {**line, "amount": line["amount"] + extra}
        out.append(line)
        if faults.duplicate_every and index % faults.duplicate_every == 0:
            out.append(dict(line))
        if faults.unknown_every and index % faults.unknown_every == 0:
            out.append(
                {
                    **line,
                    "reference": f"sbx_never_{index:08d}",
                    "tracking_number": f"SBXNEVER{index:08d}",
                }
            )
    return out


def invoice_csv(
    *, month: str, shipments: Iterable[Billable], card: pricing.CardTerms, faults: Faults
) -> str:
    """The invoice for `month` as CSV text (see the module doc)."""
    start, end, last_day = month_bounds(month)
    lines = _with_faults(_base_lines(shipments, card, start, end), faults, card.places)
    out = io.StringIO()
    writer = csv_writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for line in lines:
        writer.writerow(
            [
                f"SBX-{month}",
                last_day.isoformat(),
                line["reference"],
                line["tracking_number"],
                line["charge_type"],
                line["description"],
                line["quantity"],
                f"{line['amount']:.{card.places}f}",
                card.currency,
                line["service_date"],
            ]
        )
    return out.getvalue()
