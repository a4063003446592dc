"""No app-code function is above cyclomatic complexity 20 (radon grade D or worse).

A function that must stay whole says why in the comment line(s) directly above its
`def` (or above its decorators): `# complexity: <why it must stay whole>`.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from radon.complexity import add_inner_blocks, cc_visit
from radon.visitors import Function

ROOT = Path(__file__).resolve().parents[2]
APP_PACKAGES = (
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
)
SKIPPED_DIRS = {"migrations", "tests", "bench", "scripts", "__pycache__"}
MAX_COMPLEXITY = 20
JUSTIFICATION = re.compile(r"#.*\bcomplexity:\s*\S")


def _app_sources() -> list[Path]:
    sources: list[Path] = []
    for package in APP_PACKAGES:
        root = ROOT / package
        if not root.is_dir():
            continue
        sources.extend(
            path
            for path in sorted(root.rglob("*.py"))
            if not SKIPPED_DIRS.intersection(path.relative_to(ROOT).parts)
        )
    return sources


def _first_lines(tree: ast.AST) -> dict[int, int]:
    """Map each function's `def` line to its first line (its first decorator, if any)."""
    first: dict[int, int] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            first[node.lineno] = min([node.lineno, *(d.lineno for d in node.decorator_list)])
    return first


def _justified(lines: list[str], first_line: int) -> bool:
    """True if the comment block directly above line `first_line` (1-based) says why."""
    index = first_line - 2
    while index >= 0 and lines[index].strip().startswith("#"):
        if JUSTIFICATION.search(lines[index]):
            return True
        index -= 1
    return False


def _too_complex(path: Path, root: Path = ROOT) -> list[str]:
    source = path.read_text()
    tree = ast.parse(source, filename=str(path))
    first_lines = _first_lines(tree)
    lines = source.splitlines()
    found: list[str] = []
    for block in add_inner_blocks(cc_visit(source)):
        if not isinstance(block, Function) or block.complexity <= MAX_COMPLEXITY:
            continue
        if _justified(lines, first_lines.get(block.lineno, block.lineno)):
            continue
        name = f"{block.classname}.{block.name}" if block.classname else block.name
        found.append(f"{path.relative_to(root)}:{block.lineno} {name} ({block.complexity})")
    return found


def test_the_scan_sees_the_app_code():
    sources = {path.relative_to(ROOT).as_posix() for path in _app_sources()}
    assert "orders/transitions.py" in sources
    assert not any("/migrations/" in source for source in sources)


def test_a_justified_function_is_let_through_and_a_bare_one_is_not(tmp_path):
    branches = "\n".join(f"    if x == {n}:\n        return {n}" for n in range(MAX_COMPLEXITY + 1))
    bare = f"def bare(x):\n{branches}\n    return -1\n"
    justified = (
        "# complexity: one flat dispatch over the wire codes reads best as a whole\n"
        f"@staticmethod\ndef justified(x):\n{branches}\n    return -1\n"
    )
    (tmp_path / "bare.py").write_text(bare)
    (tmp_path / "justified.py").write_text(justified)
    assert _too_complex(tmp_path / "bare.py", root=tmp_path) == ["bare.py:1 bare (22)"]
    assert _too_complex(tmp_path / "justified.py", root=tmp_path) == []


def test_no_app_function_is_above_complexity_20():
    too_complex = [entry for path in _app_sources() for entry in _too_complex(path)]
    assert not too_complex, (
        f"Functions above cyclomatic complexity {MAX_COMPLEXITY}: split them, or say why one "
        "must stay whole in a `# complexity: ...` comment directly above its def:\n"
        + "\n".join(too_complex)
    )
