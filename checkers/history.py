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
from checkers.guards import (
    MAX_DEPTH,
    deeper_than,
    describe_int_limit,
    is_number,
    is_scalar,
    kind,
    one_line,
)

REQUIRED_FIELDS = ("index", "time", "process", "type", "f", "value")
_REQUIRED = frozenset(REQUIRED_FIELDS)
OP_TYPES = frozenset({"invoke", "ok", "fail", "info"})
NEMESIS = "nemesis"
# Optional fields the checkers use as identities (dict keys, sort keys): scalars only.
SCALAR_FIELDS = ("pid", "group", "txn_id", "epoch", "sink", "isolation")


class HistoryError(ValueError):
    """A history that cannot be checked; the message is one line naming the problem (forced:
    parsers quote input, newlines included, and the CLI promises one line)."""

    def __init__(self, message: str) -> None:
        super().__init__(one_line(message))


class _NonFinite(ValueError):
    """A NaN or Infinity literal: Python's json accepts them, JSON does not."""


def _refuse_constant(name: str) -> Any:
    raise _NonFinite(name)


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


CHUNK = 1000


def _parse_jsonl_lines(lines: Iterable[str], source: str) -> list[dict[str, Any]]:
    """Parse a thousand lines at a time as one JSON array: one decoder call per chunk instead
    of per line, and the decoder shares each key string within the chunk (measured on 1M ops:
    ~1.8x faster and ~25% less memory than a ``loads`` per line). A chunk that fails, or does not
    give one JSON value per line, is read again line by line for the exact error."""
    ops: list[dict[str, Any]] = []
    line_numbers: list[int] = []
    chunk: list[str] = []
    numbers: list[int] = []
    for n, line in enumerate(lines, start=1):
        if not line or line.isspace():
            continue
        chunk.append(line)
        numbers.append(n)
        if len(chunk) >= CHUNK:
            ops.extend(_parse_chunk(chunk, numbers, source))
            line_numbers.extend(numbers)
            chunk, numbers = [], []
    if chunk:
        ops.extend(_parse_chunk(chunk, numbers, source))
        line_numbers.extend(numbers)
    validate_ops(ops, source, line_numbers)
    return ops


def _parse_chunk(chunk: list[str], numbers: list[int], source: str) -> list[dict[str, Any]]:
    try:
        parsed = json.loads("[" + ",".join(chunk) + "]", parse_constant=_refuse_constant)
    except (ValueError, RecursionError):  # JSONDecodeError, NaN, a huge integer, deep nesting
        parsed = None
    if (
        isinstance(parsed, list)
        and len(parsed) == len(chunk)
        and all(type(op) is dict for op in parsed)
    ):
        _check_depth(chunk, numbers, parsed, source)
        return parsed
    return [_parse_line(line, n, source) for line, n in zip(chunk, numbers, strict=True)]


def _check_depth(
    chunk: list[str], numbers: list[int], parsed: list[dict[str, Any]], source: str
) -> None:
    """Refuse values nested deeper than MAX_DEPTH. A line needs two characters and a bracket
    per level, so only long lines with many brackets are walked (a chunk of short lines costs
    one ``max``)."""
    if max(map(len, chunk)) <= 2 * MAX_DEPTH:
        return
    for line, n, op in zip(chunk, numbers, parsed, strict=True):
        if (
            len(line) > 2 * MAX_DEPTH
            and line.count("[") + line.count("{") > MAX_DEPTH
            and deeper_than(op)
        ):
            raise HistoryError(f"{source} line {n}: nested deeper than {MAX_DEPTH} levels")


