"""Races proved with real concurrent Postgres connections (one per thread)."""

import threading

import pytest
from django.db import connection

from backoffice.models import BulkJob
from backoffice.services import bulk_hold_job_create, bulk_job_run
from core.errors import Conflict
from orders.models import Hold, Order
from orders.services.holds import order_hold_place
from tests.orders.factories import OrderFactory

pytestmark = [pytest.mark.django_db(transaction=True)]


def _race(target, n: int = 2) -> list:
    barrier = threading.Barrier(n)
    outcomes: list = [None] * n

    def run(i):
        try:
            barrier.wait(timeout=10)
            outcomes[i] = target()
        except Exception as exc:
            outcomes[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return outcomes


def test_two_workers_on_the_same_bulk_job_do_the_work_once(manager):
    orders = OrderFactory.create_batch(60)
    job = bulk_hold_job_create(user=manager, order_ids=[o.pk for o in orders], reason="manual")

    outcomes = _race(lambda: bulk_job_run(job_id=job.pk))

    assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
    job.refresh_from_db()
    assert (job.status, job.processed, job.succeeded, job.failed) == ("done", 60, 60, 0)
    assert len(job.results) == 60
    assert Hold.objects.count() == 60


def test_two_agents_placing_the_same_hold_make_one_hold(agent, manager):
    order = OrderFactory()
    users = iter([agent, manager])
    lock = threading.Lock()

    def place():
        with lock:
            user = next(users)
        return order_hold_place(order=order, reason="fraud_review", user=user)

    outcomes = _race(place)

    assert sum(isinstance(o, Hold) for o in outcomes) == 1
    assert sum(isinstance(o, Conflict) for o in outcomes) == 1
    assert Hold.objects.filter(order=order).count() == 1
    order.refresh_from_db()
    assert order.status == Order.Status.ON_HOLD
    assert order.events.filter(type="hold_placed").count() == 1
    assert BulkJob.objects.count() == 0
