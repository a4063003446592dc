"""Two returns for the same units at the same moment: the order lock lets only one through."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from core.errors import ValidationFailed
from returns.models import ReturnLine
from returns.services import RequestedLine, return_request_create
from tests.logistics.processes import purge_queues
from tests.returns.helpers import delivered_order

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_concurrent_requests_for_the_last_unit_make_one_return():
    order = delivered_order(quantities=(1,), prices=("10.00",))
    barrier = threading.Barrier(4)
    outcomes: list[str] = []
    lock = threading.Lock()

    def request() -> None:
        try:
            barrier.wait(timeout=10)
            return_request_create(
                order=order,
                lines=[RequestedLine(line_number=1, quantity=1, reason="other")],
                actor="test",
            )
            result = "created"
        except ValidationFailed as exc:
            result = exc.code
        finally:
            connection.close()
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=request) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    purge_queues()  # the winner's label task went to the real broker; no worker here

    assert sorted(outcomes) == ["created"] + ["return_quantity_already_returned"] * 3
    assert ReturnLine.objects.filter(order_line__order=order).count() == 1
