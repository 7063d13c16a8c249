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


def test_a_failure_real_kafka_has_too_is_said_under_the_verdict(tmp_path: Path) -> None:
    """The first-batch duplicate is Kafka's own (sim.runs.known): the report still says
    INVALID, and says under it which known class the witness is and where to see it; a
    failure of no known class gets no such line."""
    from sim.scenarios import SCENARIOS
    from sim.scenarios.bug_matrix import MATRIX

    case = SCENARIOS["first-batch-oos-duplicate"].cases[0]
    outcome = run(case.config, 1, case.schedule(1))
    write_store(tmp_path / "known", case.config, 1, outcome.schedule, outcome.history_text,
                outcome.results)  # fmt: skip
    write_report(tmp_path / "known", diagrams=False)
    page = (tmp_path / "known" / "timeline.html").read_text()
    assert "INVALID" in page and 'class="known"' in page
    assert "renumbered-after-landing (see: eosim scenario run first-batch-oos-duplicate)" in page
    entry = next(e for e in MATRIX if e.bug == "no-dedup")
    config = entry.config.replace(bugs=("no-dedup",))
    buggy = run(config, 0, entry.schedule(0))
    write_store(tmp_path / "bug", config, 0, buggy.schedule, buggy.history_text, buggy.results)
    write_report(tmp_path / "bug", diagrams=False)
    assert 'class="known"' not in (tmp_path / "bug" / "timeline.html").read_text()
