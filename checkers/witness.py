"""Witness construction: every witness points back to history indices and explains itself."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

Anomalies = dict[str, list[dict[str, Any]]]


def witness(ops: Iterable[int | None], explanation: str, **fields: Any) -> dict[str, Any]:
    """A witness dict: the given fields, then ``ops`` (sorted, unique) and ``explanation``."""
    out = dict(fields)
    out["ops"] = sorted({o for o in ops if o is not None})
    out["explanation"] = explanation
    return out


def add(anomalies: Anomalies, name: str, w: dict[str, Any]) -> None:
    anomalies.setdefault(name, []).append(w)


def merge(into: Anomalies, other: Anomalies) -> Anomalies:
    for name, ws in other.items():
        if ws:
            into.setdefault(name, []).extend(ws)
    return into


def show(values: Iterable[Any], limit: int = 5) -> str:
    """``1, 2, 3`` or ``1, 2, 3, ... (+4 more)``: short enough for a one-line explanation."""
    vs = list(values)
    head = ", ".join(str(v) for v in vs[:limit])
    return head if len(vs) <= limit else f"{head}, ... (+{len(vs) - limit} more)"


def and_list(values: Iterable[Any]) -> str:
    vs = [str(v) for v in values]
    if len(vs) <= 2:
        return " and ".join(vs)
    return ", ".join(vs[:-1]) + " and " + vs[-1]


def who(op: dict[str, Any] | None) -> str:
    """``op 12 (process 3, at 5.31 s)``: enough to find an op in the timeline by eye."""
    if op is None:
        return "an unknown op"
    t = op.get("time")
    at = f", at {t:.3f} s" if isinstance(t, (int, float)) and not isinstance(t, bool) else ""
    return f"op {op['index']} (process {op['process']}{at})"
