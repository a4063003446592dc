"""Generic SQL fragments for JSON that Postgres renders (no table names here).

The apps' `sql.py` modules build the partner API's documents from these, so that a
time or an empty list looks the same whichever app's table it comes from.
"""

from __future__ import annotations


def utc_iso(column: str) -> str:
    """SQL for a timestamptz column as Python's `isoformat()` of it in UTC, `Z` for +00:00."""
    return (
        f"to_char({column} AT TIME ZONE 'UTC', CASE WHEN date_trunc('second', {column}) = {column}"
        ' THEN \'YYYY-MM-DD"T"HH24:MI:SS"Z"\' ELSE \'YYYY-MM-DD"T"HH24:MI:SS.US"Z"\' END)'
    )


def json_array(select: str) -> str:
    """A json_agg subquery that gives [] rather than null when it finds nothing."""
    return f"COALESCE(({select}), '[]'::json)"
