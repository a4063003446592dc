"""The one CSV writer of every export, with the spreadsheet formula injection guard.

OWASP "CSV Injection": a spreadsheet runs a cell that starts with `=`, `+`, `-` or
`@` as a formula (and may strip a leading tab, CR, LF or NUL and then see one), so a
product name like `=HYPERLINK(...)` typed by a partner would run on the machine of
whoever opens the export. Every export writes through `csv_writer`, which escapes
every cell; tests/core/test_csv_exports.py fails on a `csv.writer` anywhere else.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from _typeshed import SupportsWrite

# A spreadsheet treats a cell starting with these as a formula (or, for tab/CR/NUL,
# may strip the first character and then see one).
_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\n", "\0")


def csv_cell(value: Any) -> str | int | float:
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


def csv_row(values: Iterable[Any]) -> list[str | int | float]:
    return [csv_cell(value) for value in values]


def csv_cell_unescape(text: str) -> str:
    """Undo `csv_cell` on a cell read back (an export edited and imported again)."""
    if text.startswith("'") and text[1:].startswith(_TRIGGERS):
        return text[1:]
    return text


class SafeCsvWriter:
    """csv.writer whose every cell goes through `csv_cell`."""

    def __init__(self, out: SupportsWrite[str], **kwargs: Any) -> None:
        self._writer = csv.writer(out, **kwargs)

    def writerow(self, row: Iterable[Any]) -> Any:
        return self._writer.writerow(csv_row(row))

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


def csv_writer(out: SupportsWrite[str], **kwargs: Any) -> SafeCsvWriter:
    """The writer for every CSV export: like csv.writer(out, ...), with every cell escaped."""
    return SafeCsvWriter(out, **kwargs)
