"""Read a Jepsen Kafka/queue workload ``history.edn`` into eosim's history shape.

Jepsen writes one op map per line (older versions: one vector of maps). We map keywords to
strings, integer partition keys to strings (eosim's keys are strings), ``:time`` from nanoseconds
to seconds and ``:process :nemesis`` to ``"nemesis"``. Completed sends whose offset Jepsen did not
learn (``[:send k v]``) become ``["send", k, [None, v]]``. Unknown ``:f`` values are kept; the
checkers ignore what they do not understand. ``send`` and ``txn`` ops get ``"atomic": true``:
Jepsen's checker takes every such op as a transaction (all of its sends or none).
"""

from __future__ import annotations

import datetime
import math
import re
import uuid
from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import edn_format

from checkers.guards import MAX_DEPTH, describe_int_limit, one_line
from checkers.history import HistoryError, validate_ops

NANOS = 1e9
_MICRO_FS = ("send", "poll", "txn")


def _passthrough(x: Any) -> Any:
    return x


def _is_seq(x: Any) -> bool:
    """EDN vectors (ImmutableList) and lists (tuple); not strings."""
    return isinstance(x, Sequence) and not isinstance(x, (str, bytes))


# Jepsen sometimes prints ops as records and exceptions as tagged objects; read them as data.
# (#inst and #uuid are not listed: edn_format parses them itself before looking at its tags.)
for _tag in ("jepsen.history.Op", "error", "object"):
    edn_format.add_tag(_tag, _passthrough)


def load_edn(path: str | Path) -> list[dict[str, Any]]:
    """Read, convert and validate a Jepsen ``history.edn`` file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise HistoryError(f"{p}: cannot read history: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise HistoryError(f"{p.name}: not UTF-8 text ({exc.reason})") from None
    return parse_edn_text(text, source=p.name)


def parse_edn_text(text: str, source: str = "history.edn") -> list[dict[str, Any]]:
    """Parse EDN text (maps one per line, or one vector of maps) into validated ops."""
    try:
        forms = edn_format.loads_all(text)
    except _PARSE_ERRORS as exc:
        raise _locate(text, source, exc) from None
    raw: list[tuple[Any, int]] = _flatten(forms, text)
    ops: list[dict[str, Any]] = []
    lines: list[int] = []
    for position, (form, line) in enumerate(raw):
        try:
            if not isinstance(form, Mapping):
                raise _BadValue(f"expected an op map, got {_plain(form)!r:.60}")
            ops.append(_convert_op(form, position))
        except _BadValue as exc:
            raise HistoryError(f"{source} line {line}: {exc}") from None
        lines.append(line)
    validate_ops(ops, source, lines)
    return ops


class _BadValue(ValueError):
    """EDN data with no JSON-like meaning (too deep, NaN); the caller adds the line."""


# What edn_format raises on bad input: its own error (syntax), NotImplementedError (unknown
# tag), ValueError (a huge integer, #inst or #uuid with a bad payload), TypeError or
# AttributeError (#inst or #uuid of a non-string: it calls len() and .replace() on it),
# ZeroDivisionError (a ratio n/0), RecursionError. Only the parser call is guarded, never
# our own code, so a bug of ours still exits 3.
_PARSE_ERRORS = (
    edn_format.EDNDecodeError,
    NotImplementedError,
    ValueError,
    TypeError,
    AttributeError,
    ZeroDivisionError,
    RecursionError,
)


def _flatten(forms: list[Any], text: str) -> list[tuple[Any, int]]:
    """Top-level forms to (form, line) pairs; a single top-level vector holds the ops."""
    if len(forms) == 1 and _is_seq(forms[0]):
        return [(f, 1) for f in forms[0]]
    starts = [line for _, line in _split_forms(text)]
    if len(starts) != len(forms):
        starts = [1] * len(forms)
    return list(zip(forms, starts, strict=True))


def _locate(text: str, source: str, exc: BaseException) -> HistoryError:
    """One line naming where the parse failed. The parser's own position is used when it gives
    one; otherwise the top-level forms are bisected (each half parsed as a whole), about two
    parses of the file instead of one parser per form."""
    pos = _lexpos(exc)
    if pos is not None:
        line = text.count("\n", 0, pos) + 1
        column = pos - text.rfind("\n", 0, pos)
        return HistoryError(
            f"{source} line {line}: malformed EDN ({_describe(exc)} at column {column})"
        )
    forms = list(_split_forms(text))
    lo, hi = 0, len(forms)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if _fails(forms[lo:mid]) is not None:
            hi = mid
        else:
            lo = mid
    if lo < len(forms):
        found = _fails(forms[lo : lo + 1])
        if found is not None:
            return HistoryError(f"{source} line {forms[lo][1]}: malformed EDN ({_describe(found)})")
    return HistoryError(f"{source}: malformed EDN ({_describe(exc)})")


def _fails(forms: list[tuple[str, int]]) -> BaseException | None:
    try:
        edn_format.loads_all("\n".join(chunk for chunk, _ in forms))
    except _PARSE_ERRORS as exc:
        return exc
    return None


def _lexpos(exc: BaseException) -> int | None:
    """The character position edn_format reports, in a token or in its lexer's message."""
    tok = exc.args[0] if exc.args else None
    pos = getattr(tok, "lexpos", None)
    if isinstance(pos, int):
        return pos
    m = re.search(r"with lexpos (\d+)", str(exc))
    return int(m.group(1)) if m else None


