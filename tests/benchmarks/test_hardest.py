"""benchmarks/hardest.py measures guided search against swarm on the hardest targets with
samples large enough to tell a third of swarm's runs from even."""

from __future__ import annotations

import math
import random
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import hardest  # noqa: E402
import search  # noqa: E402


def test_the_hardest_targets_are_search_targets() -> None:
    names = [t.name for t in search.targets()]
    for name in hardest.HARDEST:
        assert name in names


def test_wilson_interval_matches_the_textbook_values() -> None:
    low, high = hardest.wilson(50, 100)
    assert (round(low, 3), round(high, 3)) == (0.404, 0.596)
    low, high = hardest.wilson(0, 100)
    assert low == 0.0 and round(high, 3) == 0.037  # no find still bounds p from above


def test_swarm_median_is_the_geometric_median() -> None:
    """Swarm's seeds are independent, so its runs to a first find are geometric: median
    ln 2 / -ln(1 - p), about 0.69 / p for small p."""
    assert hardest.geometric_median(0.5) == 1.0
    assert hardest.geometric_median(0.0015) == pytest.approx(math.log(2) / 0.0015, rel=1e-3)
    assert hardest.geometric_median(0.0) == math.inf


def test_median_interval_uses_binomial_order_statistics() -> None:
    """For 60 campaigns, ranks 22 and 39 (the textbook pair); too few for 95%: the range."""
    assert hardest.median_interval(list(range(1, 61))) == (22.0, 39.0)
    assert hardest.median_interval([5, 1, 4, 2, 3]) == (1.0, 5.0)
    assert hardest.median_interval([None] * 40 + list(range(20)))[1] == math.inf


def _geometric(rng: random.Random, p: float, cap: int) -> int | None:
    for n in range(1, cap + 1):
        if rng.random() < p:
            return n
    return None


def test_sixty_campaigns_and_thirty_thousand_swarm_runs_tell_a_third_from_even() -> None:
    """Simulated sides with a known answer: guided three times as likely per run to find as
    swarm's 0.18% (3.5's late TxnOffsetCommit). The interval holds the true third and excludes
    even; with guided no better than swarm it holds 1."""
    rng = random.Random(7)
    p = 0.0018
    finds = sum(rng.random() < p for _ in range(30_000))
    for factor, expect_below_one in ((3.0, True), (1.0, False)):
        guided = [_geometric(rng, factor * p, 1500) for _ in range(60)]
        low, high = hardest.ratio_bootstrap(guided, finds, 30_000)
        assert low <= 1 / factor <= high
        assert (high < 1.0) is expect_below_one, (factor, low, high)


def test_bootstrap_is_deterministic() -> None:
    guided = [10, 20, None, 40, 50]
    assert hardest.ratio_bootstrap(guided, 9, 5000, rounds=200) == hardest.ratio_bootstrap(
        guided, 9, 5000, rounds=200
    )


def test_rows_resume_from_finished_jobs(tmp_path: Path) -> None:
    """Finished jobs are kept in the JSON file and summarised per target; a file measured with
    another --max-runs is refused rather than mixed."""
    name = hardest.HARDEST[0]
    done = {
        f"{name}|swarm|5000000": {"runs": 500, "found": [5000001], "rejected": []},
        f"{name}|guided|0000": {"runs": 120, "wall_s": 3.0},
        f"{name}|guided|0001": {"runs": None, "wall_s": 9.0},
        f"{name}|guided|0002": {"runs": 80, "wall_s": 2.0},
    }
    path = tmp_path / "hardest.json"
    (row,) = hardest._save(path, 1500, done, [name])
    assert row["swarm"]["finds"] == 1 and row["guided"]["median_runs"] == 120
    assert row["ratio"] == pytest.approx(120 / hardest.geometric_median(1 / 500))
    assert hardest._load(path, 1500) == done
    with pytest.raises(SystemExit, match="max-runs 1500"):
        hardest._load(path, 500)


def test_swarm_counts_chunks_in_seed_order_up_to_enough_finds() -> None:
    """Swarm's side stops at the chunk that brings its finds to SWARM_FINDS; chunks after it
    (run by busy workers) and chunks after a gap do not count, so a row does not depend on how
    many workers ran it."""
    name, first, size = "t", hardest.SWARM_FIRST_SEED, hardest.CHUNK
    full = hardest.SWARM_FINDS // 2 + 1
    done = {
        f"{name}|swarm|{first + i * size}": {
            "runs": size,
            "found": list(range(full)),
            "rejected": [],
        }
        for i in range(3)
    }
    assert len(hardest.swarm_chunks(name, done)) == 2  # the second reached enough finds
    assert hardest.swarm_finds(name, done) == 2 * full
    del done[f"{name}|swarm|{first}"]
    assert hardest.swarm_chunks(name, done) == []  # a gap at the start: nothing counts yet


def test_the_readme_table_shows_each_side_and_the_ratio_with_intervals(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sim.docs

    name = hardest.HARDEST[0]
    done = {
        f"{name}|swarm|5000000": {"runs": 500, "found": [1, 2], "rejected": []},
        **{f"{name}|guided|{c:04d}": {"runs": 40 + c, "wall_s": 1.0} for c in range(9)},
        f"{name}|guided|0009": {"runs": None, "wall_s": 9.0},
    }
    (tmp_path / "benchmarks").mkdir()
    hardest._save(tmp_path / "benchmarks" / "hardest.json", 1500, done, [name])
    monkeypatch.setattr(sim.docs, "ROOT", tmp_path)
    table = sim.docs.hardest_table()
    row = next(line for line in table.splitlines() if line.startswith(f"| {name} "))
    assert "| 2 / 500 |" in row and "| 9 / 10 |" in row  # finds / runs, found / campaigns
    assert "| 44.5 (41–48) |" in row  # the 2nd and 9th of ten: a 95% interval for a median
    assert "**0.26**" in row  # 44.5 over the geometric median of p = 2/500 (173)
