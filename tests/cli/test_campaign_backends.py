"""Campaign results do not depend on the backend or the number of workers."""

from __future__ import annotations

from pathlib import Path

import pytest

from sim.config import Config
from sim.runs.campaign import parse_seeds, run_campaign

CONFIG = Config(
    mode="idempotent",
    nemesis=("drop-acks", "kill-broker"),
    nemesis_interval=0.8,
    time_limit=2.5,
    convergence=1.5,
    bugs=("no-dedup",),
)
SEEDS = list(range(6))


def per_seed(summary) -> dict[int, tuple]:  # type: ignore[no-untyped-def]
    return {
        s: (r["valid"], r["digest"], tuple(r["anomaly_types"])) for s, r in summary.results.items()
    }


def test_parse_seeds() -> None:
    assert parse_seeds("0..3") == [0, 1, 2, 3]
    assert parse_seeds("5,1,5") == [1, 5]


def test_local_one_and_two_workers_agree(tmp_path: Path) -> None:
    one = run_campaign(CONFIG, SEEDS, workers=1, store=str(tmp_path / "1"))
    two = run_campaign(CONFIG, SEEDS, workers=2, store=str(tmp_path / "2"))
    assert per_seed(one) == per_seed(two)
    assert len(one.results) == len(SEEDS) and one.failing


def test_dask_local_cluster_agrees_with_local(tmp_path: Path) -> None:
    pytest.importorskip("distributed")
    local = run_campaign(CONFIG, SEEDS, workers=1, store=str(tmp_path / "l"))
    dask = run_campaign(CONFIG, SEEDS, workers=2, backend="dask", store=str(tmp_path / "d"))
    assert per_seed(local) == per_seed(dask)


def test_passing_seeds_keep_only_results(tmp_path: Path) -> None:
    clean = CONFIG.replace(bugs=())
    summary = run_campaign(clean, [0, 1], workers=1, store=str(tmp_path))
    assert not summary.failing
    assert sorted(p.name for p in (tmp_path / "seed-0").iterdir()) == ["results.json"]
