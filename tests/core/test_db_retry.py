"""Deadlocks and serialization failures are retried a bounded number of times, with jitter,
proved with real concurrent Postgres connections."""

from __future__ import annotations

import threading

import pytest
from django.db import DatabaseError, OperationalError, connection, connections, transaction

from core.db_retry import db_retry, is_retryable


class _PgError(Exception):
    def __init__(self, sqlstate):
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


def _db_error(sqlstate: str) -> OperationalError:
    try:
        raise OperationalError("boom") from _PgError(sqlstate)
    except OperationalError as exc:
        return exc


@pytest.fixture
def lock_table(transactional_db):
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE drill_lock (id int PRIMARY KEY, n int NOT NULL)")
        cursor.execute("INSERT INTO drill_lock VALUES (1, 0), (2, 0)")
    yield
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE drill_lock")


def test_a_real_deadlock_is_retried_until_both_transactions_commit(lock_table):
    barrier = threading.Barrier(2, timeout=20)
    attempts = {"a": 0, "b": 0}
    errors: list[BaseException] = []

    def transfer(name: str, first: int, second: int) -> None:
        def body():
            attempts[name] += 1
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("UPDATE drill_lock SET n = n + 1 WHERE id = %s", [first])
                if attempts[name] == 1:
                    barrier.wait()  # both hold their first row: opposite order → deadlock
                cursor.execute("UPDATE drill_lock SET n = n + 1 WHERE id = %s", [second])

        try:
            db_retry(body, attempts=4, base_seconds=0.05)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [
        threading.Thread(target=transfer, args=("a", 1, 2)),
        threading.Thread(target=transfer, args=("b", 2, 1)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert sorted(attempts.values()) == [1, 2]  # Postgres aborted exactly one, once
    with connection.cursor() as cursor:
        cursor.execute("SELECT sum(n) FROM drill_lock")
        assert cursor.fetchone()[0] == 4


def test_a_real_serialization_failure_is_retryable(lock_table):
    barrier = threading.Barrier(2, timeout=20)
    caught: list[BaseException] = []

    def writer(value: int) -> None:
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE")
                cursor.execute("SELECT sum(n) FROM drill_lock")
                barrier.wait()
                cursor.execute("UPDATE drill_lock SET n = %s WHERE id = %s", [value, value])
        except DatabaseError as exc:
            caught.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=writer, args=(i,)) for i in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(caught) == 1
    assert is_retryable(caught[0])


def test_retries_stop_after_the_configured_number_of_attempts():
    calls = []

    def always_deadlocks():
        calls.append(1)
        raise _db_error("40P01")

    with pytest.raises(OperationalError):
        db_retry(always_deadlocks, attempts=3, base_seconds=0)
    assert len(calls) == 3


def test_serialization_failure_is_retried():
    calls = []

    def once():
        calls.append(1)
        if len(calls) == 1:
            raise _db_error("40001")
        return "ok"

    assert db_retry(once, attempts=3, base_seconds=0) == "ok"
    assert len(calls) == 2


def test_other_database_errors_are_not_retried():
    calls = []

    def unique_violation():
        calls.append(1)
        raise _db_error("23505")

    with pytest.raises(OperationalError):
        db_retry(unique_violation, attempts=5, base_seconds=0)
    assert len(calls) == 1


def test_backoff_is_jittered_and_bounded(monkeypatch):
    sleeps: list[float] = []
    monkeypatch.setattr("core.db_retry.time.sleep", sleeps.append)

    def always_deadlocks():
        raise _db_error("40P01")

    for _ in range(20):
        with pytest.raises(OperationalError):
            db_retry(always_deadlocks, attempts=3, base_seconds=0.1)
    firsts, seconds = sleeps[0::2], sleeps[1::2]
    assert all(0 <= s <= 0.1 for s in firsts)
    assert all(0 <= s <= 0.2 for s in seconds)
    assert len(set(sleeps)) > 10  # random, not lockstep


@pytest.mark.django_db
def test_inside_an_outer_transaction_nothing_is_retried():
    calls = []

    def deadlocks():
        calls.append(1)
        raise _db_error("40P01")

    with transaction.atomic(), pytest.raises(OperationalError):
        db_retry(deadlocks, attempts=4, base_seconds=0)
    assert len(calls) == 1
