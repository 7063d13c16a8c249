"""Which Kafka releases a reproduced bug shows up on, measured rather than asserted.

The bug case of a ticketed scenario (its first case that predicts an anomaly) is run again with
``kafka.version`` set to each modelled release and ``txn.protocol`` left to follow it, over the
scenario's own seeds and fault schedules.
"""

from __future__ import annotations

from sim.config import KAFKA_VERSIONS
from sim.scenarios.base import Case, Scenario


def bug_case(s: Scenario) -> Case | None:
    return next((c for c in s.cases if c.found or c.found_any), None)


def seeds_showing(case: Case, version: str, seeds: int) -> int:
    from sim.runs.runner import run

    config = case.config.replace(kafka_version=version, txn_protocol=None)
    predicted = set(case.found) | set(case.found_any)
    shown = 0
    for seed in range(seeds):
        schedule = case.schedule(seed) if case.schedule else None
        names = set(run(config, seed, schedule).results.get("anomaly_types", []))
        shown += bool(names & predicted)
    return shown


def releases_showing(s: Scenario, seeds: int | None = None) -> dict[str, int] | None:
    """Release -> seeds (of ``seeds``) showing the predicted anomaly; None without a bug case."""
    case = bug_case(s)
    if case is None:
        return None
    n = seeds if seeds is not None else s.seeds
    return {v: seeds_showing(case, v, n) for v in KAFKA_VERSIONS}


def releases_text(shown: dict[str, int] | None, seeds: int) -> str:
    if shown is None:
        return "-"
    hits = [f"{v} ({k}/{seeds})" for v, k in shown.items() if k]
    return ", ".join(hits) if hits else f"none of {', '.join(shown)}"
