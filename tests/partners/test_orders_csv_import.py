"""CSV order import: dry run with per-row errors, real run through intake, re-import
creates nothing, the background job with progress, the admin upload and the command."""

from __future__ import annotations

import io
import json
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.urls import reverse

from core.errors import ValidationFailed
from orders.models import ChannelWarehouse, Order, OrderEvent, OrderLine
from partners.models import OrderImportJob
from partners.order_import import (
    order_import_job_create,
    order_import_job_progress,
    order_import_job_run,
    orders_csv_import,
)
from tests.inventory.factories import ProductFactory, StockLevelFactory, WarehouseFactory
from tests.logistics.factories import ServiceLevelFactory
from tests.orders.factories import ChannelFactory

HEADER = (
    "external_reference,currency,customer_email,customer_name,customer_phone,shipping_name,"
    "shipping_line1,shipping_line2,shipping_city,shipping_postcode,shipping_region,"
    "shipping_country,service_level,placed_at,sku,quantity,unit_price\n"
)
GOOD = (
    "PHONE-1,EUR,ada@example.com,Ada Lovelace,,Ada Lovelace,Dam 1,,Amsterdam,1012 JS,,NL,"
    "csvlsp:standard,2026-01-05T10:00:00Z,CSV-TEE,2,19.95\n"
    "PHONE-1,,,,,,,,,,,,,,CSV-MUG,1,8.50\n"
    "PHONE-2,EUR,bob@example.com,Bob,,Bob,Main St 2,,Utrecht,3511 AA,,NL,,,CSV-MUG,3,8.50\n"
)


def _world():
    channel = ChannelFactory(code="phone-orders")
    warehouse = WarehouseFactory(code="csv-wh")
    ChannelWarehouse.objects.create(channel=channel, warehouse=warehouse, priority=1)
    for sku in ("CSV-TEE", "CSV-MUG"):
        StockLevelFactory(product=ProductFactory(sku=sku), warehouse=warehouse, on_hand=100)
    ProductFactory(sku="CSV-OLD", is_active=False)
    ServiceLevelFactory(provider__code="csvlsp", code="standard")
    return channel


@pytest.fixture
def channel(db):
    return _world()


def _errors(summary):
    return [(e["row"], e["column"]) for e in summary.errors]


def test_dry_run_checks_and_creates_nothing(channel):
    summary = orders_csv_import(channel=channel, text=HEADER + GOOD, dry_run=True)
    assert (summary.rows, summary.orders, summary.valid, summary.failed) == (3, 2, 2, 0)
    assert summary.errors == []
    assert summary.created == 0
    assert not Order.objects.exists()


def test_dry_run_lists_each_bad_row_with_its_column(channel):
    text = HEADER + (
        # line 2: bad e-mail; line 3: unknown SKU in the same order
        "A-1,EUR,not-an-email,Ann,,Ann,Street 1,,City,,,NL,,,CSV-TEE,1,1.00\n"
        "A-1,,,,,,,,,,,,,,NOPE,1,1.00\n"
        # line 4: quantity not a number
        "A-2,EUR,a2@example.com,Ann,,Ann,Street 1,,City,,,NL,,,CSV-TEE,lots,1.00\n"
        # line 5: unknown SKU; line 6: order column differs from line 5
        "A-3,EUR,a3@example.com,Ann,,Ann,Street 1,,City,,,NL,,,NOPE,1,1.00\n"
        "A-3,USD,,,,,,,,,,,,,CSV-MUG,1,1.00\n"
        # line 7: no external reference
        ",EUR,a4@example.com,Ann,,Ann,Street 1,,City,,,NL,,,CSV-TEE,1,1.00\n"
        # line 8: retired SKU; line 9: unknown service level and country
        "A-5,EUR,a5@example.com,Ann,,Ann,Street 1,,City,,,NL,,,CSV-OLD,1,1.00\n"
        "A-6,EUR,a6@example.com,Ann,,Ann,Street 1,,City,,,XX,nope:fast,,CSV-TEE,1,1.00\n"
        # line 10: too many decimals for EUR
        "A-7,EUR,a7@example.com,Ann,,Ann,Street 1,,City,,,NL,,,CSV-TEE,1,1.005\n"
        # line 11: good
        "A-8,EUR,a8@example.com,Ann,,Ann,Street 1,,City,,,NL,,,CSV-TEE,1,1.00\n"
    )
    summary = orders_csv_import(channel=channel, text=text, dry_run=True)
    assert _errors(summary) == [
        (2, "customer_email"),
        (4, "quantity"),
        (5, "sku"),
        (6, "currency"),
        (7, "external_reference"),
        (8, "sku"),
        (9, "shipping_country"),
        (10, "unit_price"),
    ]
    assert "Differs from row 5" in summary.errors[3]["message"]
    assert "not sold any more" in summary.errors[5]["message"]
    # The row without a reference belongs to no order.
    assert (summary.orders, summary.valid, summary.failed) == (7, 1, 6)
    assert not Order.objects.exists()