def _split_forms(text: str) -> Iterator[tuple[str, int]]:
    """Cut text into top-level forms by bracket depth, skipping strings, chars and comments."""
    depth = 0
    start = None
    start_line = 1
    line = 1
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c == "\n":
            line += 1
        elif c == '"':
            i += 1
            while i < n and text[i] != '"':
                if text[i] == "\\":
                    i += 1
                elif text[i] == "\n":
                    line += 1
                i += 1
        elif c == "\\":
            i += 1  # a character literal such as \( never opens a form
        elif c == ";":
            while i < n and text[i] != "\n":
                i += 1
            continue
        elif c in "([{":
            if depth == 0 and start is None:
                start, start_line = i, line
            depth += 1
        elif c in ")]}":
            depth -= 1
            if depth < 0:
                raise_at = line
                yield text[i : i + 1], raise_at  # let the parser name the stray bracket
                depth = 0
            elif depth == 0 and start is not None:
                # include a leading tag (#jepsen.history.Op) on the same line
                tag_start = text.rfind("\n", 0, start) + 1
                prefix = text[tag_start:start].strip()
                begin = tag_start if prefix.startswith("#") else start
                yield text[begin : i + 1], start_line
                start = None
        elif not c.isspace() and depth == 0 and c not in "#,":
            # a bare top-level atom: take the token
            j = i
            while j < n and not text[j].isspace() and text[j] not in "([{)]},":
                j += 1
            if not text[i:j].startswith("#"):
                yield text[i:j], line
            i = j
            continue
        i += 1
    if start is not None:
        yield text[start:], start_line


def _describe(exc: BaseException) -> str:
    if isinstance(exc, RecursionError):
        return f"nested deeper than the parser allows (at most {MAX_DEPTH} levels are read)"
    msg = str(exc)
    if isinstance(exc, ValueError) and "digits" in msg and "integer" in msg:
        return describe_int_limit()
    if isinstance(exc, ZeroDivisionError):
        return f"a ratio with denominator 0 ({one_line(msg, 60)})"
    if isinstance(exc, (TypeError, AttributeError)):
        return f"a tagged value of the wrong type: {one_line(msg, 100)}"
    tok = exc.args[0] if exc.args else None
    value = getattr(tok, "value", None)
    if value is not None:
        return f"unexpected {one_line(repr(value), 60)}"
    m = re.match(r"Illegal character '(.)'", msg)
    if m:
        return f"illegal character {m.group(1)!r}"
    if "EOF" in msg:
        return "unexpected end of input: unbalanced brackets?"
    return one_line(msg or type(exc).__name__, 120)


def _name(x: Any) -> Any:
    if isinstance(x, (edn_format.Keyword, edn_format.Symbol)):
        return x.name
    return x


