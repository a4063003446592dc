"""CSV order import for channels without an API (docs/channels.md, "CSV order import").

One row per order line; rows with the same `external_reference` form one order (its
order columns written on the first row, and on later rows either repeated or left
empty). A dry run checks every row (the partner API's own input rules, SKUs and
service levels in the database) and writes nothing; a real run creates each valid
order through intake in its own transaction. The channel's unique external reference
makes a second import of the same file create nothing new.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

from django.core.cache import cache
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from core.csv_safe import csv_cell_unescape
from core.errors import Conflict, ValidationFailed
from core.problems import flatten_errors
from core.users import ActingUser, recorded_user
from inventory.models import Product
from logistics.models import ServiceLevel
from orders import error_codes
from orders.services.intake import order_create
from partners.models import OrderImportJob

if TYPE_CHECKING:
    from django.core.files import File

    from orders.models import Channel

ORDER_COLUMNS = (
    "external_reference",
    "currency",
    "customer_email",
    "customer_name",
    "customer_phone",
    "shipping_name",
    "shipping_line1",
    "shipping_line2",
    "shipping_city",
    "shipping_postcode",
    "shipping_region",
    "shipping_country",
    "service_level",
    "placed_at",
)
LINE_COLUMNS = ("sku", "quantity", "unit_price")
REQUIRED_COLUMNS = (
    "external_reference",
    "currency",
    "customer_email",
    "customer_name",
    "shipping_name",
    "shipping_line1",
    "shipping_city",
    "shipping_country",
    *LINE_COLUMNS,
)
MAX_ROWS = 50_000
MAX_REPORTED_ERRORS = 1000
ACTOR = "csv-import"
_INTEGER = re.compile(r"[+-]?\d{1,9}")
_LINE_FIELD = re.compile(r"^lines\[(\d+)\]\.?(.*)$")


@dataclass
class RowError:
    row: int  # the line in the file: the header is line 1
    column: str
    message: str


@dataclass
class _Group:
    reference: str
    first_row: int
    order: dict[str, str]
    lines: list[tuple[int, dict[str, str]]] = field(default_factory=list)


@dataclass
class ImportSummary:
    """What an import found or did; `errors` are per row, column and message."""

    channel: str
    dry_run: bool
    rows: int = 0
    orders: int = 0
    valid: int = 0
    created: int = 0
    existing: int = 0
    failed: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _invalid_file(message: str) -> ValidationFailed:
    return ValidationFailed(
        message, code=error_codes.INVALID_ORDER, errors=[{"field": "file", "message": message}]
    )


def _rows(text: str) -> list[tuple[int, dict[str, str]]]:
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = {(name or "").strip() for name in reader.fieldnames or []}
    missing = [column for column in REQUIRED_COLUMNS if column not in header]
    if missing:
        raise _invalid_file(f"The file is missing the column(s) {', '.join(missing)}.")
    rows: list[tuple[int, dict[str, str]]] = []
    for row in reader:
        if len(rows) >= MAX_ROWS:
            raise _invalid_file(f"The file has more than {MAX_ROWS} rows; split it.")
        cells = {
            (k or "").strip(): csv_cell_unescape((v or "").strip())
            for k, v in row.items()
            if k is not None and isinstance(v, str)
        }
        if any(cells.values()):
            rows.append((reader.line_num, cells))
    return rows


def _groups(rows: list[tuple[int, dict[str, str]]], errors: list[RowError]) -> list[_Group]:
    groups: dict[str, _Group] = {}
    for number, cells in rows:
        reference = cells.get("external_reference", "")
        if not reference:
            errors.append(RowError(number, "external_reference", "This field is required."))
            continue
        group = groups.get(reference)
        if group is None:
            order = {column: cells.get(column, "") for column in ORDER_COLUMNS}
            group = groups[reference] = _Group(reference, number, order)
        else:
            for column in ORDER_COLUMNS:
                value = cells.get(column, "")
                if value and value != group.order[column]:
                    errors.append(
                        RowError(
                            number,
                            column,
                            f"Differs from row {group.first_row} of order {reference!r} "
                            f"({group.order[column]!r}).",
                        )
                    )
        group.lines.append((number, {column: cells.get(column, "") for column in LINE_COLUMNS}))
    return list(groups.values())


def _payload(group: _Group) -> dict[str, Any]:
    order = group.order
    payload: dict[str, Any] = {
        "external_reference": group.reference,
        "currency": order["currency"],
        "customer": {
            "email": order["customer_email"],
            "name": order["customer_name"],
            "phone": order["customer_phone"],
        },
        "shipping_address": {
            "name": order["shipping_name"],
            "line1": order["shipping_line1"],
            "line2": order["shipping_line2"],
            "city": order["shipping_city"],
            "postcode": order["shipping_postcode"],
            "region": order["shipping_region"],
            "country": order["shipping_country"],
        },
        "lines": [
            {
                "sku": line["sku"],
                # JSON's types, as the API takes them: a number where it is one.
                "quantity": int(line["quantity"])
                if _INTEGER.fullmatch(line["quantity"])
                else line["quantity"],
                "unit_price": line["unit_price"],
            }
            for _, line in group.lines
        ],
        "service_level": order["service_level"] or None,
    }
    if order["placed_at"]:
        payload["placed_at"] = order["placed_at"]
    return payload


def _column_of(group: _Group, field_name: str) -> tuple[int, str]:
    """A payload field (`customer.email`, `lines[2].sku`) → the row and column it came from."""
    match = _LINE_FIELD.match(field_name)
    if match:
        index = int(match.group(1))
        row = group.lines[index][0] if index < len(group.lines) else group.first_row
        return row, match.group(2) or "sku"
    head, _, tail = field_name.partition(".")
    if head == "customer":
        return group.first_row, f"customer_{tail}"
    if head == "shipping_address":
        return group.first_row, f"shipping_{tail}"
    if head == "lines":
        return group.first_row, "sku"
    return group.first_row, head or "external_reference"


def _row_errors(group: _Group, errors: list[dict[str, str]]) -> list[RowError]:
    out = []
    for error in errors:
        row, column = _column_of(group, error.get("field", ""))
        out.append(RowError(row, column, error.get("message", "")))
    return out


def _validated(group: _Group) -> tuple[dict[str, Any] | None, list[RowError]]:
    from partners.api.orders import OrderListCreateApi

    serializer = OrderListCreateApi.InputSerializer(data=_payload(group))
    if serializer.is_valid():
        return dict(serializer.validated_data), []
    return None, _row_errors(group, flatten_errors(serializer.errors))


def _database_errors(groups: list[tuple[_Group, dict[str, Any]]]) -> dict[str, list[RowError]]:
    """Unknown or retired SKUs and unknown service levels, per order, in two queries."""
    skus = {line["sku"] for _, data in groups for line in data["lines"]}
    active = dict(Product.objects.filter(sku__in=skus).values_list("sku", "is_active"))
    references = {data.get("service_level") for _, data in groups if data.get("service_level")}
    codes = {str(ref).rpartition(":")[2] for ref in references}
    levels: dict[str, list[str]] = {}
    for code, provider in ServiceLevel.objects.filter(
        Q(code__in=codes), is_active=True, provider__is_active=True
    ).values_list("code", "provider__code"):
        levels.setdefault(code, []).append(provider)
    out: dict[str, list[RowError]] = {}
    for group, data in groups:
        found = []
        for (row, _line), line in zip(group.lines, data["lines"], strict=True):
            state = active.get(line["sku"])
            if state is None:
                found.append(RowError(row, "sku", f"Unknown SKU {line['sku']!r}."))
            elif not state:
                found.append(RowError(row, "sku", f"SKU {line['sku']!r} is not sold any more."))
        reference = data.get("service_level")
        if reference:
            provider, _, code = str(reference).rpartition(":")
            matches = [p for p in levels.get(code, []) if not provider or p == provider]
            if len(matches) != 1:
                found.append(
                    RowError(
                        group.first_row,
                        "service_level",
                        f"Unknown service level {reference!r}."
                        if not matches
                        else f"Service level {reference!r} exists at several providers; "
                        f"write 'provider:{code}'.",
                    )
                )
        if found:
            out[group.reference] = found
    return out


def orders_csv_import(
    *,
    channel: Channel,
    text: str,
    dry_run: bool,
    user: ActingUser | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ImportSummary:
    """Check (dry run) or import the orders of a CSV for `channel`; see the module.

    A real run creates every valid order (each in its own transaction, through intake)
    and skips the bad ones, which the summary lists; an order the channel already has
    (same external_reference) counts as `existing` and is left as it is. `progress`
    is called with (orders processed, orders in the file). Raises ValidationFailed
    when the file itself is unusable (missing columns, too many rows).
    """
    rows = _rows(text)
    errors: list[RowError] = []
    groups = _groups(rows, errors)
    summary = ImportSummary(channel=channel.code, dry_run=dry_run, rows=len(rows))
    summary.orders = len(groups)
    # Orders with a row that disagrees with the order's first row.
    bad = {group.reference for group in groups for e in errors if e.row in _rows_of(group)}
    checked: list[tuple[_Group, dict[str, Any]]] = []
    for group in groups:
        data, found = _validated(group)
        errors.extend(found)
        if data is not None:
            checked.append((group, data))
    database = _database_errors(checked)
    for found in database.values():
        errors.extend(found)
    valid = [
        (group, data)
        for group, data in checked
        if group.reference not in database and group.reference not in bad
    ]
    summary.valid = len(valid)
    summary.failed = len(groups) - len(valid)
    if not dry_run:
        done = len(groups) - len(valid)
        for group, data in valid:
            try:
                with transaction.atomic():
                    order_create(channel=channel, user=recorded_user(user), actor=ACTOR, **data)
            except Conflict:
                summary.existing += 1
            except ValidationFailed as exc:
                summary.failed += 1
                errors.extend(_row_errors(group, exc.errors or [{"message": exc.detail}]))
            else:
                summary.created += 1
            done += 1
            if progress is not None:
                progress(done, len(groups))
    errors.sort(key=lambda e: (e.row, e.column))
    summary.errors = [asdict(e) for e in errors[:MAX_REPORTED_ERRORS]]
    return summary


def _rows_of(group: _Group) -> set[int]:
    return {row for row, _ in group.lines}


# --- background jobs (the admin's upload) ------------------------------------------


def _progress_key(job_id: int) -> str:
    return f"partners:order-import:{job_id}:processed"


def order_import_job_progress(*, job: OrderImportJob) -> int:
    """Orders processed so far: live from the cache while running."""
    if job.status == OrderImportJob.Status.RUNNING:
        return int(cache.get(_progress_key(job.pk), job.processed_orders))
    return job.processed_orders


@transaction.atomic
def order_import_job_create(
    *, channel: Channel, file: File[Any], dry_run: bool = True, user: ActingUser | None = None
) -> OrderImportJob:
    """Store the upload and hand it to a worker after commit (never parsed in the request)."""
    from partners.tasks import order_import_job_run_task

    job = OrderImportJob.objects.create(
        channel=channel, file=file, dry_run=dry_run, created_by=recorded_user(user)
    )
    transaction.on_commit(partial(order_import_job_run_task.delay, job_id=job.pk))
    return job


@transaction.atomic
def order_import_job_rerun(
    *, job: OrderImportJob, user: ActingUser | None = None
) -> OrderImportJob:
    """A real run of the file a (dry-run) job checked: a new job with the same file."""
    from partners.tasks import order_import_job_run_task

    new = OrderImportJob.objects.create(
        channel=job.channel, file=job.file.name, dry_run=False, created_by=recorded_user(user)
    )
    transaction.on_commit(partial(order_import_job_run_task.delay, job_id=new.pk))
    return new


def order_import_job_run(*, job: OrderImportJob) -> OrderImportJob:
    """Run a pending job and record the outcome on it. Safe to run twice: a job that is
    not pending is returned unchanged (and a real run repeated creates nothing new)."""
    claimed = OrderImportJob.objects.filter(pk=job.pk, status=OrderImportJob.Status.PENDING).update(
        status=OrderImportJob.Status.RUNNING, started_at=timezone.now()
    )
    job.refresh_from_db()
    if not claimed:
        return job
    key = _progress_key(job.pk)

    def progress(done: int, total: int) -> None:
        cache.set(key, done, timeout=86400)

    try:
        with job.file.open("rb") as handle:
            text = handle.read().decode("utf-8-sig")
        summary = orders_csv_import(
            channel=job.channel,
            text=text,
            dry_run=job.dry_run,
            user=job.created_by,
            progress=progress,
        )
    except ValidationFailed as exc:
        job.status = OrderImportJob.Status.FAILED
        job.message = exc.detail
        job.errors = [{"row": 1, "column": "", "message": exc.detail}]
    except UnicodeDecodeError:
        job.status = OrderImportJob.Status.FAILED
        job.message = "The file is not UTF-8 text."
    else:
        job.status = OrderImportJob.Status.SUCCEEDED
        job.total_rows = summary.rows
        job.total_orders = summary.orders
        job.processed_orders = summary.orders
        job.created_orders = summary.created
        job.existing_orders = summary.existing
        job.failed_orders = summary.failed
        job.errors = summary.errors
        job.message = (
            f"Dry run: {summary.valid} of {summary.orders} order(s) valid, "
            f"{len(summary.errors)} error(s)."
            if summary.dry_run
            else f"Created {summary.created} order(s), {summary.existing} already present, "
            f"{summary.failed} with errors."
        )
    job.finished_at = timezone.now()
    job.save()
    cache.delete(key)
    return job
