"""A rule set's rules as CSV: one row per rule, the columns `position` and RULE_FIELDS.

Lists (channels, countries, sites, ...) are joined with `|`; `customs_required` is
`true`, `false` or empty (either); empty cells are "no condition" or "the default".
Rows are numbered as a spreadsheet shows them (the header is row 1). An import replaces
a draft's rules and is all or nothing: every bad row is reported with its number and
column, and nothing changes unless every row reads and validates.
"""

from __future__ import annotations

import csv
import io
from decimal import Decimal, InvalidOperation
from typing import Any

from core.csv_safe import csv_cell_unescape, csv_writer
from core.errors import ValidationFailed
from routing.models import Rule, RuleSet
from routing.services.rulesets import (
    RULE_FIELDS,
    known_codes,
    rule_validate,
    rules_replace,
)

COLUMNS = ["position", *RULE_FIELDS]
LIST_FIELDS = {
    "channels",
    "countries",
    "postcode_prefixes",
    "service_levels",
    "skus",
    "tags",
    "sites",
    "providers",
}
DECIMAL_FIELDS = {"min_order_value", "max_order_value"}
INTEGER_FIELDS = {"min_weight_grams", "max_weight_grams", "max_shipments", "max_delivery_days"}
TRUE, FALSE = {"true", "yes", "1"}, {"false", "no", "0"}
MAX_ROWS = 1000
MAX_REPORTED = 200


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "|".join(str(v) for v in value)
    return str(value)


def rules_csv_export(*, rule_set: RuleSet) -> str:
    """The rule set's rules as the CSV rules_csv_import reads (a round trip keeps them)."""
    out = io.StringIO()
    writer = csv_writer(out)
    writer.writerow(COLUMNS)
    for rule in rule_set.rules.order_by("position"):
        writer.writerow([rule.position, *(_cell(getattr(rule, f)) for f in RULE_FIELDS)])
    return out.getvalue()


class _Row:
    def __init__(self, number: int, values: dict[str, str]) -> None:
        self.number = number
        self.values = values
        self.errors: list[dict[str, str]] = []

    def error(self, column: str, message: str) -> None:
        self.errors.append({"field": f"row {self.number}: {column}", "message": message})

    def text(self, column: str) -> str:
        return csv_cell_unescape((self.values.get(column) or "").strip())

    def value(self, column: str) -> Any:
        raw = self.text(column)
        if column in LIST_FIELDS:
            return [part.strip() for part in raw.split("|") if part.strip()]
        if not raw:
            return "" if column in {"split_policy", "objective", "name"} else None
        if column in DECIMAL_FIELDS:
            try:
                number = Decimal(raw)
            except InvalidOperation:
                number = Decimal("NaN")
            if not number.is_finite():
                self.error(column, f"{raw!r} is not a number (use a dot for decimals)")
                return None
            return number
        if column in INTEGER_FIELDS or column == "position":
            if not (raw.isascii() and raw.isdigit() and len(raw) <= 9):
                self.error(column, f"{raw!r} is not a whole number of at least 0")
                return None
            return int(raw)
        if column == "customs_required":
            if raw.lower() not in TRUE | FALSE:
                self.error(column, f"{raw!r} is not true, false or empty")
                return None
            return raw.lower() in TRUE
        return raw

    def rule(self) -> tuple[int | None, Rule]:
        fields = {f: self.value(f) for f in RULE_FIELDS}
        fields["countries"] = [c.upper() for c in fields["countries"]]
        fields["action"] = fields["action"] or "none"
        return self.value("position"), Rule(position=0, **fields)


def _parse(text: str) -> tuple[list[tuple[int, int | None, Rule]], list[dict[str, str]]]:
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [(name or "").strip() for name in reader.fieldnames or []]
    missing = [c for c in ("name",) if c not in header]
    unknown = [c for c in header if c and c not in COLUMNS]
    errors = [{"field": "row 1", "message": f"missing column {c}"} for c in missing]
    errors += [{"field": "row 1", "message": f"unknown column {c}"} for c in unknown]
    if errors:
        return [], errors
    reader.fieldnames = header
    known = known_codes()
    parsed = []
    for number, values in enumerate(reader, start=2):
        if number > MAX_ROWS + 1:
            errors.append({"field": f"row {number}", "message": f"at most {MAX_ROWS} rules"})
            break
        row = _Row(number, {k: v for k, v in values.items() if k is not None})
        position, rule = row.rule()
        if not row.errors:
            try:
                rule_validate(rule, known)
            except ValidationFailed as exc:
                for error in exc.errors:
                    row.error(error["field"], error["message"])
        errors += row.errors
        parsed.append((number, position, rule))
    return parsed, errors


def rules_csv_import(*, rule_set_id: int, text: str) -> int:
    """Replace the draft's rules with the file's (ordered by `position`, then by row; an
    empty position goes after the numbered ones). Returns how many; ValidationFailed lists
    every bad row (`row N: column`) and changes nothing."""
    parsed, errors = _parse(text)
    positions: dict[int, int] = {}
    for number, position, _ in parsed:
        if position is None:
            continue
        if position in positions:
            errors.append(
                {
                    "field": f"row {number}: position",
                    "message": f"position {position} is also on row {positions[position]}",
                }
            )
        positions.setdefault(position, number)
    if errors:
        raise ValidationFailed(
            f"The rules file has {len(errors)} error(s); nothing was imported.",
            code="rules_csv_invalid",
            errors=errors[:MAX_REPORTED],
        )
    ordered = sorted(parsed, key=lambda item: (item[1] is None, item[1] or 0, item[0]))
    rules_replace(rule_set_id=rule_set_id, rules=[rule for _, _, rule in ordered])
    return len(ordered)