def test_unknown_service_level_is_reported_on_the_orders_first_row(channel):
    text = HEADER + "B-1,EUR,b@example.com,B,,B,Street 1,,City,,,NL,nope:fast,,CSV-TEE,1,1.00\n"
    summary = orders_csv_import(channel=channel, text=text, dry_run=True)
    assert _errors(summary) == [(2, "service_level")]
    assert "Unknown service level" in summary.errors[0]["message"]


def test_real_run_creates_grouped_orders_through_intake(channel):
    summary = orders_csv_import(channel=channel, text=HEADER + GOOD, dry_run=False)
    assert (summary.created, summary.existing, summary.failed) == (2, 0, 0)
    first = Order.objects.get(channel=channel, external_reference="PHONE-1")
    assert [(line.sku, line.quantity, line.unit_price) for line in first.lines.all()] == [
        ("CSV-TEE", 2, Decimal("19.95")),
        ("CSV-MUG", 1, Decimal("8.50")),
    ]
    assert first.total_amount == Decimal("48.40")
    assert first.service_level.code == "standard"
    assert first.placed_at.isoformat() == "2026-01-05T10:00:00+00:00"
    assert OrderEvent.objects.filter(order=first, type=OrderEvent.Type.RECEIVED).exists()
    # Handed to fulfilment like an API order: stock is reserved.
    assert first.status != Order.Status.RECEIVED


def test_reimporting_the_same_file_creates_nothing_new(channel):
    orders_csv_import(channel=channel, text=HEADER + GOOD, dry_run=False)
    again = orders_csv_import(channel=channel, text=HEADER + GOOD, dry_run=False)
    assert (again.created, again.existing) == (0, 2)
    assert Order.objects.filter(channel=channel).count() == 2
    assert OrderLine.objects.filter(order__channel=channel).count() == 3


def test_real_run_skips_bad_orders_whole_and_keeps_good_ones(channel):
    text = (
        HEADER
        + GOOD
        + (
            "BAD-1,EUR,c@example.com,C,,C,Street 1,,City,,,NL,,,CSV-TEE,1,1.00\n"
            "BAD-1,,,,,,,,,,,,,,NOPE,1,1.00\n"
        )
    )
    summary = orders_csv_import(channel=channel, text=text, dry_run=False)
    assert (summary.created, summary.failed) == (2, 1)
    assert _errors(summary) == [(6, "sku")]
    # Nothing half-written: no order, no line of the bad one.
    assert not Order.objects.filter(external_reference="BAD-1").exists()


def test_missing_columns_refuse_the_file(channel):
    with pytest.raises(ValidationFailed) as caught:
        orders_csv_import(channel=channel, text="external_reference,sku\nX,Y\n", dry_run=True)
    assert "currency" in caught.value.detail


def test_progress_is_reported_per_order(channel):
    seen = []
    orders_csv_import(
        channel=channel,
        text=HEADER + GOOD,
        dry_run=False,
        progress=lambda done, total: seen.append((done, total)),
    )
    assert seen == [(1, 2), (2, 2)]


# --- the background job and the admin -----------------------------------------------


def _job(channel, text, *, dry_run, settings, tmp_path, monkeypatch):
    settings.MEDIA_ROOT = tmp_path
    monkeypatch.setattr("partners.tasks.order_import_job_run_task.delay", lambda **kw: None)
    return order_import_job_create(
        channel=channel,
        file=SimpleUploadedFile("orders.csv", text.encode()),
        dry_run=dry_run,
    )


