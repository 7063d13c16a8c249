"""Reading and validating eosim's ``history.jsonl`` (DESIGN.md, "History").

Checkers trust their input's shape, so every loader funnels through :func:`validate_ops`, which
turns the first structural problem into one :class:`HistoryError` line naming the file and the
1-based line number. A checker then never has to guess what a malformed op meant.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from checkers.gcpause import gc_paused

REQUIRED_FIELDS = ("index", "time", "process", "type", "f", "value")
OP_TYPES = frozenset({"invoke", "ok", "fail", "info"})
NEMESIS = "nemesis"


class HistoryError(ValueError):
    """A history that cannot be checked; the message is one line naming the problem."""


def load_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """Read and validate a ``history.jsonl`` file."""
    p = Path(path)
    try:
        with p.open(encoding="utf-8") as fh:
            return parse_jsonl_lines(fh, source=p.name)
    except OSError as exc:
        raise HistoryError(f"{p}: cannot read history: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise HistoryError(f"{p.name}: not UTF-8 text ({exc.reason})") from None


def parse_jsonl_lines(lines: Iterable[str], source: str = "history") -> list[dict[str, Any]]:
    """Parse JSON lines (blank lines ignored) and validate them as one history."""
    with gc_paused():
        return _parse_jsonl_lines(lines, source)


def _parse_jsonl_lines(lines: Iterable[str], source: str) -> list[dict[str, Any]]:
    ops: list[dict[str, Any]] = []
    line_numbers: list[int] = []
    loads = json.loads
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            op = loads(line)
        except json.JSONDecodeError as exc:
            raise HistoryError(
                f"{source} line {n}: invalid JSON ({exc.msg} at column {exc.colno})"
            ) from None
        if not isinstance(op, dict):
            raise HistoryError(f"{source} line {n}: expected a JSON object, got {_kind(op)}")
        ops.append(op)
        line_numbers.append(n)
    validate_ops(ops, source, line_numbers)
    return ops


def validate_ops(
    ops: Sequence[dict[str, Any]], source: str = "history", lines: Sequence[int] | None = None
) -> None:
    """Check required fields, op types and invoke/completion pairing per process.

    Nemesis ops (process ``"nemesis"``) are exempt from pairing: Jepsen logs them as invoke+info
    pairs, eosim as lone ``info`` records, and neither is a client op.
    """
    pending: dict[Any, int] = {}
    for i, op in enumerate(ops):
        n = lines[i] if lines is not None else i + 1
        where = f"{source} line {n}"
        missing = [f for f in REQUIRED_FIELDS if f not in op]
        if missing:
            raise HistoryError(f"{where}: missing field(s) {', '.join(missing)}")
        type_ = op["type"]
        if type_ not in OP_TYPES:
            raise HistoryError(
                f"{where}: unknown type {type_!r} (expected invoke, ok, fail or info)"
            )
        if not isinstance(op["f"], str):
            raise HistoryError(f"{where}: field f must be a string, got {_kind(op['f'])}")
        process = op["process"]
        if isinstance(process, (dict, list)):
            raise HistoryError(f"{where}: field process must be a number or string")
        if process == NEMESIS:
            continue
        if type_ == "invoke":
            if process in pending:
                raise HistoryError(
                    f"{where}: second invoke for process {process} while the op invoked at "
                    f"index {pending[process]} is pending"
                )
            pending[process] = op["index"]
        elif pending.pop(process, None) is None:
            raise HistoryError(f"{where}: completion without invoke for process {process}")


def _kind(x: Any) -> str:
    names: dict[type, str] = {dict: "an object", list: "an array", str: "a string"}
    return names.get(type(x), type(x).__name__)
