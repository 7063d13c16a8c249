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


def test_a_find_is_replayed_on_the_clean_twin() -> None:
    """A failing run counts only if the same seed and schedule pass on the clean twin: a
    failure there too is the model's (or another bug's), not the target's."""
    target = next(t for t in search.targets() if t.name == "no-dedup")
    config, find = search.strategy("swarm", target.config)
    found, _, witness = find(config, 10_000, 20)
    assert found is not None and witness is not None
    assert not search.twin_fails(target, witness)  # the bug, and only the bug
    same = search.Target(target.name, target.config, target.config)  # a "twin" with the bug
    assert search.twin_fails(same, witness)


def test_a_find_must_show_the_targets_own_anomalies() -> None:
    """A failing run counts only if it shows what the target is known to cause: no-dedup
    shows duplicates, so a search for it that wanted aborted reads finds nothing."""
    target = next(t for t in search.targets() if t.name == "no-dedup")
    assert target.shows == ("duplicate",)
    config, find = search.strategy("swarm", target.config)
    assert find(config, 10_000, 20, target)[0] is not None
    wrong = search.Target(target.name, target.config, target.clean, ("G1a",))
    assert find(config, 10_000, 20, wrong)[0] is None
    for t in search.targets():
        assert t.shows, f"{t.name}: no anomalies to recognise it by"
