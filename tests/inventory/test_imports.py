"""CSV import/export: dry-run preview, row-level errors, all or nothing unless told otherwise."""

import io

import pytest
from django.core.files.base import ContentFile
from django.core.management import call_command

from core.errors import ValidationFailed
from inventory.models import ImportJob, Product, StockLevel, StockMovement
from inventory.selectors import stock_levels_export_csv
from inventory.services.imports import (
    PRODUCT_REQUIRED,
    STOCK_REQUIRED,
    import_job_create,
    import_job_progress,
    import_job_run,
    products_import,
    rows_from_csv,
    stock_levels_import,
)
from inventory.tasks import import_job_run_task
from tests.inventory.helpers import product, stock, warehouses

pytestmark = pytest.mark.django_db

BAD_STOCK = (
    "sku,warehouse,on_hand\n"
    "SHIRT,wh-a,5\n"  # good
    "GHOST,wh-a,1\n"  # unknown SKU
    "SHIRT,nowhere,1\n"  # unknown warehouse
    "HAT,wh-a,-2\n"  # negative
    "HAT,wh-a,1.5\n"  # not whole
)


@pytest.fixture
def world():
    (wh,) = warehouses("wh-a")
    return wh, product("SHIRT"), product("HAT")


def _stock_rows(text):
    return rows_from_csv(text=text, required=STOCK_REQUIRED)


def test_stock_import_with_bad_rows_applies_nothing_and_names_each_row(world):
    with pytest.raises(
        ValidationFailed, match="4 row\\(s\\) are invalid; nothing was imported"
    ) as exc:
        stock_levels_import(rows=_stock_rows(BAD_STOCK), dry_run=False)

    fields = [e["field"] for e in exc.value.errors]
    assert fields == ["row 2: sku", "row 3: warehouse", "row 4: on_hand", "row 5: on_hand"]
    assert "Unknown SKU 'GHOST'." in [e["message"] for e in exc.value.errors]
    assert not StockMovement.objects.exists()
    assert not StockLevel.objects.filter(on_hand__gt=0).exists()


def test_stock_import_skipping_bad_rows_applies_exactly_the_good_ones(world):
    wh, shirt, _ = world

    result = stock_levels_import(rows=_stock_rows(BAD_STOCK), dry_run=False, skip_bad_rows=True)

    assert (result.applied_rows, len(result.errors)) == (1, 4)
    assert StockLevel.objects.get(product=shirt, warehouse=wh).on_hand == 5
    movement = StockMovement.objects.get()
    assert (movement.reason, movement.on_hand_delta) == ("import", 5)
    call_command("verify_stock_ledger")


def test_stock_import_dry_run_previews_and_writes_nothing(world):
    wh, shirt, _ = world
    stock(shirt, wh, 2)

    result = stock_levels_import(rows=_stock_rows("sku,warehouse,on_hand\nSHIRT,wh-a,7\n"))

    assert result.preview == [
        {
            "row": 1,
            "sku": "SHIRT",
            "warehouse": "wh-a",
            "on_hand_from": 2,
            "on_hand_to": 7,
            "low_stock_threshold": None,
        }
    ]
    assert StockLevel.objects.get(product=shirt).on_hand == 2


def test_stock_import_refuses_on_hand_below_reserved(world):
    wh, shirt, _ = world
    stock(shirt, wh, 5)
    StockLevel.objects.update(reserved=3)

    with pytest.raises(ValidationFailed) as exc:
        stock_levels_import(
            rows=_stock_rows("sku,warehouse,on_hand\nSHIRT,wh-a,1\n"), dry_run=False
        )

    assert "below the 3 reserved" in exc.value.errors[0]["message"]


def test_stock_import_sets_thresholds(world):
    wh, shirt, _ = world

    stock_levels_import(
        rows=_stock_rows("sku,warehouse,on_hand,low_stock_threshold\nSHIRT,wh-a,4,5\n"),
        dry_run=False,
    )

    level = StockLevel.objects.get(product=shirt, warehouse=wh)
    assert (level.on_hand, level.low_stock_threshold) == (4, 5)


