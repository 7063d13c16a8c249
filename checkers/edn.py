"""Read a Jepsen Kafka/queue workload ``history.edn`` into eosim's history shape.

Jepsen writes one op map per line (older versions: one vector of maps). We map keywords to
strings, integer partition keys to strings (eosim's keys are strings), ``:time`` from nanoseconds
to seconds and ``:process :nemesis`` to ``"nemesis"``. Completed sends whose offset Jepsen did not
learn (``[:send k v]``) become ``["send", k, [None, v]]``. Unknown ``:f`` values are kept; the
checkers ignore what they do not understand. ``send`` and ``txn`` ops get ``"atomic": true``:
Jepsen's checker takes every such op as a transaction (all of its sends or none).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import edn_format

from checkers.history import HistoryError, validate_ops

NANOS = 1e9
_MICRO_FS = ("send", "poll", "txn")


def _passthrough(x: Any) -> Any:
    return x


def _is_seq(x: Any) -> bool:
    """EDN vectors (ImmutableList) and lists (tuple); not strings."""
    return isinstance(x, Sequence) and not isinstance(x, (str, bytes))


# Jepsen sometimes prints ops as records and exceptions as tagged objects; read them as data.
for _tag in ("jepsen.history.Op", "error", "object", "inst", "uuid"):
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
        raw: list[tuple[Any, int]] = _flatten(forms, text)
    except (edn_format.EDNDecodeError, NotImplementedError, ValueError, TypeError, KeyError):
        raw = list(_parse_forms_one_by_one(text, source))
    ops: list[dict[str, Any]] = []
    lines: list[int] = []
    for position, (form, line) in enumerate(raw):
        if not isinstance(form, Mapping):
            raise HistoryError(
                f"{source} line {line}: expected an op map, got {_plain(form)!r:.60}"
            )
        ops.append(_convert_op(form, position))
        lines.append(line)
    validate_ops(ops, source, lines)
    return ops


def _flatten(forms: list[Any], text: str) -> list[tuple[Any, int]]:
    """Top-level forms to (form, line) pairs; a single top-level vector holds the ops."""
    if len(forms) == 1 and _is_seq(forms[0]):
        return [(f, 1) for f in forms[0]]
    starts = [line for _, line in _split_forms(text)]
    if len(starts) != len(forms):
        starts = [1] * len(forms)
    return list(zip(forms, starts, strict=True))


def _parse_forms_one_by_one(text: str, source: str) -> Iterator[tuple[Any, int]]:
    """Slow path, used only to locate an error: parse each top-level form on its own."""
    for chunk, line in _split_forms(text):
        try:
            parsed = edn_format.loads_all(chunk)
        except edn_format.EDNDecodeError as exc:
            raise HistoryError(f"{source} line {line}: malformed EDN ({_describe(exc)})") from None
        except NotImplementedError as exc:
            raise HistoryError(f"{source} line {line}: malformed EDN ({exc})") from None
        for form in parsed:
            if _is_seq(form) and form and all(isinstance(x, Mapping) for x in form):
                yield from ((f, line) for f in form)
            else:
                yield form, line


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


def _describe(exc: Exception) -> str:
    msg = str(exc)
    tok = exc.args[0] if exc.args else None
    value = getattr(tok, "value", None)
    lexpos = getattr(tok, "lexpos", None)
    if value is not None:
        where = f" at character {lexpos + 1}" if isinstance(lexpos, int) else ""
        return f"unexpected {value!r}{where}"
    if "EOF" in msg:
        return "unexpected end of input: unbalanced brackets?"
    return msg or type(exc).__name__


def _name(x: Any) -> Any:
    if isinstance(x, (edn_format.Keyword, edn_format.Symbol)):
        return x.name
    return x


def _plain(x: Any) -> Any:
    """EDN data to JSON-like data: keywords/symbols to names, map keys to strings."""
    if isinstance(x, (edn_format.Keyword, edn_format.Symbol)):
        return x.name
    if isinstance(x, edn_format.Char):
        return str(x)
    if isinstance(x, Mapping):
        return {_key(k): _plain(v) for k, v in x.items()}
    if _is_seq(x):
        return [_plain(v) for v in x]
    if isinstance(x, (set, frozenset)):
        items = [_plain(v) for v in x]
        try:
            return sorted(items)
        except TypeError:
            return sorted(items, key=repr)
    return x


def _key(k: Any) -> str:
    k = _name(k)
    if isinstance(k, str):
        return k
    if isinstance(k, bool) or k is None:
        return str(k).lower() if k is not None else "nil"
    return str(_plain(k))


def _partition(k: Any) -> Any:
    k = _name(k)
    return k if isinstance(k, str) else str(k)


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
        out["time"] = out["time"] / NANOS
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
