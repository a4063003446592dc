"""Celery tasks reuse their database connection, the way web requests do."""

from types import SimpleNamespace

import pytest
from celery.fixups.django import DjangoWorkerFixup
from celery.signals import task_postrun, task_prerun
from django.db import connection, transaction

from config.celery import app


def _boundary(*, eager: bool) -> None:
    task = SimpleNamespace(request=SimpleNamespace(is_eager=eager))
    task_postrun.send(sender=None, task=task, task_id="t1")
    task_prerun.send(sender=None, task=task, task_id="t2")


def test_celery_fixup_does_not_close_connections_after_each_task():
    # Celery closes every connection around every task unless this limit is set.
    assert DjangoWorkerFixup(app).db_reuse_max >= 10**9


@pytest.mark.django_db(transaction=True)
def test_a_healthy_connection_survives_a_task_boundary():
    connection.ensure_connection()
    before = connection.connection
    _boundary(eager=False)
    assert connection.connection is before


@pytest.mark.django_db(transaction=True)
def test_a_connection_that_failed_is_closed_at_the_task_boundary():
    connection.ensure_connection()
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    connection.errors_occurred = True
    connection.connection.close()  # what a Postgres restart leaves behind
    _boundary(eager=False)
    assert connection.connection is None


@pytest.mark.django_db
def test_an_eager_task_leaves_its_callers_transaction_alone():
    with transaction.atomic():
        before = connection.connection
        _boundary(eager=True)
        assert connection.connection is before
        assert connection.in_atomic_block
