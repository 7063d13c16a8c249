"""Guided campaigns: coverage is collected without changing the run, mutations stay valid, and
one campaign seed gives one sequence of runs whatever the number of workers."""

from __future__ import annotations

import json
import random
import re
import shlex
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from faults.mutate import mutate
from faults.registry import REGISTRY
from faults.schedule import validate_schedule
from sim.config import Config, from_mapping
from sim.runs.coverage import Coverage, bucket
from sim.runs.guided import fault_kinds, run_guided
from sim.runs.runner import run
from tests.cli.test_bad_input import eosim

SMALL = {"time-limit": 3, "convergence": 2}


def test_coverage_does_not_change_the_history_and_sees_the_protocol() -> None:
    config = from_mapping({"mode": "idempotent", "nemesis": "drop-acks", **SMALL})
    coverage = Coverage()
    traced = run(config, 7, trace=coverage)
    assert traced.digest == run(config, 7).digest
    features = coverage.features(traced.results)
    assert "msg:Produce:ok" in features
    assert any(f.startswith("dropped:ProduceResponse") for f in features)  # the lost acks
    assert any(f.startswith("msg:ProduceResponse") for f in features)


def test_buckets_are_coarse_above_three() -> None:
    assert [bucket(n) for n in (1, 2, 3, 4, 7, 8, 20, 40, 500)] == [
        "1", "2", "3", "4+", "4+", "8+", "16+", "32+", "128+",
    ]  # fmt: skip


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32), n=st.integers(0, 5), time_limit=st.floats(1.0, 30.0))
def test_a_mutated_schedule_is_always_valid(seed: int, n: int, time_limit: float) -> None:
    rng = random.Random(seed)
    kinds = sorted(REGISTRY)
    schedule: list[dict] = []
    for _ in range(n):
        schedule = mutate(schedule, rng, kinds, time_limit)
    for _ in range(3):
        schedule = mutate(schedule, rng, kinds, time_limit, other=schedule)
        validate_schedule(schedule, time_limit)


def test_one_campaign_seed_gives_one_sequence_of_runs_for_any_workers() -> None:
    config = from_mapping({"mode": "idempotent", **SMALL})
    one = run_guided(config, 3, 10, workers=1)
    two = run_guided(config, 3, 10, workers=2)
    assert [r["digest"] for r in one.runs] == [r["digest"] for r in two.runs]
    assert one.first_reached == two.first_reached
    assert len(one.corpus) >= 2 and one.growth()[-1] > one.growth()[0]


def test_guided_mutates_the_kinds_named_or_the_whole_pool() -> None:
    assert fault_kinds(Config(nemesis=("drop-acks",))) == ["drop-acks"]
    pool = fault_kinds(Config(mode="transactional"))
    assert "kill-broker" in pool and "delay-request" in pool


def test_cli_guided_campaign_reports_and_reproduces_a_failure(tmp_path: Path) -> None:
    store = tmp_path / "g"
    proc = eosim(
        "campaign", "--mode", "idempotent", "--nemesis", "drop-acks", "--bug", "no-dedup",
        "--guided", "--seeds", "0..7", "--workers", "1", "--time-limit", "3",
        "--set", "convergence=2", "--store", str(store),
    )  # fmt: skip
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert re.search(r"^coverage: \d+ protocol features over 8 runs", proc.stdout, re.M)
    data = json.loads((store / "guided.json").read_text())
    assert data["failing_runs"] and data["features"] == len(data["first_reached"])
    line = next(x for x in proc.stdout.splitlines() if "-> " in x and "eosim run" in x)
    args = shlex.split(line.split("->", 1)[1].strip().removeprefix("eosim "))
    failing = data["failing_runs"][0]
    rerun = eosim(*args, "--store", str(tmp_path / "r"), "--no-report", "--json")
    stored = json.loads((Path(failing["store"]) / "results.json").read_text())
    assert json.loads(rerun.stdout)["digest"] == stored["digest"]
