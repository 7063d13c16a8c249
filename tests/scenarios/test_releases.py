"""The real-bug table's release column is measured: a bug case is re-run per kafka.version."""

from __future__ import annotations

from sim.scenarios import SCENARIOS
from sim.scenarios.releases import bug_case, releases_text, seeds_showing


def test_the_bug_case_is_the_first_that_predicts_an_anomaly() -> None:
    assert bug_case(SCENARIOS["delayed-txn-offset-commit"]).label == "3.5"  # type: ignore[union-attr]
    assert bug_case(SCENARIOS["delayed-endtxn-v2"]) is None  # only promises absence


def test_a_late_txn_offset_commit_shows_before_4_0_and_not_on_it() -> None:
    case = bug_case(SCENARIOS["delayed-txn-offset-commit"])
    assert case is not None
    assert seeds_showing(case, "3.5", 3) > 0
    assert seeds_showing(case, "4.0", 3) == 0


def test_release_text() -> None:
    assert releases_text({"3.5": 2, "4.0": 0}, 5) == "3.5 (2/5)"
    assert releases_text({"3.5": 0, "4.0": 0}, 5) == "none of 3.5, 4.0"
    assert releases_text(None, 5) == "-"
