"""A clean, realistic synthetic history for benchmarks and tests (no simulator needed).

Three producer processes send to six keys with some ``info`` sends (half of which landed), two
assigned consumers poll every key forward, and at the end one reader per key reads the whole log.
Concurrency is modelled by interleaving invocations and completions of different processes. Any
anomaly a checker finds in this history is a checker bug.
"""

from __future__ import annotations

import random
from typing import Any

KEYS = tuple(f"k{i}" for i in range(6))
PRODUCERS = (0, 1, 2)
CONSUMERS = (3, 4)
MAX_POLL = 5


def synthetic_history(n_ops: int, seed: int) -> list[dict[str, Any]]:
    """About ``n_ops`` history records (invokes and completions), deterministic in ``seed``."""
    rng = random.Random(seed)
    logs: dict[str, list[int]] = {k: [] for k in KEYS}
    next_value = dict.fromkeys(KEYS, 0)
    history: list[dict[str, Any]] = []
    pending: dict[int, dict[str, Any]] = {}
    positions = {p: dict.fromkeys(KEYS, 0) for p in CONSUMERS}
    time = 0.0

    def emit(process: Any, type_: str, f: str, value: Any, **extra: Any) -> None:
        op = {"index": len(history), "time": round(time, 6), "process": process}
        op.update(type=type_, f=f, value=value, **extra)
        history.append(op)

    for p in CONSUMERS:
        emit(p, "invoke", "assign", list(KEYS))
        emit(p, "ok", "assign", list(KEYS))
    budget = max(0, n_ops - len(history) - 4 * len(KEYS))
    while len(history) < budget:
        time += rng.expovariate(1000.0)
        p = rng.choice(PRODUCERS + CONSUMERS)
        if p in pending:
            inv = pending.pop(p)
            if inv["f"] == "send":
                key, v = inv["value"][0][1], inv["value"][0][2]
                if rng.random() < 0.02:
                    if rng.random() < 0.5:
                        logs[key].append(v)
                    emit(p, "info", "send", [["send", key, [None, v]]])
                else:
                    logs[key].append(v)
                    emit(p, "ok", "send", [["send", key, [len(logs[key]) - 1, v]]])
            else:
                got: dict[str, list[list[int]]] = {}
                for key in KEYS:
                    start = positions[p][key]
                    recs = logs[key][start : start + rng.randint(0, MAX_POLL)]
                    if recs:
                        got[key] = [[start + i, v] for i, v in enumerate(recs)]
                        positions[p][key] = start + len(recs)
                emit(p, "ok", "poll", [["poll", got]])
        elif p in PRODUCERS:
            key = rng.choice(KEYS)
            v = next_value[key]
            next_value[key] = v + 1
            emit(p, "invoke", "send", [["send", key, v]])
            pending[p] = history[-1]
        else:
            emit(p, "invoke", "poll", [["poll"]])
            pending[p] = history[-1]
    for p, inv in sorted(pending.items()):
        if inv["f"] == "send":
            key, v = inv["value"][0][1], inv["value"][0][2]
            emit(p, "info", "send", [["send", key, [None, v]]])
        else:
            emit(p, "ok", "poll", [["poll", {}]])
    for i, key in enumerate(KEYS):
        reader = 10 + i
        time += 0.001
        emit(reader, "invoke", "assign", [key])
        emit(reader, "ok", "assign", [key])
        emit(reader, "invoke", "poll", [["poll"]])
        pairs = [[o, v] for o, v in enumerate(logs[key])]
        emit(reader, "ok", "poll", [["poll", {key: pairs} if pairs else {}]])
    return history
