"""benchmarks/search.py searches for every known bug: each bug switch and each real-bug class."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

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
    """A failing run counts only if the same seed and schedule do not show the target's
    anomalies on the clean twin: a failure there too is the model's (or another bug's), not
    the target's. A twin failing with something else leaves the find standing but is counted
    (as a false alarm or a known real class) on the false-positive side."""
    target = next(t for t in search.targets() if t.name == "no-dedup")
    config, find = search.strategy("swarm", target.config)
    found = find(config, 10_000, 20)
    witness = found.witness
    assert found.runs is not None and witness is not None
    assert search.twin_fails(target, witness) == (None, False)  # the bug, and only the bug
    same = search.Target(target.name, target.config, target.config, target.shows)
    assert search.twin_fails(same, witness) == ("alarm", True)  # a "twin" with the bug
    other = search.Target(target.name, target.config, target.config, ("G1a",))
    assert search.twin_fails(other, witness) == ("alarm", False)  # fails, not with G1a


@pytest.mark.parametrize("strategy", ["swarm", "guided"])
def test_a_campaign_goes_on_past_a_find_its_twin_rejects(strategy: str) -> None:
    """A find whose clean twin fails the same way is not the target's, and the campaign goes
    on past it, as swarm's rate in hardest.py counts only the finds that stand: with the real
    twin the first find stands; with a "twin" that has the bug too every find is rejected,
    counted, and the campaign ends without one."""
    target = next(t for t in search.targets() if t.name == "no-dedup")
    config, find = search.strategy(strategy, target.config)
    found = find(config, 10_000, 30, target)
    assert found.runs is not None and found.rejected == 0 and found.twins == [None]
    assert found.witness is not None
    same = search.Target(target.name, target.config, target.config, target.shows)
    passed = find(config, 10_000, found.runs + 5, same)
    assert passed.runs is None and passed.witness is None
    assert passed.rejected >= 2 and passed.twins == ["alarm"] * passed.rejected  # went on


def test_a_find_must_show_the_targets_own_anomalies() -> None:
    """A failing run counts only if it shows what the target is known to cause: no-dedup
    shows duplicates, so a search for it that wanted aborted reads finds nothing."""
    target = next(t for t in search.targets() if t.name == "no-dedup")
    assert target.shows == ("duplicate",)
    config, find = search.strategy("swarm", target.config)
    assert find(config, 10_000, 20, target).runs is not None
    wrong = search.Target(target.name, target.config, target.clean, ("G1a",))
    assert find(config, 10_000, 20, wrong).runs is None
    for t in search.targets():
        assert t.shows, f"{t.name}: no anomalies to recognise it by"


def test_a_failure_real_kafka_has_too_is_counted_apart_from_false_alarms() -> None:
    """The false-positive side separates the model's false alarms from a class real Kafka has
    too (sim.runs.known): the default Java client's renumbered duplicate is "known", a
    same-epoch duplicate (the no-dedup bug switch) an "alarm", a valid run neither."""
    from sim.runs.runner import run
    from sim.scenarios import SCENARIOS
    from sim.scenarios.bug_matrix import MATRIX

    case = SCENARIOS["first-batch-oos-duplicate"].cases[0]
    assert search.failure_kind(run(case.config, 1, case.schedule(1)).results) == "known"
    entry = next(e for e in MATRIX if e.bug == "no-dedup")
    buggy = run(entry.config.replace(bugs=("no-dedup",)), 0, entry.schedule(0)).results
    assert search.failure_kind(buggy) == "alarm"
    assert search.failure_kind(run(entry.config, 0, entry.schedule(0)).results) is None
    target = next(t for t in search.targets() if t.name == "no-dedup")
    alarms, known, _ = search.clean_side("swarm", target.clean, 2)
    assert (alarms, known) == (0, 0)
    alarms, known, _ = search.clean_side("guided", target.config, 3)
    assert alarms >= 1 and known == 0  # the bug's duplicates are not a known real class


def test_a_known_real_class_does_not_count_as_another_targets_find() -> None:
    """A run whose only forbidden anomaly is the default idempotent client's renumbered
    duplicate (sim.runs.known) has not found unclean-truncation (which also shows duplicates),
    but it has found the first-batch duplicate, whose class it is; a lost write beside it is
    unclean-truncation's find whatever the duplicates are."""
    by_name = {t.name: t for t in search.targets()}
    truncation = by_name["unclean-truncation"]
    first_batch = next(t for n, t in by_name.items() if n.startswith("first-batch-oos-duplicate"))
    known = {"explained": ["duplicate"], "classes": ["renumbered-after-landing"]}
    assert not truncation.shown_by(["duplicate"], known)
    assert first_batch.shown_by(["duplicate"], known)
    bump = next(t for n, t in by_name.items() if n.startswith("epoch-bump-duplicate"))
    assert bump.shown_by(["duplicate"], known)  # librdkafka's renumbering: the same class
    assert truncation.shown_by(["duplicate", "lost-write"], known)
    assert truncation.shown_by(["duplicate"], {"explained": [], "classes": []})


def test_runs_per_find_pools_every_campaigns_runs() -> None:
    """The README's guided-over-swarm column: all runs spent (a campaign without a find spent
    the whole budget) over the finds; none without a find."""
    from sim.docs import runs_per_find

    assert runs_per_find([10, 30, None], 100) == (10 + 30 + 100) / 2
    assert runs_per_find([None, None], 100) is None
    assert runs_per_find([1, 1, 1], 500) == 1.0


def test_the_ratio_comes_with_an_interval_as_wide_as_its_finds_allow() -> None:
    """Ten finds a side, the same runs spent: ratio 1, and a 95% interval of about 0.42 to
    2.4 (exp(+-1.96 sqrt(1/10 + 1/10))). Telling a third from a half takes about sixty finds a
    side; a side without a find has no ratio."""
    from sim.docs import ratio_interval

    ten = [20] * 10
    found = ratio_interval(ten, ten, 500)
    assert found is not None
    ratio, low, high = found
    assert ratio == 1.0 and round(low, 2) == 0.42 and round(high, 2) == 2.4
    many = ratio_interval([5] * 60, [15] * 60, 500)  # sixty finds a side
    assert many is not None and many[0] == 1 / 3 and many[2] < 0.5  # a third, told apart
    assert ratio_interval([None] * 3, ten, 500) is None
