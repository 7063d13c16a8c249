"""Minimise a failing run: fewest faults, shortest windows, fewest clients, shortest run,
while the same anomaly type still appears (delta debugging, deterministic, seed fixed).

The algorithm is pure: it judges candidates with a ``Check`` it is given, so faults/ never
imports the runs layer; ``sim.runs.runner.still_fails`` is the check that runs the simulation."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sim.config import Config

Check = Callable[[Config, list[dict[str, Any]]], bool]


@dataclass
class ShrinkResult:
    config: Config
    schedule: list[dict[str, Any]]
    runs: int = 0
    steps: list[str] = field(default_factory=list)
    reproduced: bool = True  # False: the input was run and did not fail: nothing to shrink


def shrink(
    config: Config, schedule: list[dict[str, Any]], check: Check, max_runs: int = 200
) -> ShrinkResult:
    result = ShrinkResult(config, list(schedule))
    budget = [max_runs]

    def attempt(cfg: Config, sched: list[dict[str, Any]]) -> bool:
        if budget[0] <= 0:
            return False
        budget[0] -= 1
        result.runs += 1
        return check(cfg, sched)

    # 0. the input must fail, or every candidate below would be judged against nothing
    if max_runs <= 0:
        return result
    if not attempt(result.config, result.schedule):
        result.reproduced = False
        result.steps.append("the input does not show the anomaly: nothing to shrink")
        return result
    # 1. fewest faults: drop chunks, then single faults (ddmin)
    chunk = max(1, len(result.schedule) // 2)
    while chunk >= 1 and result.schedule:
        i = 0
        while i < len(result.schedule):
            candidate = result.schedule[:i] + result.schedule[i + chunk :]
            if attempt(result.config, candidate):
                result.steps.append(f"removed {len(result.schedule) - len(candidate)} fault(s)")
                result.schedule = candidate
            else:
                i += chunk
        chunk //= 2
    # 2. shortest windows: halve each duration while it still fails
    for i in range(len(result.schedule)):
        while result.schedule[i]["duration"] > 0.05:
            candidate = [dict(op) for op in result.schedule]
            candidate[i]["duration"] = round(candidate[i]["duration"] / 2, 3)
            if not attempt(result.config, candidate):
                break
            result.schedule = candidate
            result.steps.append(f"fault {i}: window halved to {candidate[i]['duration']}s")
    # 3. fewest clients
    for knob in ("producers", "consumers"):
        while getattr(result.config, knob) > 1:
            candidate_cfg = result.config.replace(**{knob: getattr(result.config, knob) - 1})
            if not attempt(candidate_cfg, result.schedule):
                break
            result.config = candidate_cfg
            result.steps.append(f"{knob} -> {getattr(candidate_cfg, knob)}")
    # 4. shortest run: end the workload soon after the last fault heals
    last_heal = max((op["at"] + op["duration"] for op in result.schedule), default=0.0)
    target = round(max(1.0, last_heal + 0.5), 2)
    if target < result.config.time_limit:
        candidate_cfg = result.config.replace(time_limit=target)
        if attempt(candidate_cfg, result.schedule):
            result.config = candidate_cfg
            result.steps.append(f"time-limit -> {target}s")
    return result
