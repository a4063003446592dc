"""Hot-path helpers for Postgres: pipelined round trips and prepared statements."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Self, TypeVar

import psycopg
from django.db import connection
from psycopg.abc import Params, QueryNoTemplate

Row = TypeVar("Row")


@contextmanager
def pipelined() -> Iterator[None]:
    """Queue the statements executed inside and send them together.

    Postgres still runs them one after another, each in its own snapshot (so a
    read queued after a `FOR UPDATE` sees what the lock holder committed); only
    the waiting between them goes. A statement's result is available once any
    later fetch, or the end of the block, has synchronised the pipeline; an
    error is raised there, and the statements queued after it do not run.
    Worth it on hot paths where one process waits for many small statements.
    """
    connection.ensure_connection()
    with connection.connection.pipeline():
        yield


@contextmanager
def prepared_cursor() -> Iterator[psycopg.Cursor]:
    """A cursor whose statements Postgres plans once per connection and then reuses.

    Django's cursors bind parameters on the client, so Postgres parses and plans
    every statement again; for a complex statement on a hot path the planning
    costs more than the execution. This cursor binds on the server and prepares
    (`execute(..., prepare=True)`). It bypasses Django's cursor wrapper; errors
    are still translated to django.db exceptions, and while Django records
    queries (DEBUG, or a test's CaptureQueriesContext and
    django_assert_num_queries) each statement is recorded too, so that query
    counts stay honest.
    """
    connection.ensure_connection()
    with connection.wrap_database_errors, _RecordedCursor(connection.connection) as cursor:
        yield cursor


class _RecordedCursor(psycopg.Cursor):
    # Only psycopg's first overload: Django's statements are plain strings, never t-string
    # templates (the second overload, which takes no params).
    def execute(  # type: ignore[override]
        self,
        query: QueryNoTemplate,
        params: Params | None = None,
        *,
        prepare: bool | None = None,
        binary: bool | None = None,
    ) -> Self:
        if not connection.queries_logged:
            return super().execute(query, params, prepare=prepare, binary=binary)
        started = time.monotonic()
        try:
            return super().execute(query, params, prepare=prepare, binary=binary)
        finally:
            connection.queries_log.append(
                {
                    "sql": f"{query!s} -- prepared, params {params!r}",
                    "time": f"{time.monotonic() - started:.3f}",
                }
            )


def one_row(cursor: psycopg.Cursor[Row]) -> Row:
    """The row of a statement that always returns exactly one (an aggregate, a function
    call, a SELECT without FROM); fetched, so that a pipeline is synchronised here."""
    row = cursor.fetchone()
    if row is None:
        raise RuntimeError("The statement returned no row.")
    return row
