"""Bounds for JSON that comes from outside: partner API bodies, LSP webhooks and answers.

Two things in valid JSON break us later rather than at the door:

- Deep nesting. Python's json parser recurses once per level, so 5,000 `[` raise
  RecursionError (not ValueError) wherever the text is parsed, and a few hundred
  levels that do parse can still exhaust the stack in whatever walks them next.
  No payload we accept comes close to MAX_JSON_DEPTH levels.
- Text Postgres cannot store: NUL (`\\u0000`) in text or jsonb, and lone UTF-16
  surrogates (`\\ud800`), which have no UTF-8 encoding. They fail the INSERT, and a
  row that failed once fails every retry.

The checks on raw bytes run at C speed (bytes.count, regular expressions); the
parsed data is walked only when the bytes hold an escape that could be one of them.
"""

from __future__ import annotations

import json
import re
from typing import Any

MAX_JSON_DEPTH = 32

# A JSON string, so that brackets and escapes inside strings are not counted as structure.
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_INNERMOST_PAIR = re.compile(rb"[\[{][\]}]")
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
# An escape that may decode to NUL or to a surrogate (paired or not): worth a closer look.
_SUSPECT_ESCAPE = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])")
_UNSTORABLE_CHAR = re.compile("[\x00\ud800-\udfff]")


class JSONTooDeep(ValueError):
    """The JSON text nests arrays/objects deeper than allowed (a ValueError like any bad JSON)."""


def json_depth_exceeds(body: bytes | str, *, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether the arrays and objects of `body` nest deeper than `limit` levels.

    Exact for valid JSON. Invalid JSON is refused by the parser anyway, but one that
    leaves more than `limit` brackets open also counts as too deep: a parser recurses
    into them before it finds the end. Cost: one pass per level over the brackets alone.
    """
    raw = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False
    brackets = _STRING.sub(b"", raw).translate(None, _NOT_BRACKETS)
    # Each pass removes every innermost pair, i.e. one level of the deepest nesting.
    for _ in range(limit):
        brackets, removed = _INNERMOST_PAIR.subn(b"", brackets)
        if not brackets:
            return False
        if not removed:
            # Unbalanced, so not JSON; but a parser still recurses into every `[` left open.
            return len(brackets) > limit
    return bool(brackets)


def json_loads_bounded(body: bytes | str, *, limit: int = MAX_JSON_DEPTH) -> Any:
    """json.loads that refuses nesting deeper than `limit` with JSONTooDeep (a ValueError)."""
    if json_depth_exceeds(body, limit=limit):
        raise JSONTooDeep(f"JSON nested deeper than {limit} levels.")
    try:
        return json.loads(body)
    except RecursionError as exc:  # a deeper stack than usual: still a refusal, not a crash
        raise JSONTooDeep(f"JSON nested deeper than {limit} levels.") from exc


def text_unstorable(value: str) -> bool:
    """Whether `value` holds NUL or a lone surrogate, which Postgres text cannot store."""
    return _UNSTORABLE_CHAR.search(value) is not None


def unstorable_json_path(data: Any, path: str = "") -> str | None:
    """The first place (in document order) in parsed JSON (`lines[2].sku`, a key too) holding unstorable text.

    Returns None when every string and key is storable; `path` is "" for the document.
    """
    stack: list[tuple[str, Any]] = [(path, data)]
    while stack:
        where, value = stack.pop()
        if isinstance(value, str):
            if text_unstorable(value):
                return where
        elif isinstance(value, dict):
            children = []
            for key, item in value.items():
                child = f"{where}.{key}" if where else str(key)
                if isinstance(key, str) and text_unstorable(key):
                    return child
                children.append((child, item))
            stack.extend(reversed(children))
        elif isinstance(value, list):
            stack.extend(reversed([(f"{where}[{i}]", item) for i, item in enumerate(value)]))
    return None


def json_body_problem(body: bytes, *, limit: int = MAX_JSON_DEPTH) -> str | None:
    """Why a JSON body from outside cannot be stored and processed, or None when it can.

    Used where the body is kept before it is parsed (the LSP webhook log): too deep,
    a raw NUL byte, or a string escape decoding to NUL or a lone surrogate. A body
    that is not JSON at all is not judged here (its consumer ignores it).
    """
    if b"\x00" in body:
        return "The body contains a NUL byte."
    if json_depth_exceeds(body, limit=limit):
        return f"The JSON nests deeper than {limit} levels."
    if _SUSPECT_ESCAPE.search(body) is None:
        return None
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return None
    where = unstorable_json_path(data)
    if where is None:
        return None
    return f"A string{f' at {where}' if where else ''} holds NUL or a lone surrogate."