def test_job_dry_run_then_real_run(channel, settings, tmp_path, monkeypatch):
    job = _job(channel, HEADER + GOOD, dry_run=True, settings=settings, tmp_path=tmp_path,
               monkeypatch=monkeypatch)  # fmt: skip
    order_import_job_run(job=job)
    assert (job.status, job.total_orders, job.total_rows, job.created_orders) == (
        "succeeded", 2, 3, 0,
    )  # fmt: skip
    assert "Dry run: 2 of 2" in job.message
    assert order_import_job_progress(job=job) == 2
    assert not Order.objects.exists()
    real = _job(channel, HEADER + GOOD, dry_run=False, settings=settings, tmp_path=tmp_path,
                monkeypatch=monkeypatch)  # fmt: skip
    order_import_job_run(job=real)
    assert (real.status, real.created_orders, real.existing_orders) == ("succeeded", 2, 0)
    # Run twice (a redelivered task): left alone.
    order_import_job_run(job=real)
    assert Order.objects.count() == 2


def test_job_with_an_unusable_file_fails_with_the_reason(channel, settings, tmp_path, monkeypatch):
    job = _job(channel, "sku\nX\n", dry_run=True, settings=settings, tmp_path=tmp_path,
               monkeypatch=monkeypatch)  # fmt: skip
    order_import_job_run(job=job)
    assert job.status == "failed"
    assert "missing the column" in job.message


def test_upload_needs_the_import_permission(channel, client, agent, manager, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    url = reverse("admin:partners_orderimportjob_add")
    client.force_login(agent)
    assert client.get(url).status_code == 403
    client.force_login(manager)
    assert client.get(url).status_code == 200


def test_admin_upload_dry_run_errors_and_run_for_real(
    channel, client, manager, settings, tmp_path, django_capture_on_commit_callbacks, monkeypatch
):
    settings.MEDIA_ROOT = tmp_path
    queued = []
    monkeypatch.setattr(
        "partners.tasks.order_import_job_run_task.delay", lambda **kw: queued.append(kw)
    )
    client.force_login(manager)
    text = HEADER + GOOD + "X-1,EUR,x@example.com,X,,X,S 1,,C,,,NL,,,NOPE,1,1.00\n"
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("admin:partners_orderimportjob_add"),
            {
                "channel": channel.pk,
                "file": SimpleUploadedFile("orders.csv", text.encode()),
                "dry_run": "on",
            },
        )
    assert response.status_code == 302
    job = OrderImportJob.objects.get()
    assert queued == [{"job_id": job.pk}]
    order_import_job_run(job=job)
    page = client.get(reverse("admin:partners_orderimportjob_change", args=[job.pk]))
    text_page = page.content.decode()
    assert "<progress" in text_page
    assert "Unknown SKU" in text_page
    assert "<td>5</td>" in text_page
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            reverse("admin:partners_orderimportjob_changelist"),
            {"action": "run_for_real", "_selected_action": [job.pk]},
        )
    real = OrderImportJob.objects.exclude(pk=job.pk).get()
    assert real.dry_run is False
    assert queued[-1] == {"job_id": real.pk}
    order_import_job_run(job=real)
    assert (real.created_orders, real.failed_orders) == (2, 1)
    assert Order.objects.filter(channel=channel).count() == 2


# --- the command ---------------------------------------------------------------------


def _command(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command("orders_import_csv", *args, stdout=out, stderr=err)
    return json.loads(out.getvalue().strip().splitlines()[-1]), err.getvalue()


def test_command_dry_run_then_import_prints_a_json_summary(channel, tmp_path):
    path = tmp_path / "orders.csv"
    path.write_text(HEADER + GOOD + "Z-1,EUR,z@example.com,Z,,Z,S 1,,C,,,NL,,,NOPE,1,1.00\n")
    summary, err = _command("phone-orders", str(path), "--dry-run")
    assert (summary["dry_run"], summary["valid"], summary["failed"], summary["created"]) == (
        True, 2, 1, 0,
    )  # fmt: skip
    assert summary["errors"] == [{"row": 5, "column": "sku", "message": "Unknown SKU 'NOPE'."}]
    assert "row 5, sku" in err
    assert not Order.objects.exists()
    summary, _ = _command("phone-orders", str(path))
    assert (summary["created"], summary["existing"]) == (2, 0)
    summary, _ = _command("phone-orders", str(path))
    assert (summary["created"], summary["existing"]) == (0, 2)


def test_command_refuses_an_unknown_channel(channel, tmp_path):
    path = tmp_path / "orders.csv"
    path.write_text(HEADER + GOOD)
    with pytest.raises(CommandError, match="Unknown channel"):
        _command("nope", str(path))
