"""Reading an LSP invoice CSV through the provider's profile into plain lines.

Our column names are COLUMNS; a profile maps them to the provider's and says how
its dates and numbers are written. Every unreadable row is reported with its line
number and column; a file with any is refused whole (reconcile.py imports nothing).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import lru_cache

from economics.models import ChargeType, InvoiceProfile

COLUMNS = (
    "invoice_number", "invoice_date", "reference", "tracking_number", "charge_type",
    "description", "quantity", "amount", "currency", "service_date",
)  # fmt: skip
REQUIRED = ("invoice_number", "charge_type", "amount", "currency")
CHARGE_TYPES = frozenset(choice.value for choice in ChargeType)


@dataclass(frozen=True)
class Layout:
    """A profile's reading rules (the defaults read our own format)."""

    columns: dict[str, str] = field(default_factory=dict)
    charge_types: dict[str, str] = field(default_factory=dict)
    delimiter: str = ","
    date_format: str = "%Y-%m-%d"
    decimal_separator: str = "."
    thousands_separator: str = ""

    @classmethod
    def of(cls, profile: InvoiceProfile | None) -> Layout:
        if profile is None:
            return cls()
        return cls(
            columns=dict(profile.columns),
            charge_types=dict(profile.charge_types),
            delimiter=profile.delimiter,
            date_format=profile.date_format,
            decimal_separator=profile.decimal_separator,
            thousands_separator=profile.thousands_separator,
        )

    def header(self, ours: str) -> str:
        return self.columns.get(ours, ours)


@dataclass(frozen=True)
class ParsedLine:
    line_number: int
    reference: str
    tracking_number: str
    charge_type: str
    description: str
    quantity: int
    amount: Decimal
    service_date: dt.date | None


@dataclass
class ParsedInvoice:
    number: str = ""
    currency: str = ""
    invoice_date: dt.date | None = None
    lines: list[ParsedLine] = field(default_factory=list)
    errors: list[dict[str, str]] = field(default_factory=list)


class _Row:
    def __init__(self, number: int, values: dict[str, str], layout: Layout, parsed: ParsedInvoice):
        self.number = number
        self.values = values
        self.layout = layout
        self.parsed = parsed

    def error(self, column: str, message: str) -> None:
        self.parsed.errors.append({"field": f"line {self.number}: {column}", "message": message})

    def text(self, column: str) -> str:
        return (self.values.get(self.layout.header(column)) or "").strip()

    def money(self, column: str) -> Decimal | None:
        raw = self.text(column)
        cleaned = (
            raw.replace(self.layout.thousands_separator, "")
            if self.layout.thousands_separator
            else raw
        )
        if self.layout.decimal_separator == ",":
            cleaned = cleaned.replace(",", ".")
        try:
            value = Decimal(cleaned)
        except InvalidOperation:
            self.error(column, f"{raw!r} is not an amount")
            return None
        if not value.is_finite():
            self.error(column, f"{raw!r} is not an amount")
            return None
        return value

    def date(self, column: str) -> dt.date | None:
        raw = self.text(column)
        if not raw:
            return None
        try:
            return _parsed_date(raw, self.layout.date_format)
        except ValueError:
            self.error(column, f"{raw!r} is not a date in the format {self.layout.date_format}")
            return None

    def quantity(self) -> int:
        raw = self.text("quantity")
        if not raw:
            return 1
        try:
            return int(raw)
        except ValueError:
            self.error("quantity", f"{raw!r} is not a whole number")
            return 1


@lru_cache(maxsize=4096)
def _parsed_date(raw: str, date_format: str) -> dt.date:
    # An invoice repeats a few dozen dates on 100,000 lines; strptime was a fifth of the import.
    return dt.datetime.strptime(raw, date_format).date()  # noqa: DTZ007 - a date


def _same(row: _Row, column: str, current: str) -> str:
    value = row.text(column)
    if current and value != current:
        row.error(column, f"{value!r}: a file holds one invoice, and this one is {current!r}")
    return current or value


def invoice_parse(*, text: str, profile: InvoiceProfile | None = None) -> ParsedInvoice:
    """The invoice in `text`; `errors` lists every row or column that could not be read."""
    layout = Layout.of(profile)
    parsed = ParsedInvoice()
    reader = csv.DictReader(io.StringIO(text), delimiter=layout.delimiter)
    headers = set(reader.fieldnames or [])
    missing = [layout.header(column) for column in REQUIRED if layout.header(column) not in headers]
    if missing or not ({layout.header("reference"), layout.header("tracking_number")} & headers):
        parsed.errors.append(
            {
                "field": "header",
                "message": "the first line must name the columns "
                + ", ".join(missing or [f"{layout.header('reference')} or tracking number"]),
            }
        )
        return parsed
    for number, values in enumerate(reader, start=2):
        row = _Row(number, values, layout, parsed)
        parsed.number = _same(row, "invoice_number", parsed.number)
        parsed.currency = _same(row, "currency", parsed.currency).upper()
        invoice_date = row.date("invoice_date")  # read on every row, so each bad one is named
        parsed.invoice_date = parsed.invoice_date or invoice_date
        code = row.text("charge_type")
        charge_type = layout.charge_types.get(code, code)
        if charge_type not in CHARGE_TYPES:
            row.error("charge_type", f"{code!r} is not a known charge type (map it in the profile)")
        amount = row.money("amount")
        if amount is None:
            continue
        parsed.lines.append(
            ParsedLine(
                line_number=number,
                reference=row.text("reference"),
                tracking_number=row.text("tracking_number"),
                charge_type=charge_type,
                description=row.text("description")[:200],
                quantity=row.quantity(),
                amount=amount,
                service_date=row.date("service_date"),
            )
        )
    if not parsed.number and not parsed.errors:
        parsed.errors.append({"field": "invoice_number", "message": "the invoice has no number"})
    if not parsed.lines and not parsed.errors:
        parsed.errors.append({"field": "lines", "message": "the invoice has no lines"})
    return parsed
