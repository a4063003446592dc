"""Bulk hold as a resumable job: enqueue on commit, progress, per-order outcome, CSV result."""

import csv
import io

import pytest

from backoffice.models import BulkJob
from backoffice.services import bulk_hold_job_create, bulk_job_run
from core.errors import ValidationFailed
from orders.models import Hold, Order
from tests.orders.factories import OrderFactory

pytestmark = pytest.mark.django_db


def test_job_is_enqueued_only_after_commit(manager, django_capture_on_commit_callbacks):
    orders = OrderFactory.create_batch(3)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        job = bulk_hold_job_create(user=manager, order_ids=[o.pk for o in orders], reason="manual")
    assert len(callbacks) == 1
    assert job.status == BulkJob.Status.QUEUED
    assert job.total == 3


def test_empty_selection_is_refused(manager):
    with pytest.raises(ValidationFailed):
        bulk_hold_job_create(user=manager, order_ids=[], reason="manual")


def test_run_holds_every_order_and_reports_progress(manager):
    orders = OrderFactory.create_batch(45)
    job = bulk_hold_job_create(
        user=manager, order_ids=[o.pk for o in orders], reason="fraud_review"
    )
    job = bulk_job_run(job_id=job.pk)
    assert job.status == BulkJob.Status.DONE
    assert (job.processed, job.succeeded, job.failed, job.percent) == (45, 45, 0, 100)
    assert Order.objects.filter(pk__in=[o.pk for o in orders], status="on_hold").count() == 45
    assert Hold.objects.filter(placed_by=manager).count() == 45


def test_one_refused_order_does_not_undo_the_others(manager):
    shipped = OrderFactory(status=Order.Status.SHIPPED)
    fine = OrderFactory()
    job = bulk_hold_job_create(user=manager, order_ids=[shipped.pk, fine.pk], reason="manual")
    job = bulk_job_run(job_id=job.pk)
    assert (job.succeeded, job.failed) == (1, 1)
    outcomes = {row[0]: row[1] for row in job.results}
    assert outcomes == {shipped.number: "failed", fine.number: "done"}


def test_running_a_finished_job_again_changes_nothing(manager):
    orders = OrderFactory.create_batch(5)
    job = bulk_hold_job_create(user=manager, order_ids=[o.pk for o in orders], reason="manual")
    bulk_job_run(job_id=job.pk)
    job = bulk_job_run(job_id=job.pk)
    assert job.processed == 5
    assert Hold.objects.count() == 5


def test_interrupted_job_resumes_where_it_stopped(manager):
    orders = OrderFactory.create_batch(6)
    job = bulk_hold_job_create(user=manager, order_ids=[o.pk for o in orders], reason="manual")
    # As if a worker died after the first two orders were saved.
    for order in orders[:2]:
        from orders.services.holds import order_hold_place

        order_hold_place(order=order, reason="manual", user=manager)
    BulkJob.objects.filter(pk=job.pk).update(
        processed=2,
        succeeded=2,
        status=BulkJob.Status.RUNNING,
        results=[[o.number, "done", ""] for o in orders[:2]],
    )
    job = bulk_job_run(job_id=job.pk)
    assert (job.processed, job.succeeded, job.failed) == (6, 6, 0)
    assert Hold.objects.count() == 6


def test_status_and_csv_result_through_the_views(client, manager):
    orders = OrderFactory.create_batch(3)
    client.force_login(manager)
    response = client.post(
        "/ops/bulk-hold/",
        {
            "action": "hold",
            "numbers": " ".join(o.number for o in orders),
            "reason": "manual",
            "confirm": "1",
        },
    )
    assert response.status_code == 303
    job = BulkJob.objects.get()
    assert response["Location"] == f"/ops/jobs/{job.pk}/"
    bulk_job_run(job_id=job.pk)
    status = client.get(f"/ops/jobs/{job.pk}/status.json").json()
    assert status["percent"] == 100
    assert status["finished"] is True
    body = client.get(f"/ops/jobs/{job.pk}/result.csv").content.decode()
    rows = list(csv.reader(io.StringIO(body)))
    assert rows[0] == ["order", "outcome", "detail"]
    assert sorted(r[0] for r in rows[1:]) == sorted(o.number for o in orders)


def test_bulk_hold_by_status_selects_every_order_in_it(client, manager):
    OrderFactory.create_batch(4, status=Order.Status.BACKORDERED)
    OrderFactory(status=Order.Status.RECEIVED)
    client.force_login(manager)
    client.post(
        "/ops/bulk-hold/",
        {"action": "hold", "status": "backordered", "reason": "manual", "confirm": "1"},
    )
    assert BulkJob.objects.get().total == 4


def test_selected_rows_from_the_exception_queue_become_a_job(client, manager):
    orders = OrderFactory.create_batch(2)
    client.force_login(manager)
    client.post(
        "/ops/bulk-hold/",
        {"action": "hold", "order_ids": [o.pk for o in orders], "reason": "manual"},
    )
    assert BulkJob.objects.get().order_ids == [o.pk for o in orders]


def test_unknown_hold_reason_is_refused_before_any_job(manager):
    with pytest.raises(ValidationFailed):
        bulk_hold_job_create(user=manager, order_ids=[OrderFactory().pk], reason="whim")
    assert not BulkJob.objects.exists()


