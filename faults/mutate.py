"""Mutations of a fault schedule, for guided search: small, valid, deterministic edits.

Each mutation keeps a schedule that ``validate_schedule`` accepts for the run's time limit: a
fault moved, stretched or shrunk, re-aimed at another of its kind's targets, removed, copied to
another time, a new fault of a kind from the pool, or half of another schedule spliced in.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from faults.registry import REGISTRY

MIN_DURATION = 0.02
MARGIN = 0.05  # a fault heals this long before the workload's end at the latest


def targets_of(kind: str) -> list[str]:
    spec = REGISTRY[kind]
    return list(dict.fromkeys([spec.default_target, *spec.swarm_targets]))


def _fit(fault: dict[str, Any], time_limit: float) -> dict[str, Any]:
    last = max(time_limit - MARGIN, MIN_DURATION * 2)
    at = min(max(0.0, float(fault["at"])), last - MIN_DURATION)
    duration = min(max(MIN_DURATION, float(fault["duration"])), last - at)
    return {**fault, "at": round(at, 3), "duration": round(duration, 3)}


def new_fault(kind: str, rng: random.Random, time_limit: float) -> dict[str, Any]:
    at = rng.uniform(0.0, time_limit * 0.9)
    fault = {
        "at": at,
        "nemesis": kind,
        "duration": rng.uniform(0.05, 2.0),
        "target": rng.choice(targets_of(kind)),
        "params": {},
    }
    return _fit(fault, time_limit)


def mutate(
    schedule: Sequence[dict[str, Any]],
    rng: random.Random,
    kinds: Sequence[str],
    time_limit: float,
    other: Sequence[dict[str, Any]] = (),
) -> list[dict[str, Any]]:
    """One to three random edits of ``schedule`` (a new list; the input is not changed)."""
    out = [dict(f) for f in schedule]
    for _ in range(1 + (rng.random() < 0.5) + (rng.random() < 0.25)):
        out = _one(out, rng, kinds, time_limit, other)
    out.sort(key=lambda f: (f["at"], f["nemesis"], str(f.get("target"))))
    return out


def _one(
    out: list[dict[str, Any]],
    rng: random.Random,
    kinds: Sequence[str],
    time_limit: float,
    other: Sequence[dict[str, Any]],
) -> list[dict[str, Any]]:
    choice = rng.randrange(8) if out else 0
    if choice in (0, 1) and kinds:  # add a fault
        return [*out, new_fault(kinds[rng.randrange(len(kinds))], rng, time_limit)]
    if not out:
        return out
    i = rng.randrange(len(out))
    fault = dict(out[i])
    if choice == 2:  # move it
        fault["at"] = fault["at"] + rng.gauss(0.0, 0.5)
    elif choice == 3:  # stretch or shrink it
        fault["duration"] = fault["duration"] * rng.choice((0.25, 0.5, 2.0, 4.0))
    elif choice == 4:  # aim it elsewhere
        fault["target"] = rng.choice(targets_of(fault["nemesis"]))
    elif choice == 5 and len(out) > 1:  # remove it
        return out[:i] + out[i + 1 :]
    elif choice == 6:  # a copy at another time (faults that overlap find races)
        copy = dict(fault)
        copy["at"] = fault["at"] + rng.uniform(-1.0, 1.0)
        return [*out, _fit(copy, time_limit)]
    elif other:  # splice: this schedule's first half, the other's second
        cut = rng.uniform(0.0, time_limit)
        return [f for f in out if f["at"] < cut] + [dict(f) for f in other if f["at"] >= cut]
    out[i] = _fit(fault, time_limit)
    return out