def _plain(x: Any, depth: int = 0) -> Any:
    """EDN data to JSON data: keywords/symbols to names, map keys to strings, and the EDN-only
    scalars (ratios, decimals, instants, UUIDs, chars) to strings, so ``--json`` can write any
    value a witness holds. Raises :class:`_BadValue` for NaN/Infinity and for nesting deeper than
    :data:`MAX_DEPTH` (the walk is recursive, like every consumer of the value after it)."""
    if isinstance(x, (edn_format.Keyword, edn_format.Symbol)):
        return x.name
    if x is None or isinstance(x, (bool, int, str)):
        return x
    if isinstance(x, float):
        if not math.isfinite(x):
            raise _BadValue(f"{'##NaN' if math.isnan(x) else '##Inf'} is not a finite number")
        return x
    if depth >= MAX_DEPTH:
        raise _BadValue(f"nested deeper than {MAX_DEPTH} levels")
    if isinstance(x, edn_format.MetadataValue):
        return _plain(x.value, depth + 1)
    if isinstance(x, Mapping):
        return {_key(k, depth + 1): _plain(v, depth + 1) for k, v in x.items()}
    if _is_seq(x):
        return [_plain(v, depth + 1) for v in x]
    if isinstance(x, (set, frozenset)):
        items = [_plain(v, depth + 1) for v in x]
        try:
            return sorted(items)
        except TypeError:
            return sorted(items, key=repr)
    if isinstance(x, Decimal):
        if not x.is_finite():
            raise _BadValue(f"{x} is not a finite number")
        return f"{x}M"
    if isinstance(x, (datetime.date, datetime.time)):
        return x.isoformat()
    if isinstance(x, (edn_format.Char, Fraction, uuid.UUID)):
        return str(x)
    return one_line(str(x), 200)


def _key(k: Any, depth: int = 0) -> str:
    k = _name(k)
    if isinstance(k, str):
        return k
    if isinstance(k, bool) or k is None:
        return str(k).lower() if k is not None else "nil"
    return str(_plain(k, depth))


def _partition(k: Any) -> Any:
    k = _name(k)
    return k if isinstance(k, str) else str(_plain(k))


def _convert_op(form: Mapping[Any, Any], position: int) -> dict[str, Any]:
    op: dict[str, Any] = {}
    for k, v in form.items():
        op[_key(k)] = v
    type_ = _plain(op.get("type"))
    f = _plain(op.get("f"))
    out: dict[str, Any] = {}
    for k, v in op.items():
        if k in ("value", "rebalance-log"):
            continue
        out[k] = _plain(v)
    out["type"] = type_
    out["f"] = f
    if "index" not in out:
        out["index"] = position
    if isinstance(out.get("time"), (int, float)) and not isinstance(out.get("time"), bool):
        try:
            out["time"] = out["time"] / NANOS
        except OverflowError:  # an integer beyond any float: no time at all
            raise _BadValue("field time is too large a number of nanoseconds") from None
    elif "time" not in out:
        out["time"] = 0.0
    if "process" not in out:
        out["process"] = None
    out["value"] = _convert_value(f, type_, op.get("value"))
    if f in ("send", "txn"):
        out["atomic"] = True
    if "rebalance-log" in op:
        out["rebalance_log"] = _rebalanced_keys(op["rebalance-log"])
    return out


def _convert_value(f: Any, type_: Any, value: Any) -> Any:
    if f in _MICRO_FS and _is_seq(value):
        return [_convert_mop(m, type_) for m in value]
    if f in ("subscribe", "assign") and _is_seq(value):
        return [_partition(k) for k in value]
    return _plain(value)


def _convert_mop(mop: Any, type_: Any) -> Any:
    if not _is_seq(mop) or not mop:
        return _plain(mop)
    kind = _name(mop[0])
    if kind == "send" and len(mop) >= 3:
        key, v = _partition(mop[1]), _plain(mop[2])
        if type_ != "invoke" and not (isinstance(v, list) and len(v) == 2):
            v = [None, v]
        return ["send", key, v]
    if kind == "poll" and len(mop) >= 2 and isinstance(mop[1], Mapping):
        return ["poll", {_partition(k): _plain(pairs) for k, pairs in mop[1].items()}]
    return _plain(mop)


def _rebalanced_keys(log: Any) -> list[str]:
    """Jepsen's ``:rebalance-log`` is a vector of ``{:keys [...]}``; eosim wants the keys."""
    keys: set[str] = set()
    for event in log if _is_seq(log) else []:
        if isinstance(event, Mapping):
            for k, v in event.items():
                if _name(k) == "keys" and (_is_seq(v) or isinstance(v, (set, frozenset))):
                    keys.update(_partition(x) for x in v)
        else:
            keys.add(_partition(event))
    return sorted(keys)
