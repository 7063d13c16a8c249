"""benchmarks/intensity.py measures swarm's find rate per target with 1 to 5 fault lanes, on
the same seeds' plans with only the number of lanes fixed."""

from __future__ import annotations

import math
import sys
from collections import Counter
from itertools import pairwise
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import intensity  # noqa: E402

from faults.schedule import SWARM_EXTRA_LANES, plan  # noqa: E402
from sim.config import Config  # noqa: E402


def _key(fault: dict) -> str:  # type: ignore[type-arg]
    return repr(sorted(fault.items()))


def test_fixing_the_lanes_only_adds_or_removes_whole_lanes() -> None:
    """Lane j comes from a stream of its own, so a plan with k + 1 extra lanes holds every
    fault of the plan with k, and a seed's own draw is one of the fixed plans: the strata
    differ in how many lanes run, nothing else."""
    config = Config(mode="idempotent", swarm=True)
    grew = 0
    for seed in range(30):
        plans = [plan(config, seed, extra_lanes=k) for k in range(intensity.LANES)]
        for smaller, larger in pairwise(plans):
            assert not Counter(map(_key, smaller)) - Counter(map(_key, larger))
        grew += len(plans[-1]) > len(plans[0])
        assert plan(config, seed) in plans[: max(SWARM_EXTRA_LANES) + 1]
    assert grew >= 20


def test_a_chunk_fills_every_stratum_evenly() -> None:
    name = "no-epoch-fencing"  # found in nearly every run whatever the lanes
    job = intensity.chunk(name, intensity.FIRST_SEED, intensity.LANES)
    assert job["runs"] == [1] * intensity.LANES
    assert sum(job["finds"]) >= 3


def test_rows_weigh_the_strata_as_swarm_draws_them() -> None:
    name = "unclean-truncation"
    jobs = {
        f"{name}|{intensity.FIRST_SEED}": {"runs": [100] * 5, "finds": [0, 1, 2, 4, 8]},
        f"{name}|{intensity.FIRST_SEED + 500}": {"runs": [100] * 5, "finds": [0, 1, 2, 4, 8]},
        "other|7000000": {"runs": [100] * 5, "finds": [100] * 5},
    }
    row = intensity.summarise(name, jobs)
    assert row is not None
    assert row["runs"] == [200] * 5 and row["finds"] == [0, 2, 4, 8, 16]
    swarm = sum(row["rate"][k] for k in SWARM_EXTRA_LANES) / len(SWARM_EXTRA_LANES)
    assert row["swarm_median_runs"] == pytest.approx(math.log(0.5) / math.log1p(-swarm))
    candidate = 14 / 800  # (0 + 2 + 4 + 8) finds over 800 runs: one to four lanes
    assert intensity.CANDIDATE_MIX == (0, 1, 2, 3)
    assert row["candidate_median_runs"] == pytest.approx(math.log(0.5) / math.log1p(-candidate))
    assert intensity.summarise("absent", jobs) is None


def test_the_readme_table_bolds_the_best_stratum(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sim.docs

    jobs = {
        "unclean-truncation|7000000": {"runs": [100] * 5, "finds": [0, 1, 2, 4, 8]},
        "late-marker (4.0)|7000000": {"runs": [100] * 5, "finds": [3, 1, 0, 0, 0]},
    }
    (tmp_path / "benchmarks").mkdir()
    intensity._save(tmp_path / "benchmarks" / "intensity.json", jobs)
    monkeypatch.setattr(sim.docs, "ROOT", tmp_path)
    table = sim.docs.intensity_table()
    rows = {line.split(" | ")[0][2:]: line for line in table.splitlines() if line.startswith("| ")}
    assert (
        "| 0.0% (0) | 1.0% (1) | 2.0% (2) | 4.0% (4) | **8.0%** (8) |" in rows["unclean-truncation"]
    )
    assert "| **3.0%** (3) | 1.0% (1) | 0.0% (0) |" in rows["late-marker (4.0)"]
    assert "Runs per cell: 100" in table


def test_refreshing_measured_tables_keeps_those_not_measured_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The results are not committed: on a fresh clone, refreshing the one table just measured
    must not replace the others' last measurements with "Run ... to measure"."""
    import sim.docs

    (tmp_path / "benchmarks").mkdir()
    intensity._save(
        tmp_path / "benchmarks" / "intensity.json",
        {"unclean-truncation|7000000": {"runs": [100] * 5, "finds": [0, 1, 2, 4, 8]}},
    )
    blocks = ("bench", "search", "hardest", "intensity", "verdicts")
    (tmp_path / "README.md").write_text(
        "".join(f"<!-- {b}:start -->\nkept {b}\n<!-- {b}:end -->\n" for b in blocks)
    )
    monkeypatch.setattr(sim.docs, "ROOT", tmp_path)
    monkeypatch.setattr(sys, "argv", ["sim.docs", "--only-measured"])
    sim.docs.main()
    text = (tmp_path / "README.md").read_text()
    assert "kept intensity" not in text and "**8.0%** (8)" in text
    for b in ("bench", "search", "hardest", "verdicts"):
        assert f"kept {b}" in text
