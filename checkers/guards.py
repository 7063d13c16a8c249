"""Bounds on untrusted history data, shared by the JSON and EDN readers.

A history file is input, not code: a value nested a thousand levels deep, a NaN or a list where an
identity belongs would otherwise surface far from the reader as a RecursionError, an invalid JSON
output or an unhashable-type crash. These helpers let the readers refuse such data up front.
"""

from __future__ import annotations

import math
import sys
from typing import Any

MAX_DEPTH = 100
"""Deepest nesting a history value may have. eosim's values are integers and Jepsen's at most a
few levels deep; the bound keeps every recursive walk (freezing values, repr, JSON output) far
below Python's recursion limit."""

MESSAGE_LIMIT = 300

_SCALARS = (type(None), bool, int, str, float)


def one_line(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """Collapse whitespace (parsers quote input, newlines included) and cap the length."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def deeper_than(x: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether lists/dicts nest more than ``limit`` levels; iterative, so any depth is safe."""
    stack: list[tuple[Any, int]] = [(x, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth >= limit:
            return True
        stack.extend((c, depth + 1) for c in children if isinstance(c, (list, dict)))
    return False


def is_scalar(x: Any) -> bool:
    """A value usable as an identity (process, pid, group...): hashable and JSON-writable."""
    return type(x) in _SCALARS and (type(x) is not float or math.isfinite(x))


def is_number(x: Any) -> bool:
    """A finite int or float (not a bool)."""
    return (type(x) is int) or (type(x) is float and math.isfinite(x))


def describe_int_limit() -> str:
    return f"integer with more than {sys.get_int_max_str_digits()} digits"


def kind(x: Any) -> str:
    """A short name for the JSON type of ``x``, for messages."""
    names: dict[type, str] = {dict: "an object", list: "an array", str: "a string"}
    return names.get(type(x), type(x).__name__)


def finite_json(x: Any) -> Any:
    """``x`` with non-finite floats written as strings, so strict JSON can hold it; a float like
    ``1e999`` in a JSON history reads as infinity and may reach a witness."""
    if isinstance(x, float) and not math.isfinite(x):
        return "NaN" if math.isnan(x) else ("Infinity" if x > 0 else "-Infinity")
    if isinstance(x, dict):
        return {k: finite_json(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [finite_json(v) for v in x]
    return x
