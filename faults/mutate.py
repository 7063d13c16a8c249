"""Mutations of a fault schedule, for guided search: small, valid, deterministic edits.

Each mutation keeps a schedule that ``validate_schedule`` accepts for the run's time limit: a
fault moved, stretched or shrunk, re-aimed at another of its kind's targets, removed, copied to
another time, a new fault of a kind from the pool, or half of another schedule spliced in.
With ``params`` a fault's parameters are mutated too (a loss probability, a latency, which
request is held back and for how long, a clock jump's size): one parameter redrawn from its
kind's draw (``NemesisSpec.params_draw``) or moved part of the way towards a fresh draw, and
new faults draw theirs half the time (the kind's defaults otherwise).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from typing import Any

from faults.registry import REGISTRY
from sim.errors import UsageError

MIN_DURATION = 0.02
MARGIN = 0.05  # a fault heals this long before the workload's end at the latest


def targets_of(kind: str) -> list[str]:
    spec = REGISTRY[kind]
    return list(dict.fromkeys([spec.default_target, *spec.swarm_targets]))


def fit_in_time(fault: dict[str, Any], time_limit: float) -> dict[str, Any]:
    """``fault`` moved and cut to start and heal inside the run's fault window."""
    last = max(time_limit - MARGIN, MIN_DURATION * 2)
    at = min(max(0.0, float(fault["at"])), last - MIN_DURATION)
    duration = min(max(MIN_DURATION, float(fault["duration"])), last - at)
    return {**fault, "at": round(at, 3), "duration": round(duration, 3)}


def just_after(moment: float) -> float:
    """The first millisecond strictly after ``moment``: a fault put there runs after the event
    at ``moment``, so the event itself replays as it was."""
    return math.floor(moment * 1000 + 1) / 1000


def new_fault(
    kind: str,
    rng: random.Random,
    time_limit: float,
    params: bool = False,
    after: float | None = None,
) -> dict[str, Any]:
    """A fault of ``kind`` at a random time, or within a second after ``after``."""
    if after is None:
        at = rng.uniform(0.0, time_limit * 0.9)
    else:
        at = max(after + rng.uniform(0.0, 1.0), just_after(after))
    fault = {
        "at": at,
        "nemesis": kind,
        "duration": rng.uniform(0.05, 2.0),
        "target": rng.choice(targets_of(kind)),
        "params": {},
    }
    draw = REGISTRY[kind].params_draw
    if params and draw is not None and rng.random() < 0.5:
        fault["params"] = draw(rng)
    return fit_in_time(fault, time_limit)


def mutate_params(fault: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """``fault`` with one parameter changed: redrawn from its kind's draw, or (a number, half
    the time) moved a quarter or half of the way from its current value towards the fresh
    draw, a small step near what already worked. A result the kind's check refuses (a clock
    rate of exactly 1) takes the fresh draw instead. Kinds without a draw are returned as
    they are; a draw that can be empty (a cut controller keeping no broker on its side) takes
    the parameters away, as swarm would have drawn them."""
    spec = REGISTRY[fault["nemesis"]]
    draw = spec.params_draw
    if draw is None:
        return fault
    fresh = draw(rng)
    if not fresh:
        return {**fault, "params": {}} if fault.get("params") else fault
    old = dict(fault.get("params") or {})
    key = sorted(fresh)[rng.randrange(len(fresh))]
    value = fresh[key]
    current = old.get(key)
    if _number(current) and _number(value) and rng.random() < 0.5:
        step = current + (value - current) * rng.choice((0.25, 0.5))
        value = round(step) if isinstance(value, int) else round(step, 3)
    params = {**old, key: value}
    if spec.check_params is not None:
        try:
            spec.check_params(params)
        except UsageError:
            params = {**old, key: fresh[key]}
    return {**fault, "params": params}


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def mutate(
    schedule: Sequence[dict[str, Any]],
    rng: random.Random,
    kinds: Sequence[str],
    time_limit: float,
    other: Sequence[dict[str, Any]] = (),
    params: bool = False,
    anchor: float | None = None,
) -> list[dict[str, Any]]:
    """One to three random edits of ``schedule`` (a new list; the input is not changed).
    ``params``: fault parameters may be mutated too (without it, the edits and the draws are
    exactly those of a campaign before parameter mutation existed). ``anchor``: when the
    parent run reached its rarest behaviour; an added fault lands within a second after it
    half the time."""
    return _edited(
        schedule, rng, lambda out: _one(out, rng, kinds, time_limit, other, params, anchor)
    )


def explore_after(
    schedule: Sequence[dict[str, Any]],
    rng: random.Random,
    kinds: Sequence[str],
    time_limit: float,
    anchor: float,
    params: bool = False,
) -> list[dict[str, Any]]:
    """One to three edits that leave everything up to ``anchor`` as it was: a new fault within
    a second after it, or (with ``params``) new parameters for a fault that starts after it.
    Run under the parent's seed, the child replays the parent up to the anchor, the rare
    event included, and differs only after it: Go-Explore's "first return, then explore", which
    a deterministic simulator gets by replaying."""

    def edit(out: list[dict[str, Any]]) -> list[dict[str, Any]]:
        later = [j for j, f in enumerate(out) if f["at"] > anchor]
        tunable = [j for j in later if REGISTRY[out[j]["nemesis"]].params_draw]
        if params and tunable and rng.random() < 0.3:
            j = tunable[rng.randrange(len(tunable))]
            out[j] = mutate_params(out[j], rng)
        elif kinds:
            kind = kinds[rng.randrange(len(kinds))]
            out.append(new_fault(kind, rng, time_limit, params, after=anchor))
        return out

    return _edited(schedule, rng, edit)


def _edited(
    schedule: Sequence[dict[str, Any]],
    rng: random.Random,
    edit: Callable[[list[dict[str, Any]]], list[dict[str, Any]]],
) -> list[dict[str, Any]]:
    """One to three applications of ``edit`` to a copy of ``schedule``, sorted by time."""
    out = [dict(f) for f in schedule]
    for _ in range(1 + (rng.random() < 0.5) + (rng.random() < 0.25)):
        out = edit(out)
    out.sort(key=lambda f: (f["at"], f["nemesis"], str(f.get("target"))))
    return out


def _one(
    out: list[dict[str, Any]],
    rng: random.Random,
    kinds: Sequence[str],
    time_limit: float,
    other: Sequence[dict[str, Any]],
    params: bool = False,
    anchor: float | None = None,
) -> list[dict[str, Any]]:
    choice = rng.randrange(10 if params else 8) if out else 0
    if choice in (0, 1) and kinds:  # add a fault
        kind = kinds[rng.randrange(len(kinds))]
        after = anchor if anchor is not None and rng.random() < 0.5 else None
        return [*out, new_fault(kind, rng, time_limit, params, after)]
    if not out:
        return out
    if choice >= 8:  # change one fault's parameters (one of the faults that have any)
        tunable = [j for j, f in enumerate(out) if REGISTRY[f["nemesis"]].params_draw]
        if not tunable:
            return out
        j = tunable[rng.randrange(len(tunable))]
        return out[:j] + [mutate_params(out[j], rng)] + out[j + 1 :]
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
        return [*out, fit_in_time(copy, time_limit)]
    elif other:  # splice: this schedule's first half, the other's second
        cut = rng.uniform(0.0, time_limit)
        return [f for f in out if f["at"] < cut] + [dict(f) for f in other if f["at"] >= cut]
    out[i] = fit_in_time(fault, time_limit)
    return out
