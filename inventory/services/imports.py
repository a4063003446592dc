"""CSV import of products and stock levels: dry-run preview, row-level errors, all or nothing.

Every row is validated before anything is written. With bad rows the import
applies nothing unless the user chose `skip_bad_rows`, in which case exactly
the good rows are applied. The apply phase runs in one transaction, so a
failure half-way leaves nothing behind. Stock levels change through
inventory.services.stock (ledger reason `import`).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import partial

from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from core.csv_safe import csv_cell_unescape
from core.errors import ValidationFailed
from inventory import error_codes
from inventory.models import (
    AdjustmentReason,
    ImportJob,
    Product,
    StockLevel,
    StockMovement,
    Warehouse,
)
from inventory.services.stock import (
    StockChange,
    stock_apply,
    stock_levels_ensure,
    stock_levels_lock,
    stock_thresholds_set,
)

CHUNK = 1000
MAX_REPORTED_ERRORS = 1000
PREVIEW_ROWS = 200

PRODUCT_COLUMNS = [
    "sku", "name", "barcode", "weight_grams", "length_mm", "width_mm", "height_mm", "hs_code",
    "country_of_origin", "customs_description", "customs_value", "customs_currency",
]  # fmt: skip
PRODUCT_REQUIRED = {"sku", "name"}
STOCK_COLUMNS = ["sku", "warehouse", "on_hand", "low_stock_threshold"]
STOCK_REQUIRED = {"sku", "warehouse", "on_hand"}

Progress = Callable[[int], None]


@dataclass
class ImportResult:
    total_rows: int
    applied_rows: int = 0
    errors: list[dict] = field(default_factory=list)
    preview: list[dict] = field(default_factory=list)
    dry_run: bool = False


def _error(row: int, column: str, message: str) -> dict:
    return {"row": row, "field": column, "message": message}


def rows_from_csv(*, text: str, required: set[str]) -> list[dict[str, str]]:
    """Parse CSV text (header row first); raises ValidationFailed for missing columns."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = {(name or "").strip() for name in reader.fieldnames or []}
    missing = sorted(required - header)
    if missing:
        raise ValidationFailed(
            f"The file is missing the column(s) {', '.join(missing)}.",
            code=error_codes.IMPORT_INVALID,
            errors=[{"field": "file", "message": f"Missing column {m}."} for m in missing],
        )
    # csv_cell_unescape: an export (core/csv_safe.py) edited and imported again keeps its text.
    return [
        {
            (k or "").strip(): csv_cell_unescape((v or "").strip())
            for k, v in row.items()
            if k is not None
        }
        for row in reader
    ]


def _int(value: str, *, minimum: int = 0) -> int | None:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if number >= minimum else None


def _refuse_or_keep(errors: list[dict], *, skip_bad_rows: bool) -> None:
    if errors and not skip_bad_rows:
        raise ValidationFailed(
            f"{len({e['row'] for e in errors})} row(s) are invalid; nothing was imported. "
            "Fix them, or choose to skip bad rows.",
            code=error_codes.IMPORT_INVALID,
            errors=[
                {"field": f"row {e['row']}: {e['field']}", "message": e["message"]}
                for e in errors[:MAX_REPORTED_ERRORS]
            ],
        )


# --- stock levels -------------------------------------------------------------


