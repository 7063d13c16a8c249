"""Independent views of a history and of the brokers' logs, used to cross-check the model
without going through the checkers package."""

from __future__ import annotations

from collections import Counter
from typing import Any


def final_reads(ops: list[dict[str, Any]]) -> dict[str, dict[int, Any]]:
    """key -> offset -> value, from the final readers' polls (polls without a group)."""
    out: dict[str, dict[int, Any]] = {}
    for op in ops:
        if op["f"] == "poll" and op["type"] == "ok" and op.get("group") is None:
            for key, records in op["value"][0][1].items():
                for offset, value in records:
                    out.setdefault(key, {})[offset] = value
    return out


def acked_sends(ops: list[dict[str, Any]]) -> list[tuple[str, int, int | None]]:
    """(key, value, offset) of every send acknowledged ok (plain sends and committed txns)."""
    out = []
    for op in ops:
        if op["type"] == "ok" and op["f"] in ("send", "txn"):
            for mop in op["value"]:
                if mop[0] == "send":
                    offset, value = mop[2]
                    out.append((mop[1], value, offset))
    return out


def duplicates(log: dict[str, dict[int, Any]]) -> list[tuple[str, Any]]:
    counts = Counter((key, v) for key, recs in log.items() for v in recs.values())
    return sorted(kv for kv, n in counts.items() if n > 1)


def leader_log(world: Any, key: str) -> list[Any]:
    leader = world.controller.leader_of(key)
    return [r.value for r in world.brokers[leader].logs[key].records if r.control is None]
