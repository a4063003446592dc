"""Several statements, one network round trip (psycopg's pipeline mode)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection


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
