"""Micro-op access: the sends and polls inside an op's ``value`` (DESIGN.md, "Micro-ops").

Kept tolerant on purpose: an op whose value is not a list of micro-ops (a nemesis op, an
``assign``) simply has no reads or writes, so checkers can walk every op without special cases.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

NEMESIS = "nemesis"


def is_client_completion(op: dict[str, Any]) -> bool:
    return op["type"] != "invoke" and op["process"] != NEMESIS


def hashable(v: Any) -> Any:
    """Values are integers in eosim; Jepsen-style data may hold lists, which we freeze."""
    if type(v) is int:  # the usual case, answered before the two isinstance checks
        return v
    if isinstance(v, list):
        return tuple(hashable(x) for x in v)
    if isinstance(v, dict):
        return tuple(sorted((k, hashable(x)) for k, x in v.items()))
    return v


def mops(op: dict[str, Any]) -> list[Any]:
    value = op.get("value")
    return value if isinstance(value, list) else []


def reads(op: dict[str, Any]) -> Iterator[tuple[str, int | None, Any]]:
    """(key, offset, value) for every record a completion's polls returned, in order."""
    for mop in mops(op):
        if isinstance(mop, list) and len(mop) >= 2 and mop[0] == "poll":
            polled = mop[1]
            if not isinstance(polled, dict):
                continue
            for key, pairs in polled.items():
                if not isinstance(pairs, list):
                    continue
                for pair in pairs:
                    if isinstance(pair, list) and len(pair) == 2:
                        off = pair[0]
                        yield key, off if isinstance(off, int) else None, hashable(pair[1])


def reads_by_key(op: dict[str, Any]) -> dict[str, list[tuple[int | None, Any]]]:
    out: dict[str, list[tuple[int | None, Any]]] = {}
    for key, off, v in reads(op):
        out.setdefault(key, []).append((off, v))
    return out


def writes(op: dict[str, Any]) -> Iterator[tuple[str, int | None, Any]]:
    """(key, offset or None, value) for every send; invokes carry no offset."""
    completion = op["type"] != "invoke"
    for mop in mops(op):
        if isinstance(mop, list) and len(mop) >= 3 and mop[0] == "send":
            v = mop[2]
            if completion and isinstance(v, list) and len(v) == 2:
                off = v[0]
                yield mop[1], off if isinstance(off, int) else None, hashable(v[1])
            else:
                yield mop[1], None, hashable(v)


def has_reads(op: dict[str, Any]) -> bool:
    return any(isinstance(m, list) and m and m[0] == "poll" for m in mops(op))


def session_of(op: dict[str, Any]) -> Any:
    """A producer session: its producer id when the history records one, else its process."""
    pid = op.get("pid")
    return pid if pid is not None else op["process"]