def _parse_line(line: str, n: int, source: str) -> dict[str, Any]:
    where = f"{source} line {n}"
    try:
        op = json.loads(line, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise HistoryError(f"{where}: invalid JSON ({exc.msg} at column {exc.colno})") from None
    except _NonFinite as exc:
        raise HistoryError(f"{where}: {exc} is not a JSON number") from None
    except RecursionError:
        raise HistoryError(f"{where}: nested deeper than {MAX_DEPTH} levels") from None
    except ValueError as exc:  # the only other one json raises: int() over the digit limit
        if "digits" not in str(exc):
            raise
        raise HistoryError(f"{where}: {describe_int_limit()}") from None
    if not isinstance(op, dict):
        raise HistoryError(f"{where}: expected a JSON object, got {kind(op)}")
    _check_depth([line], [n], [op], source)
    return op


def validate_ops(
    ops: Sequence[dict[str, Any]], source: str = "history", lines: Sequence[int] | None = None
) -> None:
    """Check each op's fields and that a process never invokes twice at once.

    Fields the checkers use as identities or sort keys must have their documented type
    (``index`` an integer, ``process`` a number or string, send keys strings...): a list there
    would otherwise crash a checker far from the line that caused it. A completion without an
    invoke is accepted (Jepsen's checker accepts it, e.g. in its own ``version-orders`` test);
    :func:`checkers.lint.pairing_warnings` names each one in the results. Nemesis ops (process
    ``"nemesis"``) are exempt from pairing: Jepsen logs them as invoke+info pairs, eosim as lone
    ``info`` records, and neither is a client op.
    """
    pending: dict[Any, int] = {}

    def where(i: int) -> str:  # built only for the error: a million f-strings cost a second
        return f"{source} line {lines[i] if lines is not None else i + 1}"

    for i, op in enumerate(ops):
        if not _REQUIRED.issubset(op):
            missing = [f for f in REQUIRED_FIELDS if f not in op]
            raise HistoryError(f"{where(i)}: missing field(s) {', '.join(missing)}")
        # An inlined filter for the common six-field op (a call per op would cost ~5% of a
        # check); whatever it does not clear gets the full, message-building check.
        type_, t, process, value = op["type"], op["time"], op["process"], op["value"]
        tt = type(t)
        suspect = (
            len(op) > len(REQUIRED_FIELDS)
            or type(type_) is not str
            or type_ not in OP_TYPES
            or type(op["f"]) is not str
            or type(op["index"]) is not int
            or (tt is not float and tt is not int)
            or (tt is float and t - t != 0.0)  # inf or nan
            or (type(process) is not int and type(process) is not str and process is not None)
        )
        if not suspect and type(value) is list:
            for m in value:
                if type(m) is list and len(m) >= 3 and m[0] == "send" and type(m[1]) is not str:
                    suspect = True
        if suspect:
            problem = _field_problem(op)
            if problem is not None:
                raise HistoryError(f"{where(i)}: {problem}")
        if process == NEMESIS:
            continue
        if type_ == "invoke":
            if process in pending:
                raise HistoryError(
                    f"{where(i)}: second invoke for process {process} while the op invoked at "
                    f"index {pending[process]} is pending"
                )
            pending[process] = op["index"]
        else:
            pending.pop(process, None)


def _field_problem(op: dict[str, Any]) -> str | None:
    """The first field of ``op`` with the wrong type, as a message; None if all are fine.
    Ordered cheapest first: most ops are eosim's six fields with plain values."""
    type_ = op["type"]
    if type(type_) is not str or type_ not in OP_TYPES:
        return f"unknown type {_show(type_)} (expected invoke, ok, fail or info)"
    if type(op["f"]) is not str:
        return f"field f must be a string, got {kind(op['f'])}"
    if type(op["index"]) is not int:
        return f"field index must be an integer, got {kind(op['index'])}"
    if not is_number(op["time"]):
        return f"field time must be a finite number, got {_show(op['time'])}"
    process = op["process"]
    if type(process) is not int and type(process) is not str and process is not None:
        return f"field process must be a number or string, got {kind(process)}"
    value = op["value"]
    if type(value) is list:
        for mop in value:
            if type(mop) is list and len(mop) >= 3 and mop[0] == "send" and type(mop[1]) is not str:
                return f"send key must be a string, got {_show(mop[1])}"
    if len(op) > len(REQUIRED_FIELDS):
        for name in SCALAR_FIELDS:
            if name in op and not is_scalar(op[name]):
                return f"field {name} must be a string, number or null, got {_show(op[name])}"
        log = op.get("rebalance_log")
        if log is not None and not (type(log) is list and all(type(k) is str for k in log)):
            return "field rebalance_log must be a list of keys (strings)"
    return None


def _show(x: Any) -> str:
    """A value for a message: short, and never a multi-line or giant repr."""
    if isinstance(x, (list, dict)):
        return kind(x)
    return one_line(repr(x), 60)
