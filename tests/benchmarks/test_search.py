"""benchmarks/search.py searches for every known bug: each bug switch and each real-bug class."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import search  # noqa: E402


def test_every_bug_switch_and_real_bug_class_is_a_target() -> None:
    from sim.scenarios import SCENARIOS
    from sim.scenarios.bug_matrix import MATRIX

    names = " / ".join(t.name for t in search.targets())
    for entry in MATRIX:
        assert entry.bug in names
    real = [
        n for n, s in SCENARIOS.items() if s.ticket and any(c.found or c.found_any for c in s.cases)
    ]
    assert real, "no real-bug scenario found"
    for name in real:
        assert name in names, f"real-bug class {name} is not searched for"


def test_each_target_has_a_clean_twin_that_differs_only_where_the_bug_is() -> None:
    for t in search.targets():
        assert t.config != t.clean, t.name
        assert t.config.mode == t.clean.mode, t.name
        assert t.config.workload == t.clean.workload, t.name
