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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import partial
from typing import Any, NamedTuple, TypeVar

from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.files import File
from django.db import transaction
from django.utils import timezone

from core.csv_safe import csv_cell_unescape
from core.errors import ValidationFailed
from core.users import ActingUser, recorded_user
from inventory import error_codes
from inventory.models import (
    AdjustmentReason,
    ImportJob,
    Product,
    ProductBarcode,
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
STOCK_REQUIRED = {"sku", "warehouse", "on_hand"}

Progress = Callable[[int], None]
# {"row": data row number from 1, "field": column, "message": what is wrong}
RowError = dict[str, Any]
T = TypeVar("T")


@dataclass
class ImportResult:
    total_rows: int
    applied_rows: int = 0
    errors: list[RowError] = field(default_factory=list)
    preview: list[RowError] = field(default_factory=list)
    dry_run: bool = False


def _error(row: int, column: str, message: str) -> RowError:
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


def _refuse_or_keep(errors: list[RowError], *, skip_bad_rows: bool) -> None:
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


def _in_chunks(
    items: Sequence[T], apply: Callable[[Sequence[T]], None], progress: Progress | None
) -> None:
    """Apply the rows CHUNK at a time, reporting the rows done after each chunk."""
    done = 0
    for start in range(0, len(items), CHUNK):
        chunk = items[start : start + CHUNK]
        apply(chunk)
        done += len(chunk)
        if progress:
            progress(done)


# --- stock levels -------------------------------------------------------------


class _StockRow(NamedTuple):
    number: int
    product_id: int
    warehouse_id: int
    on_hand: int
    threshold: int | None

    @property
    def key(self) -> tuple[int, int]:
        return (self.product_id, self.warehouse_id)


def _stock_row_parse(
    number: int,
    row: dict[str, str],
    *,
    products: dict[str, int],
    warehouses: dict[str, int],
    errors: list[RowError],
) -> _StockRow | None:
    """The row's ids and figures, or None after adding every error it has to `errors`."""
    sku, code = row.get("sku", ""), row.get("warehouse", "")
    on_hand = _int(row.get("on_hand", ""))
    raw_threshold = row.get("low_stock_threshold", "")
    threshold = _int(raw_threshold) if raw_threshold else None
    found: list[RowError] = []
    if sku not in products:
        found.append(_error(number, "sku", f"Unknown SKU {sku!r}."))
    if code not in warehouses:
        found.append(_error(number, "warehouse", f"Unknown warehouse {code!r}."))
    if on_hand is None:
        found.append(_error(number, "on_hand", f"Not a whole number >= 0: {row.get('on_hand')!r}."))
    if raw_threshold and threshold is None:
        found.append(
            _error(number, "low_stock_threshold", f"Not a whole number >= 0: {raw_threshold!r}.")
        )
    errors.extend(found)
    if found or on_hand is None:
        return None
    return _StockRow(number, products[sku], warehouses[code], on_hand, threshold)


def _stock_rows_check(
    rows: list[dict[str, str]], *, products: dict[str, int], warehouses: dict[str, int]
) -> tuple[list[_StockRow], list[RowError]]:
    """The well-formed rows (each (SKU, warehouse) once) and the errors of the others."""
    errors: list[RowError] = []
    good: list[_StockRow] = []
    seen: set[tuple[int, int]] = set()
    for number, row in enumerate(rows, start=1):
        parsed = _stock_row_parse(
            number, row, products=products, warehouses=warehouses, errors=errors
        )
        if parsed is None:
            continue
        if parsed.key in seen:
            sku, code = row.get("sku", ""), row.get("warehouse", "")
            errors.append(_error(number, "sku", f"{sku} at {code} appears more than once."))
            continue
        seen.add(parsed.key)
        good.append(parsed)
    return good, errors


def _stock_levels_current(good: list[_StockRow]) -> dict[tuple[int, int], tuple[int, int]]:
    """(on_hand, reserved) of the levels the rows name, by (product id, warehouse id)."""
    current: dict[tuple[int, int], tuple[int, int]] = {}
    for start in range(0, len(good), 5000):
        chunk = good[start : start + 5000]
        for level in StockLevel.objects.filter(
            product_id__in={row.product_id for row in chunk},
            warehouse_id__in={row.warehouse_id for row in chunk},
        ).only("product_id", "warehouse_id", "on_hand", "reserved"):
            current[(level.product_id, level.warehouse_id)] = (level.on_hand, level.reserved)
    return current


def _stock_levels_chunk_apply(
    chunk: Sequence[_StockRow], *, reference: str, user: ActingUser | None
) -> None:
    stock_levels_ensure(keys=[row.key for row in chunk if row.on_hand > 0])
    levels = stock_levels_lock(keys=[row.key for row in chunk])
    changes = []
    for row in chunk:
        level = levels.get(row.key)
        delta = row.on_hand - (level.on_hand if level else 0)
        if delta:
            changes.append(
                StockChange(
                    product_id=row.product_id,
                    warehouse_id=row.warehouse_id,
                    on_hand_delta=delta,
                    type=StockMovement.Type.ADJUSTMENT,
                    reason=AdjustmentReason.IMPORT,
                    reference=reference,
                    note=f"row {row.number}",
                )
            )
    stock_apply(changes=changes, user=user, locked=levels, respect_count_locks=True)
    thresholds = {row.key: row.threshold for row in chunk if row.threshold is not None}
    if thresholds:
        stock_thresholds_set(thresholds=thresholds)


def stock_levels_import(
    *,
    rows: list[dict[str, str]],
    dry_run: bool = True,
    skip_bad_rows: bool = False,
    reference: str = "import",
    user: ActingUser | None = None,
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
    good, errors = _stock_rows_check(rows, products=products, warehouses=warehouses)
    current = _stock_levels_current(good)
    sku_of = {pk: sku for sku, pk in products.items()}
    code_of = {pk: code for code, pk in warehouses.items()}
    valid: list[_StockRow] = []
    for row in good:
        reserved = current.get(row.key, (0, 0))[1]
        if row.on_hand < reserved:
            errors.append(
                _error(
                    row.number,
                    "on_hand",
                    f"{sku_of[row.product_id]} at {code_of[row.warehouse_id]}: {row.on_hand} "
                    f"is below the {reserved} reserved for orders.",
                )
            )
        else:
            valid.append(row)
    errors.sort(key=lambda e: e["row"])
    result = ImportResult(
        total_rows=len(rows), errors=errors[:MAX_REPORTED_ERRORS], dry_run=dry_run
    )
    result.preview = [
        {
            "row": row.number,
            "sku": sku_of[row.product_id],
            "warehouse": code_of[row.warehouse_id],
            "on_hand_from": current.get(row.key, (0, 0))[0],
            "on_hand_to": row.on_hand,
            "low_stock_threshold": row.threshold,
        }
        for row in valid[:PREVIEW_ROWS]
    ]
    if dry_run:
        return result
    _refuse_or_keep(errors, skip_bad_rows=skip_bad_rows)

    with transaction.atomic():
        _in_chunks(
            valid, partial(_stock_levels_chunk_apply, reference=reference, user=user), progress
        )
    result.applied_rows = len(valid)
    return result


# --- products -----------------------------------------------------------------

PRODUCT_WHOLE_NUMBER_COLUMNS = {"weight_grams", "length_mm", "width_mm", "height_mm"}


def _product_value(column: str, raw: str) -> tuple[object, str | None]:
    """The model value of one cell of `column`, or the error message when it has none."""
    if column in PRODUCT_WHOLE_NUMBER_COLUMNS:
        number = _int(raw) if raw else 0
        if number is None:
            return None, f"Not a whole number >= 0: {raw!r}."
        return number, None
    if column == "customs_value":
        try:
            return (Decimal(raw) if raw else None), None
        except InvalidOperation:
            return None, f"Not a number: {raw!r}."
    if column == "barcode":
        return raw or None, None
    return raw, None


def _product_fields_set(number: int, row: dict[str, str], product: Product) -> list[RowError]:
    """Copy the row's columns onto `product` (unsaved); the errors of the row's own values."""
    errors: list[RowError] = []
    for column in PRODUCT_COLUMNS[1:]:
        if column not in row:
            continue
        value, message = _product_value(column, row[column])
        if message is not None:
            errors.append(_error(number, column, message))
            continue
        setattr(product, column, value)
    try:
        product.full_clean(validate_unique=False, validate_constraints=False)
    except ValidationError as exc:
        for column, messages in exc.message_dict.items():
            errors.extend(_error(number, column, message) for message in messages)
    return errors


@dataclass
class _ProductUniqueness:
    """SKUs and barcodes once each, across the file and against the products stored."""

    barcode_owner: dict[str, str]
    seen_sku: set[str] = field(default_factory=set)
    seen_barcode: dict[str, str] = field(default_factory=dict)

    def errors(self, number: int, sku: str, barcode: str | None) -> list[RowError]:
        errors: list[RowError] = []
        if sku in self.seen_sku:
            errors.append(_error(number, "sku", f"{sku} appears more than once."))
        if barcode and (
            self.barcode_owner.get(barcode, sku) != sku
            or self.seen_barcode.get(barcode, sku) != sku
        ):
            errors.append(_error(number, "barcode", f"Barcode {barcode} belongs to another SKU."))
        return errors

    def keep(self, sku: str, barcode: str | None) -> None:
        self.seen_sku.add(sku)
        if barcode:
            self.seen_barcode[barcode] = sku


def _products_chunk_apply(chunk: Sequence[tuple[int, Product, bool]]) -> None:
    Product.objects.bulk_create(
        [product for _, product, _ in chunk],
        update_conflicts=True,
        unique_fields=["sku"],
        update_fields=list(PRODUCT_COLUMNS[1:]) + ["updated_at"],
    )


def products_import(
    *,
    rows: list[dict[str, str]],
    dry_run: bool = True,
    skip_bad_rows: bool = False,
    user: ActingUser | None = None,
    progress: Progress | None = None,
) -> ImportResult:
    """Create or update products by SKU. Same error and all-or-nothing rules as stock levels."""
    existing = {p.sku: p for p in Product.objects.filter(sku__in={r.get("sku", "") for r in rows})}
    uniqueness = _ProductUniqueness(
        # Every barcode of every product (the primary ones and the extra ones of the
        # catalogue API): a row's barcode must be its own product's or nobody's.
        barcode_owner=dict(
            ProductBarcode.objects.filter(
                barcode__in={r["barcode"] for r in rows if r.get("barcode")}
            ).values_list("barcode", "product__sku")
        )
    )
    errors: list[RowError] = []
    valid: list[tuple[int, Product, bool]] = []
    for number, row in enumerate(rows, start=1):
        sku = row.get("sku", "")
        product = existing.get(sku) or Product(sku=sku)
        row_errors = _product_fields_set(number, row, product)
        row_errors += uniqueness.errors(number, sku, product.barcode)
        if row_errors:
            errors.extend(row_errors)
            continue
        uniqueness.keep(sku, product.barcode)
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
        _in_chunks(valid, _products_chunk_apply, progress)
    result.applied_rows = len(valid)
    return result


# --- background jobs ----------------------------------------------------------


def _progress_key(job_id: int) -> str:
    return f"inventory:import:{job_id}:processed"


def import_job_progress(*, job: ImportJob) -> int:
    """Rows processed so far: live from the cache while running (the job row commits at the end)."""
    if job.status == ImportJob.Status.RUNNING:
        return int(cache.get(_progress_key(job.pk), job.processed_rows))
    return job.processed_rows


@transaction.atomic
def import_job_create(
    *,
    kind: str,
    file: File[Any],
    dry_run: bool = True,
    skip_bad_rows: bool = False,
    user: ActingUser | None = None,
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
        created_by=recorded_user(user),
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
            required, run = PRODUCT_REQUIRED, products_import
        else:
            required = STOCK_REQUIRED
            run = partial(stock_levels_import, reference=f"import:{job.pk}")
        rows = rows_from_csv(text=text, required=required)
        ImportJob.objects.filter(pk=job.pk).update(total_rows=len(rows))
        result = run(
            rows=rows,
            dry_run=job.dry_run,
            skip_bad_rows=job.skip_bad_rows,
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
