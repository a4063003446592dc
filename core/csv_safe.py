"""Spreadsheet formula injection guard for every CSV/XLSX export (OWASP "CSV Injection")."""

from __future__ import annotations

from typing import Any

# A spreadsheet treats a cell starting with these as a formula (or, for tab/CR/NUL,
# may strip the first character and then see one).
_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\n", "\0")


def csv_cell(value: Any) -> Any:
    """The value, with a leading apostrophe when a spreadsheet would run it as a formula.

    Numbers stay numbers (a negative quantity is data, not a formula); only text is escaped.
    """
    if value is None:
        return ""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    text = str(value)
    if text.startswith(_TRIGGERS):
        return "'" + text.replace("\0", "")
    return text


def csv_row(values) -> list:
    return [csv_cell(value) for value in values]
