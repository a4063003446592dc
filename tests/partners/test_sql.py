"""partners/sql.py statements against their ORM equivalents (STYLE.md rule 18)."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.utils import timezone

from partners import sql as partners_sql
from partners.models import IdempotencyRecord

pytestmark = pytest.mark.django_db


def _record(api_key, key: str) -> IdempotencyRecord:
    now = timezone.now()
    return IdempotencyRecord.objects.create(
        api_key=api_key,
        key=key,
        request_method="POST",
        request_path="/api/v1/orders/",
        request_hash="abc",
        response_status=201,
        response_content_type="application/json",
        response_body='{"number": "CS-000001"}',
        response_location="/api/v1/orders/CS-000001/",
        created_at=now,
        completed_at=now,
    )


def test_idempotency_record_row_is_the_orm_record_of_that_key(api_key):
    api_key, _secret = api_key
    wanted = _record(api_key, "k-1")
    _record(api_key, "k-2")
    with connection.cursor() as cursor:
        cursor.execute(partners_sql.IDEMPOTENCY_RECORD_SQL, [api_key.pk, "k-1"])
        rows = cursor.fetchall()
    assert len(rows) == 1
    orm = IdempotencyRecord.objects.values_list(*partners_sql.IDEMPOTENCY_RECORD_FIELDS).get(
        pk=wanted.pk
    )
    assert tuple(rows[0]) == orm


def test_idempotency_record_of_an_unknown_key_is_no_row(api_key):
    api_key, _secret = api_key
    with connection.cursor() as cursor:
        cursor.execute(partners_sql.IDEMPOTENCY_RECORD_SQL, [api_key.pk, "never-used"])
        assert cursor.fetchall() == []


@pytest.mark.django_db(transaction=True)
def test_idempotency_claim_is_held_by_one_transaction_at_a_time():
    # The ORM has no advisory locks: the equivalent is "a second connection cannot take it".
    from django.db import connections

    other = connections.create_connection("default")
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(partners_sql.IDEMPOTENCY_CLAIM_SQL, ["1:k"])
            assert cursor.fetchone()[0] is True
            with other.cursor() as second:
                second.execute(partners_sql.IDEMPOTENCY_CLAIM_SQL, ["1:k"])
                assert second.fetchone()[0] is False
        with other.cursor() as second:
            second.execute(partners_sql.IDEMPOTENCY_CLAIM_SQL, ["1:k"])
            assert second.fetchone()[0] is True
    finally:
        other.close()