def test_export_writes_one_csv_row_per_order(client, manager):
    orders = OrderFactory.create_batch(3, status=Order.Status.BACKORDERED)
    client.force_login(manager)
    client.post("/ops/bulk-hold/", {"action": "export", "status": "backordered", "confirm": "1"})
    job = BulkJob.objects.get()
    assert job.kind == BulkJob.Kind.ORDER_EXPORT
    bulk_job_run(job_id=job.pk)
    rows = list(
        csv.reader(io.StringIO(client.get(f"/ops/jobs/{job.pk}/result.csv").content.decode()))
    )
    assert rows[0][:3] == ["order", "status", "channel"]
    assert sorted(r[0] for r in rows[1:]) == sorted(o.number for o in orders)
    assert not Hold.objects.exists()


def test_hold_without_a_reason_is_shown_again(client, manager):
    order = OrderFactory()
    client.force_login(manager)
    response = client.post("/ops/bulk-hold/", {"action": "hold", "numbers": order.number})
    assert response.status_code == 422
    assert not BulkJob.objects.exists()


def test_csv_cells_that_look_like_formulas_are_neutralised(client, manager):
    order = OrderFactory(customer_name="=HYPERLINK(1)")
    job = order_export_job_create_for(manager, [order.pk])
    bulk_job_run(job_id=job.pk)
    client.force_login(manager)
    body = client.get(f"/ops/jobs/{job.pk}/result.csv").content.decode()
    assert "'=HYPERLINK(1)" in body


def order_export_job_create_for(user, ids):
    from backoffice.services import order_export_job_create

    return order_export_job_create(user=user, order_ids=ids)


# --- Issue 16 item 9: typed numbers are checked, and every line gets an outcome --------


def _csv(client, job) -> list[list[str]]:
    return list(
        csv.reader(io.StringIO(client.get(f"/ops/jobs/{job.pk}/result.csv").content.decode()))
    )


def test_typed_numbers_are_checked_before_any_job_starts(client, manager):
    order = OrderFactory()
    client.force_login(manager)
    response = client.post(
        "/ops/bulk-hold/",
        {"action": "hold", "numbers": f"55, {order.number}\nCS-999999 hello", "reason": "manual"},
    )
    assert response.status_code == 200
    assert not BulkJob.objects.exists()
    preview = response.context["preview"]
    assert preview["recognised"] == 1
    assert [entry for entry, _why in preview["unrecognised"]] == ["55", "CS-999999", "hello"]
    body = response.content.decode()
    assert "1 order recognised" in body
    for entry in ("55", "CS-999999", "hello"):
        assert f"<code>{entry}</code>" in body
    assert 'name="confirm"' in body


def test_nothing_to_start_when_no_entry_names_an_order(client, manager):
    client.force_login(manager)
    response = client.post(
        "/ops/bulk-hold/", {"action": "hold", "numbers": "55 hello", "reason": "manual"}
    )
    assert response.context["preview"]["recognised"] == 0
    assert 'name="confirm"' not in response.content.decode()
    response = client.post(
        "/ops/bulk-hold/",
        {"action": "hold", "numbers": "55 hello", "reason": "manual", "confirm": "1"},
    )
    assert response.status_code == 422
    assert not BulkJob.objects.exists()


def test_result_lists_every_input_line_with_its_outcome(client, manager):
    fine = OrderFactory()
    shipped = OrderFactory(status=Order.Status.SHIPPED)
    client.force_login(manager)
    typed = [fine.number.lower(), "55", shipped.number, "CS-999999", fine.number, "hello"]
    client.post(
        "/ops/bulk-hold/",
        {"action": "hold", "numbers": "\n".join(typed), "reason": "manual", "confirm": "1"},
    )
    job = BulkJob.objects.get()
    assert job.total == 2
    job = bulk_job_run(job_id=job.pk)
    rows = _csv(client, job)
    assert rows[0] == ["order", "outcome", "detail"]
    assert [(row[0], row[1]) for row in rows[1:]] == [
        (fine.number, "done"),
        ("55", "not_found"),
        (shipped.number, "failed"),
        ("CS-999999", "not_found"),
        (fine.number, "duplicate"),
        ("hello", "not_found"),
    ]
    assert rows[2][2].startswith("not an order number")
    assert rows[4][2] == "no order has this number"
    assert rows[5][2] == "same order as line 1"
    assert job.outcome == "done_with_failures"


def test_job_whose_every_order_failed_is_failed_not_done(client, manager):
    shipped = OrderFactory.create_batch(2, status=Order.Status.SHIPPED)
    job = bulk_hold_job_create(user=manager, order_ids=[o.pk for o in shipped], reason="manual")
    job = bulk_job_run(job_id=job.pk)
    assert job.status == BulkJob.Status.FAILED
    assert job.outcome == "failed"
    assert "None of the 2 orders" in job.error
    client.force_login(manager)
    status = client.get(f"/ops/jobs/{job.pk}/status.json").json()
    assert (status["finished"], status["outcome"]) == (True, "failed")
    page = client.get(f"/ops/jobs/{job.pk}/").content.decode()
    assert "badge-failed" in page
    assert "(running)" not in page


def test_job_page_title_names_the_outcome_not_the_state_it_was_opened_in(client, manager):
    job = bulk_hold_job_create(user=manager, order_ids=[OrderFactory().pk], reason="manual")
    client.force_login(manager)
    assert "Queued" in client.get(f"/ops/jobs/{job.pk}/").content.decode()
    bulk_job_run(job_id=job.pk)
    page = client.get(f"/ops/jobs/{job.pk}/").content.decode()
    assert f"<title>Bulk hold #{job.pk} · Done | Consign back office</title>" in page