def test_file_missing_a_column_is_refused():
    with pytest.raises(ValidationFailed, match="missing the column\\(s\\) on_hand"):
        rows_from_csv(text="sku,warehouse\nSHIRT,wh-a\n", required=STOCK_REQUIRED)


def test_product_import_creates_and_updates_and_reports_bad_rows(world):
    text = (
        "sku,name,barcode,weight_grams,country_of_origin\n"
        "SHIRT,Shirt v2,,300,PT\n"
        "NEW-1,New thing,8700000000001,50,NL\n"
        "BAD-1,Bad weight,,heavy,NL\n"
        "BAD-2,Bad country,,1,Portugal\n"
    )
    rows = rows_from_csv(text=text, required=PRODUCT_REQUIRED)

    with pytest.raises(ValidationFailed):
        products_import(rows=rows, dry_run=False)
    assert not Product.objects.filter(sku="NEW-1").exists()

    result = products_import(rows=rows, dry_run=False, skip_bad_rows=True)

    assert result.applied_rows == 2
    assert sorted({e["row"] for e in result.errors}) == [3, 4]
    assert Product.objects.get(sku="SHIRT").name == "Shirt v2"
    assert Product.objects.get(sku="NEW-1").barcode == "8700000000001"


def test_export_writes_the_import_columns(world):
    wh, shirt, _ = world
    stock(shirt, wh, 3)
    out = io.StringIO()

    rows = stock_levels_export_csv(out=out)

    assert rows == 1
    assert out.getvalue().splitlines() == [
        "sku,warehouse,on_hand,reserved,low_stock_threshold",
        "SHIRT,wh-a,3,0,0",
    ]


def test_import_job_runs_in_worker_after_commit_and_records_outcome(
    world, settings, tmp_path, django_capture_on_commit_callbacks, monkeypatch
):
    settings.MEDIA_ROOT = tmp_path
    queued = []
    monkeypatch.setattr(import_job_run_task, "delay", lambda **kw: queued.append(kw))

    with django_capture_on_commit_callbacks(execute=True):
        job = import_job_create(
            kind="stock_levels",
            file=ContentFile(BAD_STOCK.encode(), name="stock.csv"),
            dry_run=False,
        )
    assert queued == [{"job_id": job.pk}]

    import_job_run(job=job)

    job.refresh_from_db()
    assert job.status == ImportJob.Status.FAILED
    assert "nothing was imported" in job.message
    assert len(job.errors) == 4
    assert not StockMovement.objects.exists()
    assert import_job_progress(job=job) == 0


def test_import_job_is_safe_to_run_twice(world, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    job = import_job_create(
        kind="stock_levels",
        file=ContentFile(b"sku,warehouse,on_hand\nSHIRT,wh-a,5\n", name="s.csv"),
        dry_run=False,
    )

    import_job_run_task.apply(kwargs={"job_id": job.pk}).get()
    import_job_run_task.apply(kwargs={"job_id": job.pk}).get()

    job.refresh_from_db()
    assert (job.status, job.applied_rows, job.processed_rows) == ("succeeded", 1, 1)
    assert StockMovement.objects.count() == 1


def test_large_import_uses_one_statement_per_chunk_and_keeps_ledger_true(world):
    wh, shirt, _ = world
    skus = [product(f"BULK-{i}") for i in range(12)]
    stock(skus[0], wh, 4)
    text = "sku,warehouse,on_hand\n" + "".join(
        f"{p.sku},wh-a,{i + 1}\n" for i, p in enumerate(skus)
    )

    result = stock_levels_import(rows=_stock_rows(text), dry_run=False)

    assert result.applied_rows == 12
    levels = dict(
        StockLevel.objects.filter(product__in=skus).values_list("product__sku", "on_hand")
    )
    assert levels == {f"BULK-{i}": i + 1 for i in range(12)}
    call_command("verify_stock_ledger")
