"""A run hands its report the ops and results it has just written: the same page comes out as
when the report reads the store back."""

from __future__ import annotations

from pathlib import Path

from sim.config import Config
from sim.report import write_report
from sim.runs.runner import run
from sim.runs.store import write_store


def test_report_from_the_runs_ops_equals_report_from_the_store(tmp_path: Path) -> None:
    config = Config(mode="at-least-once", nemesis=("drop-acks",), time_limit=3.0).validate()
    outcome = run(config, 3)
    written = {}
    for way in ("files", "memory"):
        store = tmp_path / way
        write_store(store, config, 3, outcome.schedule, outcome.history_text, outcome.results)
        if way == "files":
            write_report(store, diagrams=False)
        else:
            write_report(store, diagrams=False, history=outcome.ops, results=outcome.results)
        written[way] = {p.name: p.read_bytes() for p in sorted(store.iterdir())}
    assert written["files"].keys() == written["memory"].keys()
    assert "timeline.html" in written["files"]
    assert not {"latency.png", "throughput.png"} & written["files"].keys()  # only on request
    assert written["files"] == written["memory"]
