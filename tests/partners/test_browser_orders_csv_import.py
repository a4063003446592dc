"""The CSV order import in real Chromium with a real worker: upload, dry run with the
row errors, import for real, progress, result."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from orders.models import Order
from partners.models import OrderImportJob
from tests.backoffice.browser import (  # noqa: F401 - fixtures
    browser_page,
    celery_worker,
    chromium,
    login,
    screenshot,
)
from tests.partners.test_orders_csv_import import GOOD, HEADER, _world

pytestmark = [
    pytest.mark.browser,
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture
def media(tmp_path, settings, monkeypatch):
    # The worker process reads the upload the live server stored.
    monkeypatch.setenv("MEDIA_ROOT", str(tmp_path))
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


@pytest.fixture
def import_worker(media, request, monkeypatch):
    """The back-office test worker, also consuming the import task's messages (started
    after `media`, so that it reads the uploads where the live server stores them)."""
    from backoffice.tasks import bulk_job_run_task
    from partners.tasks import order_import_job_run_task

    worker = request.getfixturevalue("celery_worker")
    monkeypatch.setattr(order_import_job_run_task, "queue", bulk_job_run_task.queue, raising=False)
    monkeypatch.setattr(order_import_job_run_task, "_exec_options", None, raising=False)
    return worker


def test_upload_dry_run_errors_then_import_with_progress_and_result(
    live_server, manager, import_worker, media, request
):
    channel = _world()
    page = request.getfixturevalue("browser_page")
    csv_file = media / "orders.csv"
    csv_file.write_text(HEADER + GOOD + "X-1,EUR,x@example.com,X,,X,S 1,,C,,,NL,,,NOPE,1,1.00\n")

    login(page, live_server.url, "manager", "/admin/partners/orderimportjob/add/")
    page.select_option("#id_channel", str(channel.pk))
    page.set_input_files("#id_file", str(csv_file))
    expect(page.locator("#id_dry_run")).to_be_checked()
    page.click("input[name=_save]")

    job = OrderImportJob.objects.get()
    page.goto(f"{live_server.url}/admin/partners/orderimportjob/{job.pk}/change/")
    # The page refreshes itself until the worker is done.
    expect(page.locator(".field-message")).to_contain_text("Dry run: 2 of 3", timeout=60_000)
    errors = page.locator("table.order-import-errors")
    expect(errors).to_contain_text("Unknown SKU 'NOPE'")
    expect(errors.locator("tr").nth(1)).to_contain_text("5")
    screenshot(page, "order-import-dry-run")
    assert not Order.objects.exists()

    page.goto(f"{live_server.url}/admin/partners/orderimportjob/")
    page.check(f"input[name=_selected_action][value='{job.pk}']")
    page.select_option("select[name=action]", "run_for_real")
    page.click("button[name=index]")
    expect(page.locator(".messagelist")).to_contain_text("queued")

    real = OrderImportJob.objects.exclude(pk=job.pk).get()
    page.goto(f"{live_server.url}/admin/partners/orderimportjob/{real.pk}/change/")
    expect(page.locator(".field-message")).to_contain_text(
        "Created 2 order(s), 0 already present, 1 with errors", timeout=60_000
    )
    expect(page.locator(".field-progress progress")).to_have_attribute("value", "3")
    screenshot(page, "order-import-result")
    assert Order.objects.filter(channel=channel).count() == 2
