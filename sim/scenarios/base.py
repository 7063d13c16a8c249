"""What a scenario is and how its verdict is decided.

A scenario states a claim, runs one or more *cases* (a configuration and a fault schedule) over
a handful of seeds, and checks the verdict each case predicts: anomalies that must appear in at
least one seed, anomalies that must appear in none, and optional measured predicates (a count of
fencings, a consumer lag). It is confirmed when every case behaves as predicted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sim.config import Config

Schedule = Callable[[int], list[dict[str, Any]]]
Measure = Callable[[Any], dict[str, Any]]  # Outcome -> numbers for the verdict
Judge = Callable[[list[dict[str, Any]]], tuple[bool, str]]  # per-seed measures -> (ok, text)
# Called once per case with its first failing seed's outcome; what it returns (a store path, a
# reproduce command) joins that seed's entry in the result's "first_failing".
OnFirstFailing = Callable[["Case", int, Any], dict[str, Any]]


@dataclass(frozen=True)
class Case:
    label: str
    config: Config
    schedule: Schedule | None = None
    found: tuple[str, ...] = ()  # each must appear in at least one seed
    absent: tuple[str, ...] = ()  # none may appear in any seed
    found_any: tuple[str, ...] = ()  # at least one of these appears in at least one seed
    measure: Measure | None = None
    judge: Judge | None = None


@dataclass(frozen=True)
class Scenario:
    name: str
    claim: str
    explanation: str
    cases: tuple[Case, ...]
    seeds: int = 5
    ticket: str = ""
    tags: tuple[str, ...] = ()
    custom: Callable[[int], dict[str, Any]] | None = None  # for measurement-only scenarios


SCENARIOS: dict[str, Scenario] = {}


def scenario(s: Scenario) -> Scenario:
    SCENARIOS[s.name] = s
    return s


@dataclass
class CaseResult:
    label: str
    expected: str
    observed: dict[str, int] = field(default_factory=dict)  # anomaly -> seeds it appeared in
    failing_seeds: list[int] = field(
        default_factory=list
    )  # seeds showing a predicted anomaly, or breaking a promise
    measures: list[dict[str, Any]] = field(default_factory=list)
    confirmed: bool = False
    note: str = ""
    witnesses: list[str] = field(default_factory=list)
    first_failing: dict[str, Any] | None = None


def expected_text(case: Case) -> str:
    parts = []
    if case.found:
        parts.append("found: " + ", ".join(case.found))
    if case.found_any:
        parts.append("found: " + " or ".join(case.found_any))
    if case.absent:
        parts.append("absent: " + ", ".join(case.absent))
    if case.judge is not None:
        parts.append("measured")
    return "; ".join(parts) or "runs"


def run_case(case: Case, seeds: int, on_first_failing: OnFirstFailing | None = None) -> CaseResult:
    from sim.runs.runner import run

    result = CaseResult(case.label, expected_text(case))
    for seed in range(seeds):
        schedule = case.schedule(seed) if case.schedule else None
        outcome = run(case.config, seed, schedule)
        anomalies = outcome.results.get("anomalies", {})
        names = set(outcome.results.get("anomaly_types", []))
        for name in names:
            result.observed[name] = result.observed.get(name, 0) + 1
        hit = (
            (names & set(case.found)) or (names & set(case.absent)) or (names & set(case.found_any))
        )
        if hit:
            result.failing_seeds.append(seed)
            if result.first_failing is None:
                result.first_failing = {
                    "seed": seed,
                    "digest": outcome.digest,
                    "valid": outcome.results.get("valid"),
                    "anomaly_types": outcome.results.get("anomaly_types", []),
                    "schedule": "planned" if case.schedule is None else "fixed",
                    "faults": outcome.schedule,
                }
                if on_first_failing is not None:
                    result.first_failing.update(on_first_failing(case, seed, outcome))
                for name in sorted(hit):
                    for w in anomalies.get(name, [])[:3]:
                        result.witnesses.append(f"seed {seed} {name}: {w.get('explanation', w)}")
        for op in outcome.ops:
            if (
                op["process"] == "nemesis"
                and isinstance(op["value"], dict)
                and op["value"].get("phase") == "landed"
                and hit
            ):
                v = op["value"]
                result.witnesses.append(
                    f"seed {seed}: held {v['api']} from {v['from']} (sent at {v['sent']}s) landed at {op['time']}s, history index {op['index']}"
                )
        if case.measure is not None:
            result.measures.append({"seed": seed, **case.measure(outcome)})
    ok = all(result.observed.get(n, 0) > 0 for n in case.found)
    ok = ok and all(result.observed.get(n, 0) == 0 for n in case.absent)
    if case.found_any:
        ok = ok and any(result.observed.get(n, 0) > 0 for n in case.found_any)
    if case.judge is not None:
        judged, note = case.judge(result.measures)
        ok = ok and judged
        result.note = note
    result.confirmed = ok
    return result


def run_scenario(
    s: Scenario, seeds: int | None = None, on_first_failing: OnFirstFailing | None = None
) -> dict[str, Any]:
    """Run every case; returns {name, claim, expected, observed, seeds, failing_seeds,
    first_failing, confirmed}. ``first_failing`` maps a case with a failing seed to that seed's
    {seed, digest, valid, anomaly_types, schedule ("planned" from config and seed, or "fixed"
    by the case), faults} plus what ``on_first_failing`` adds."""
    n = seeds if seeds is not None else s.seeds
    if s.custom is not None:
        data = s.custom(n)
        return {"name": s.name, "claim": s.claim, "ticket": s.ticket, "seeds": n, **data}
    cases = [run_case(c, n, on_first_failing) for c in s.cases]
    return {
        "name": s.name,
        "claim": s.claim,
        "ticket": s.ticket,
        "expected": {c.label: c.expected for c in cases},
        "observed": {c.label: dict(sorted(c.observed.items())) for c in cases},
        "notes": {c.label: c.note for c in cases if c.note},
        "seeds": n,
        "failing_seeds": {c.label: c.failing_seeds for c in cases},
        "first_failing": {c.label: c.first_failing for c in cases if c.first_failing},
        "witnesses": {c.label: c.witnesses for c in cases if c.witnesses},
        "confirmed": all(c.confirmed for c in cases),
        "cases_confirmed": {c.label: c.confirmed for c in cases},
    }