def stock_levels_import(
    *,
    rows: list[dict[str, str]],
    dry_run: bool = True,
    skip_bad_rows: bool = False,
    reference: str = "import",
    user=None,
    progress: Progress | None = None,
) -> ImportResult:
    """Set on_hand (and optionally low_stock_threshold) per (SKU, warehouse code) row.

    Row numbers count data rows from 1. Raises ValidationFailed listing every
    bad row (unknown SKU or warehouse, quantity not a whole number >= 0,
    on_hand below what orders have reserved, duplicate row) unless
    skip_bad_rows; a dry run returns the preview and errors and writes nothing.
    """
    products = dict(
        Product.objects.filter(sku__in={r.get("sku", "") for r in rows}).values_list("sku", "pk")
    )
    warehouses = dict(Warehouse.objects.values_list("code", "pk"))
    errors: list[dict] = []
    good: list[tuple[int, int, int, int, int | None]] = []  # row, p, w, on_hand, threshold
    seen: set[tuple[int, int]] = set()
    for number, row in enumerate(rows, start=1):
        sku, code = row.get("sku", ""), row.get("warehouse", "")
        on_hand = _int(row.get("on_hand", ""))
        raw_threshold = row.get("low_stock_threshold", "")
        threshold = _int(raw_threshold) if raw_threshold else None
        bad = False
        if sku not in products:
            errors.append(_error(number, "sku", f"Unknown SKU {sku!r}."))
            bad = True
        if code not in warehouses:
            errors.append(_error(number, "warehouse", f"Unknown warehouse {code!r}."))
            bad = True
        if on_hand is None:
            errors.append(
                _error(number, "on_hand", f"Not a whole number >= 0: {row.get('on_hand')!r}.")
            )
            bad = True
        if raw_threshold and threshold is None:
            errors.append(
                _error(
                    number, "low_stock_threshold", f"Not a whole number >= 0: {raw_threshold!r}."
                )
            )
            bad = True
        if bad:
            continue
        key = (products[sku], warehouses[code])
        if key in seen:
            errors.append(_error(number, "sku", f"{sku} at {code} appears more than once."))
            continue
        seen.add(key)
        good.append((number, *key, on_hand, threshold))

    current = {}
    for start in range(0, len(good), 5000):
        chunk = good[start : start + 5000]
        for level in StockLevel.objects.filter(
            product_id__in={g[1] for g in chunk}, warehouse_id__in={g[2] for g in chunk}
        ).only("product_id", "warehouse_id", "on_hand", "reserved"):
            current[(level.product_id, level.warehouse_id)] = (level.on_hand, level.reserved)
    sku_of = {pk: sku for sku, pk in products.items()}
    code_of = {pk: code for code, pk in warehouses.items()}
    valid = []
    for item in good:
        number, p, w, on_hand, _ = item
        reserved = current.get((p, w), (0, 0))[1]
        if on_hand < reserved:
            errors.append(
                _error(
                    number,
                    "on_hand",
                    f"{sku_of[p]} at {code_of[w]}: {on_hand} is below the {reserved} reserved "
                    "for orders.",
                )
            )
        else:
            valid.append(item)
    errors.sort(key=lambda e: e["row"])
    result = ImportResult(
        total_rows=len(rows), errors=errors[:MAX_REPORTED_ERRORS], dry_run=dry_run
    )
    result.preview = [
        {
            "row": number,
            "sku": sku_of[p],
            "warehouse": code_of[w],
            "on_hand_from": current.get((p, w), (0, 0))[0],
            "on_hand_to": on_hand,
            "low_stock_threshold": threshold,
        }
        for number, p, w, on_hand, threshold in valid[:PREVIEW_ROWS]
    ]
    if dry_run:
        return result
    _refuse_or_keep(errors, skip_bad_rows=skip_bad_rows)

    with transaction.atomic():
        done = 0
        for start in range(0, len(valid), CHUNK):
            chunk = valid[start : start + CHUNK]
            keys = [(p, w) for _, p, w, _, _ in chunk]
            stock_levels_ensure(keys=[(p, w) for _, p, w, on_hand, _ in chunk if on_hand > 0])
            levels = stock_levels_lock(keys=keys)
            changes = []
            for number, p, w, on_hand, _ in chunk:
                level = levels.get((p, w))
                delta = on_hand - (level.on_hand if level else 0)
                if delta:
                    changes.append(
                        StockChange(
                            product_id=p,
                            warehouse_id=w,
                            on_hand_delta=delta,
                            type=StockMovement.Type.ADJUSTMENT,
                            reason=AdjustmentReason.IMPORT,
                            reference=reference,
                            note=f"row {number}",
                        )
                    )
            stock_apply(changes=changes, user=user, locked=levels, respect_count_locks=True)
            thresholds = {(p, w): t for _, p, w, _, t in chunk if t is not None}
            if thresholds:
                stock_thresholds_set(thresholds=thresholds)
            done += len(chunk)
            if progress:
                progress(done)
    result.applied_rows = len(valid)
    return result


# --- products -----------------------------------------------------------------


def products_import(
    *,
    rows: list[dict[str, str]],
    dry_run: bool = True,
    skip_bad_rows: bool = False,
    user=None,
    progress: Progress | None = None,
) -> ImportResult:
    """Create or update products by SKU. Same error and all-or-nothing rules as stock levels."""
    existing = {p.sku: p for p in Product.objects.filter(sku__in={r.get("sku", "") for r in rows})}
    barcode_owner = dict(
        Product.objects.filter(
            barcode__in={r["barcode"] for r in rows if r.get("barcode")}
        ).values_list("barcode", "sku")
    )
    errors: list[dict] = []
    valid: list[tuple[int, Product, bool]] = []
    seen_sku: set[str] = set()
    seen_barcode: dict[str, str] = {}
    for number, row in enumerate(rows, start=1):
        sku = row.get("sku", "")
        product = existing.get(sku) or Product(sku=sku)
        bad = False
        for column in PRODUCT_COLUMNS[1:]:
            if column not in row:
                continue
            value: object = row[column]
            if column in {"weight_grams", "length_mm", "width_mm", "height_mm"}:
                value = _int(row[column]) if row[column] else 0
                if value is None:
                    errors.append(
                        _error(number, column, f"Not a whole number >= 0: {row[column]!r}.")
                    )
                    bad = True
                    continue
            elif column == "customs_value":
                try:
                    value = Decimal(row[column]) if row[column] else None
                except InvalidOperation:
                    errors.append(_error(number, column, f"Not a number: {row[column]!r}."))
                    bad = True
                    continue
            elif column == "barcode":
                value = row[column] or None
            setattr(product, column, value)
        try:
            product.full_clean(validate_unique=False, validate_constraints=False)
        except ValidationError as exc:
            for column, messages in exc.message_dict.items():
                errors.extend(_error(number, column, message) for message in messages)
            bad = True
        if sku in seen_sku:
            errors.append(_error(number, "sku", f"{sku} appears more than once."))
            bad = True
        barcode = product.barcode
        if barcode and (
            barcode_owner.get(barcode, sku) != sku or seen_barcode.get(barcode, sku) != sku
        ):
            errors.append(_error(number, "barcode", f"Barcode {barcode} belongs to another SKU."))
            bad = True
        if bad:
            continue
        seen_sku.add(sku)
        if barcode:
            seen_barcode[barcode] = sku
        valid.append((number, product, sku in existing))
    result = ImportResult(
        total_rows=len(rows), errors=errors[:MAX_REPORTED_ERRORS], dry_run=dry_run
    )
    result.preview = [
        {"row": number, "sku": p.sku, "name": p.name, "action": "update" if old else "create"}
        for number, p, old in valid[:PREVIEW_ROWS]
    ]
    if dry_run:
        return result
    _refuse_or_keep(errors, skip_bad_rows=skip_bad_rows)
    with transaction.atomic():
        done = 0
        for start in range(0, len(valid), CHUNK):
            chunk = [p for _, p, _ in valid[start : start + CHUNK]]
            Product.objects.bulk_create(
                chunk,
                update_conflicts=True,
                unique_fields=["sku"],
                update_fields=list(PRODUCT_COLUMNS[1:]) + ["updated_at"],
            )
            done += len(chunk)
            if progress:
                progress(done)
    result.applied_rows = len(valid)
    return result


