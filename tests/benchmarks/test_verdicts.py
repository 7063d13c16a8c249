"""benchmarks/verdicts.py compares verdict rates case by case; a case new since the base is not
a drift (there is nothing to compare it with)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import verdicts  # noqa: E402


def test_a_moved_rate_is_drift_and_a_case_the_base_lacks_is_not_compared() -> None:
    base = {"a/x": {"invalid": 0, "duplicate": 0}}
    new = {"a/x": {"invalid": 40, "duplicate": 40}, "b/new": {"invalid": 9, "duplicate": 9}}
    rows = verdicts.compare(base, new, seeds=50, alpha=0.001)
    assert {r["case"] for r in rows} == {"a/x"}
    assert all(r["drift"] for r in rows)
    same = verdicts.compare(new, new, seeds=50, alpha=0.001)
    assert same and not any(r["drift"] for r in same)
