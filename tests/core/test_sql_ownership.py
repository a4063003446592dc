"""No SQL string outside an app names that app's tables (STYLE.md rule 18, issue 17).

A table is written and read by hand-written SQL only in its own app (`<app>/sql.py`);
another app composes the fragments the owner offers. This scans every string literal
of the application code (docstrings aside) for the exact names of the tables Django
manages, plus their sequences, and fails on any that crosses an app boundary.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from django.apps import apps

ROOT = Path(__file__).resolve().parents[2]
# Application code: the domain apps, the back office and the demo/sandbox packages
# (which own no tables at all). Migrations, tests, benchmarks and scripts are not.
SCANNED = [
    "core",
    "inventory",
    "logistics",
    "orders",
    "returns",
    "economics",
    "routing",
    "partners",
    "backoffice",
    "demo",
    "sandbox",
    "config",
]


def _tables() -> dict[str, str]:
    """db table name → the app label that owns it, for every model (auto-created too)."""
    owner = {}
    for model in apps.get_models(include_auto_created=True):
        owner[model._meta.db_table] = model._meta.app_label
    return owner


def _docstring_nodes(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                ids.add(id(body[0].value))
    return ids


def _strings(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    skip = _docstring_nodes(tree)
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip
    ]


def _crossings() -> list[str]:
    owner = _tables()
    labels = {app.label for app in apps.get_app_configs()}
    names = sorted(owner, key=len, reverse=True)
    table_re = re.compile(
        r"(?<![A-Za-z0-9_])(" + "|".join(map(re.escape, names)) + r")(?![A-Za-z0-9_])"
    )
    sequence_re = re.compile(r"(?<![A-Za-z0-9_])([a-z]+)_[a-z0-9_]+_seq(?![A-Za-z0-9_])")
    found = []
    for package in SCANNED:
        for path in sorted((ROOT / package).rglob("*.py")) if (ROOT / package).is_dir() else []:
            if "migrations" in path.parts:
                continue
            for line, text in _strings(path):
                named = {(m, owner[m]) for m in table_re.findall(text)}
                named |= {
                    (m.group(0), m.group(1))
                    for m in sequence_re.finditer(text)
                    if m.group(1) in labels
                }
                for table, app in sorted(named):
                    if app != package:
                        found.append(
                            f"{path.relative_to(ROOT)}:{line} names {table} ({app}'s table)"
                        )
    return found


def test_no_sql_string_names_another_apps_table():
    crossings = _crossings()
    assert not crossings, "SQL crossing app boundaries:\n" + "\n".join(crossings)


def test_the_scan_sees_a_crossing(tmp_path, monkeypatch):
    # The scan itself must be able to fail: a logistics string naming an orders table.
    fake = tmp_path / "logistics"
    fake.mkdir()
    (fake / "bad.py").write_text('SQL = "UPDATE orders_orderline SET quantity_shipped = 1"\n')
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    assert _crossings() == ["logistics/bad.py:1 names orders_orderline (orders's table)"]


@pytest.mark.parametrize("text", ["orders_order_number_seq"])
def test_the_scan_knows_sequences_by_their_app_prefix(text, tmp_path, monkeypatch):
    fake = tmp_path / "inventory"
    fake.mkdir()
    (fake / "bad.py").write_text(f"SQL = \"SELECT nextval('{text}')\"\n")
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    assert _crossings() == [f"inventory/bad.py:1 names {text} (orders's table)"]