# --- background jobs ----------------------------------------------------------


def _progress_key(job_id: int) -> str:
    return f"inventory:import:{job_id}:processed"


def import_job_progress(*, job: ImportJob) -> int:
    """Rows processed so far: live from the cache while running (the job row commits at the end)."""
    if job.status == ImportJob.Status.RUNNING:
        return cache.get(_progress_key(job.pk), job.processed_rows)
    return job.processed_rows


@transaction.atomic
def import_job_create(
    *, kind: str, file, dry_run: bool = True, skip_bad_rows: bool = False, user=None
) -> ImportJob:
    """Store the upload and hand it to a worker after commit (never parsed in the request)."""
    from inventory.tasks import import_job_run_task

    if kind not in ImportJob.Kind.values:
        raise ValidationFailed(f"Unknown import kind {kind!r}.", code=error_codes.IMPORT_INVALID)
    job = ImportJob.objects.create(
        kind=kind,
        file=file,
        dry_run=dry_run,
        skip_bad_rows=skip_bad_rows,
        created_by=user if user is not None and user.is_authenticated else None,
    )
    transaction.on_commit(partial(import_job_run_task.delay, job_id=job.pk))
    return job


def import_job_run(*, job: ImportJob) -> ImportJob:
    """Run a pending job: parse, validate, preview or apply; record the outcome on the job.

    Safe to run twice: a job that is not pending is returned unchanged.
    """
    claimed = ImportJob.objects.filter(pk=job.pk, status=ImportJob.Status.PENDING).update(
        status=ImportJob.Status.RUNNING, started_at=timezone.now()
    )
    job.refresh_from_db()
    if not claimed:
        return job
    key = _progress_key(job.pk)

    def progress(done: int) -> None:
        cache.set(key, done, timeout=86400)

    try:
        with job.file.open("rb") as handle:
            text = handle.read().decode("utf-8-sig")
        if job.kind == ImportJob.Kind.PRODUCTS:
            rows = rows_from_csv(text=text, required=PRODUCT_REQUIRED)
            ImportJob.objects.filter(pk=job.pk).update(total_rows=len(rows))
            result = products_import(
                rows=rows,
                dry_run=job.dry_run,
                skip_bad_rows=job.skip_bad_rows,
                user=job.created_by,
                progress=progress,
            )
        else:
            rows = rows_from_csv(text=text, required=STOCK_REQUIRED)
            ImportJob.objects.filter(pk=job.pk).update(total_rows=len(rows))
            result = stock_levels_import(
                rows=rows,
                dry_run=job.dry_run,
                skip_bad_rows=job.skip_bad_rows,
                reference=f"import:{job.pk}",
                user=job.created_by,
                progress=progress,
            )
    except ValidationFailed as exc:
        job.status = ImportJob.Status.FAILED
        job.message = exc.detail
        job.errors = exc.errors
    except UnicodeDecodeError:
        job.status = ImportJob.Status.FAILED
        job.message = "The file is not UTF-8 text."
    else:
        job.status = ImportJob.Status.SUCCEEDED
        job.total_rows = result.total_rows
        job.processed_rows = result.total_rows
        job.applied_rows = result.applied_rows
        job.errors = result.errors
        job.preview = result.preview
        job.message = (
            f"Dry run: {len(result.preview)} change(s) previewed, {len(result.errors)} error(s)."
            if result.dry_run
            else f"Applied {result.applied_rows} of {result.total_rows} row(s); "
            f"{len(result.errors)} bad row(s) skipped."
        )
    job.finished_at = timezone.now()
    job.save()
    cache.delete(key)
    return job
