"""Property-based search and shrinking of fault schedules.

A deliberately weak configuration (at-least-once producer with acks=all: it retries whatever was
not acknowledged) duplicates once acknowledgements go missing. Hypothesis must find a failing
schedule and shrink it to at most two faults; the deterministic delta-debugging shrinker behind
``eosim shrink`` must do the same from a hand-written schedule and from a stored run.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, find, given, settings
from hypothesis import strategies as st

from faults.schedule import validate_schedule
from faults.shrink import shrink
from faults.strategies import SIMPLE_NEMESES, configs, schedules
from sim.config import Config
from sim.runs.runner import run, still_fails

ROOT = Path(__file__).resolve().parents[2]
SEED = 1
TIME_LIMIT = 4.0
WEAK = Config(
    mode="at-least-once",
    acks="all",
    time_limit=TIME_LIMIT,
    convergence=2.0,
    rate=120.0,
    producers=1,
    consumers=1,
    partitions=2,
)
SEARCH = settings(max_examples=60, derandomize=True, database=None, deadline=None, print_blob=False)


def anomalies(config: Config, schedule: list[dict[str, Any]], seed: int = SEED) -> dict[str, Any]:
    return dict(run(config, seed, schedule).results)


def has_duplicate(schedule: list[dict[str, Any]]) -> bool:
    return "duplicate" in anomalies(WEAK, schedule)["anomaly_types"]


# --- hypothesis finds and shrinks -----------------------------------------------------------------
def test_the_weak_configuration_is_clean_without_faults() -> None:
    results = anomalies(WEAK, [])
    assert results["anomaly_types"] == [] and results["valid"] is True


@pytest.mark.parametrize(
    "nemeses",
    [("drop-acks", "delay", "kill-broker"), ("drop-acks", "kill-broker", "partition-node")],
)
def test_hypothesis_finds_a_duplicate_and_shrinks_it_to_two_faults(
    nemeses: tuple[str, ...],
) -> None:
    calls = []

    def predicate(schedule: list[dict[str, Any]]) -> bool:
        calls.append(len(schedule))
        return has_duplicate(schedule)

    minimal = find(schedules(nemeses=nemeses, time_limit=TIME_LIMIT), predicate, settings=SEARCH)
    assert 1 <= len(minimal) <= 2, minimal
    assert len(calls) <= 400, len(calls)  # the search and the shrink stayed small
    assert {op["nemesis"] for op in minimal} <= set(nemeses)
    # the minimal example is a valid stored schedule, and it fails again on replay
    assert validate_schedule(minimal, TIME_LIMIT, keys=WEAK.keys) == minimal
    results = anomalies(WEAK, minimal)
    assert "duplicate" in results["anomaly_types"]
    # at-least-once allows copies: the run is reported, not invalid
    assert results["valid"] is True and "duplicate" not in results["forbidden"]
    assert results["anomalies"]["duplicate"][0]["explanation"]


# --- the strategies keep the schedule contract ----------------------------------------------------
@settings(
    max_examples=150,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    data=st.data(),
    time_limit=st.one_of(
        st.sampled_from([0.2, 0.21, 1.0, 3.335, 4.0, 6.0, 9.999]),
        st.floats(min_value=0.2, max_value=20.0, allow_nan=False),
    ),
    nemeses=st.lists(st.sampled_from(SIMPLE_NEMESES), min_size=1, unique=True).map(tuple),
)
def test_drawn_schedules_heal_before_the_time_limit(
    data: st.DataObject, time_limit: float, nemeses: tuple[str, ...]
) -> None:
    schedule = data.draw(schedules(nemeses=nemeses, time_limit=time_limit, max_faults=8))
    assert validate_schedule(schedule, time_limit, keys=["k0"]) == schedule
    assert len(schedule) <= 8
    assert [op["at"] for op in schedule] == sorted(op["at"] for op in schedule)
    for op in schedule:
        assert op["nemesis"] in nemeses
        assert op["at"] + op["duration"] < time_limit  # strictly: the window after is quiet
        assert op["duration"] > 0


def test_strategy_arguments_fail_early_with_one_clear_line() -> None:
    with pytest.raises(ValueError, match="unknown nemesis no-such"):
        schedules(nemeses=("drop-acks", "no-such"))
    with pytest.raises(ValueError, match="time_limit must be at least"):
        schedules(time_limit=0.1)
    with pytest.raises(ValueError, match="at least one nemesis"):
        schedules(nemeses=())


def test_strategies_work_when_imported_alone() -> None:
    """Regression: faults.strategies read REGISTRY without importing the catalog that fills it,
    so drawing a schedule in a fresh interpreter raised KeyError."""
    code = (
        "from hypothesis import find, settings\n"
        "from faults.strategies import schedules\n"
        "s = find(schedules(time_limit=3.0), lambda s: len(s) >= 2,"
        " settings=settings(database=None, derandomize=True))\n"
        "print(sorted(op['nemesis'] for op in s))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        env=_env(),
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("[")


@settings(max_examples=40, derandomize=True, database=None, deadline=None)
@given(config=configs(time_limit=3.0))
def test_drawn_configs_are_valid(config: Config) -> None:
    assert config.validate() is config
    assert config.replication_factor <= config.brokers
    assert 1 <= config.min_insync_replicas <= config.replication_factor
    if config.mode != "at-least-once":
        assert config.acks == "all"


# --- the deterministic shrinker (eosim shrink) ----------------------------------------------------
FIVE_FAULTS: list[dict[str, Any]] = [
    {"at": 0.2, "nemesis": "delay", "duration": 0.2, "target": "random-broker", "params": {}},
    {"at": 0.6, "nemesis": "kill-broker", "duration": 0.3, "target": "b2", "params": {}},
    {"at": 1.0, "nemesis": "drop-acks", "duration": 1.2, "target": "producers", "params": {}},
    {"at": 2.4, "nemesis": "partition-node", "duration": 0.4, "target": "b1", "params": {}},
    {"at": 3.0, "nemesis": "crash-consumer", "duration": 0.5, "target": "consumers", "params": {}},
]


def test_shrink_keeps_the_duplicate_with_at_most_two_faults() -> None:
    config = WEAK.replace(producers=2, consumers=2)
    assert validate_schedule(FIVE_FAULTS, TIME_LIMIT) == FIVE_FAULTS
    assert "duplicate" in anomalies(config, FIVE_FAULTS)["anomaly_types"]

    result = shrink(config, FIVE_FAULTS, still_fails(SEED, {"duplicate"}), max_runs=60)
    assert len(result.schedule) <= 2, result.schedule
    assert 0 < result.runs <= 60 and result.steps and result.reproduced
    assert sum(op["duration"] for op in result.schedule) < sum(op["duration"] for op in FIVE_FAULTS)
    assert result.config.time_limit <= config.time_limit
    assert result.config.producers <= 2 and result.config.consumers <= 2
    validate_schedule(result.schedule, result.config.time_limit)
    assert "duplicate" in anomalies(result.config, result.schedule)["anomaly_types"]
    # deterministic: the same input shrinks to the same output
    again = shrink(config, FIVE_FAULTS, still_fails(SEED, {"duplicate"}), max_runs=60)
    assert (again.schedule, again.config, again.steps) == (
        result.schedule,
        result.config,
        result.steps,
    )


def test_shrink_passes_without_simulating() -> None:
    """Every pass of the shrinker, with a pure predicate: the failure needs a drop-acks and a
    kill-broker, whatever their windows, clients or run length."""

    def check(config: Config, schedule: list[dict[str, Any]]) -> bool:
        return {"drop-acks", "kill-broker"} <= {op["nemesis"] for op in schedule}

    config = WEAK.replace(producers=3, consumers=2, time_limit=6.0)
    result = shrink(config, FIVE_FAULTS, check)
    assert [op["nemesis"] for op in result.schedule] == ["kill-broker", "drop-acks"]
    assert all(op["duration"] <= 0.05 for op in result.schedule)
    assert [op["at"] for op in result.schedule] == [0.6, 1.0]  # starts are kept
    assert (result.config.producers, result.config.consumers) == (1, 1)
    last_heal = max(op["at"] + op["duration"] for op in result.schedule)
    assert result.config.time_limit == round(max(1.0, last_heal + 0.5), 2)
    validate_schedule(result.schedule, result.config.time_limit)
    assert FIVE_FAULTS[1]["duration"] == 0.3  # the input was not mutated


def test_shrink_stays_within_its_budget() -> None:
    calls: list[int] = []

    def always(config: Config, schedule: list[dict[str, Any]]) -> bool:
        calls.append(1)
        return True

    result = shrink(WEAK, FIVE_FAULTS, always, max_runs=3)
    assert result.runs == len(calls) == 3 and result.reproduced
    assert shrink(WEAK, FIVE_FAULTS, always, max_runs=0).runs == 0


def test_shrink_stops_at_once_when_the_input_does_not_fail() -> None:
    """Regression: a schedule that never showed the anomaly was still put through every pass
    (15 wasted simulations for five faults), and came back looking like a shrink result."""
    calls: list[int] = []

    def never(config: Config, schedule: list[dict[str, Any]]) -> bool:
        calls.append(1)
        return False

    result = shrink(WEAK, FIVE_FAULTS, never)
    assert result.runs == len(calls) == 1
    assert result.reproduced is False and "nothing to shrink" in result.steps[0]
    assert result.schedule == FIVE_FAULTS and result.config == WEAK


# --- the command line -----------------------------------------------------------------------------
def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}


def eosim(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sim.cli", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**_env(), "COLUMNS": "200"},
    )


def test_cli_shrink_minimises_a_stored_at_least_once_run(tmp_path: Path) -> None:
    store = tmp_path / "run"
    proc = eosim(
        "run",
        "--mode",
        "at-least-once",
        "--nemesis",
        "drop-acks,delay,kill-broker",
        "--nemesis-interval",
        "0.7",
        "--seed",
        "2",
        "--store",
        str(store),
        "--time-limit",
        "4",
        "--rate",
        "120",
        "--set",
        "convergence=2",
        "--no-report",
    )
    # at-least-once allows duplicates: reported, yet the run is valid (exit 0)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    results = json.loads((store / "results.json").read_text())
    assert results["valid"] is True and results["forbidden"] == []
    assert "duplicate" in results["anomaly_types"]
    before = json.loads((store / "faults.json").read_text())
    assert len(before) >= 4

    proc = eosim("shrink", str(store), "--anomaly", "duplicate", "--max-runs", "60")
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr
    shrunk = tmp_path / "run-shrunk-1"
    after = json.loads((shrunk / "faults.json").read_text())
    assert 1 <= len(after) <= 2, after
    assert "duplicate" in json.loads((shrunk / "results.json").read_text())["anomaly_types"]
    text = " ".join(proc.stdout.split())
    assert "preserving: duplicate" in text
    sizes = re.search(r"faults (\d+) -> (\d+)", text)
    assert sizes is not None, text
    assert (int(sizes[1]), int(sizes[2])) == (len(before), len(after))
    assert f"minimal store: {shrunk}" in text
    # the minimal store reproduces itself
    replay = eosim("replay", str(shrunk))
    assert replay.returncode == 0, replay.stdout + replay.stderr
    assert "replay matches" in replay.stdout
