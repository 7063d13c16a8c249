"""User pipelines (sim.Pipeline) inside the simulation: the examples under the plugin, user
errors as one line, determinism checks, policies, stores that replay refuses."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import sim
from sim.runs.pipeline import DeterminismError, ExactlyOnceError

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
SHORT: dict[str, Any] = {"time_limit": 3, "convergence": 2}


def double(record: sim.Record) -> list[Any]:
    return [record.value * 2]


def upsert_sink(db: sim.StoreHandle, record: sim.Record, outputs: list[Any]) -> None:
    for i, out in enumerate(outputs):
        db.upsert(["out", record.partition, record.offset, i], out)


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}


# --- the example, under the plugin ------------------------------------------------------------
def test_examples_naive_sink_fails_and_both_fixes_pass(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONPATH", _env()["PYTHONPATH"])  # this checkout's sim, not another
    for name in ("own_pipeline.py", "test_own_pipeline.py"):
        shutil.copy(EXAMPLES / name, pytester.path / name)
    run = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-rA")
    run.assert_outcomes(passed=2, failed=1)
    out = run.stdout.str()
    assert "FAILED test_own_pipeline.py::test_naive_sink_is_exactly_once" in out
    assert "ExactlyOnceError: exactly-once broken in seed(s)" in out
    # the witness names the input record and the sink operations that stored it twice
    assert "sink own_pipeline:naive_sink: input in" in out
    assert "but the store holds" in out and "(write by process" in out
    line = next(x for x in run.stdout.lines if "reproduce: sim.run_pipeline(pipeline, seed=" in x)
    assert "sink=own_pipeline:naive_sink" in line


def test_the_reproduce_line_reruns_the_same_failure() -> None:
    sys.path.insert(0, str(EXAMPLES))
    try:
        import own_pipeline as ex
    finally:
        sys.path.remove(str(EXAMPLES))
    results = sim.run_pipelines(ex.NAIVE, range(5), ex.NEMESIS)
    with pytest.raises(ExactlyOnceError) as info:
        results.assert_exactly_once()
    seed = results.failing()[0]
    assert f"seed={seed}, nemesis='crash-consumer,drop-acks')" in str(info.value)
    again = sim.run_pipeline(ex.NAIVE, seed=seed, nemesis=ex.NEMESIS)
    assert again.outcome.digest == results.runs[seed].outcome.digest
    assert "external-duplicate" in again.found()


# --- user errors: one line, the user's ------------------------------------------------------
def test_user_code_that_raises_is_reported_as_the_users_error() -> None:
    def transform(record: sim.Record) -> list[Any]:
        if record.offset == 3:
            raise KeyError("customer")
        return [record.value]

    with pytest.raises(sim.UserCodeError) as info:
        sim.run_pipeline(sim.Pipeline(transform, sink=upsert_sink), seed=1, **SHORT)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("user code raised: transform test_user_pipeline:")
    assert "transform.<locals>" not in message or "on record in" in message
    assert "offset 3 (value" in message and "KeyError: 'customer'" in message
    assert isinstance(info.value, sim.UsageError)  # the CLI's exit 2, one line


def test_a_raising_sink_and_a_bad_return_are_the_users_errors() -> None:
    def sink(db: sim.StoreHandle, record: sim.Record, outputs: list[Any]) -> None:
        db.upsert("k", object())  # not JSON data

    with pytest.raises(
        sim.UserCodeError, match=r"sink .*sink on record in\d offset \d+ .*TypeError"
    ):
        sim.run_pipeline(sim.Pipeline(double, sink=sink), seed=1, **SHORT)
    with pytest.raises(sim.UserCodeError, match="returned 7, expected a list of output records"):
        sim.run_pipeline(sim.Pipeline(lambda r: 7, sink=upsert_sink), seed=1, **SHORT)
    policies = sim.Policies(on_sink_error=lambda incident: "shrug")
    flaky = sim.Pipeline(
        double, sink=upsert_sink, store=sim.StoreFaults(timeout=0.5), policies=policies
    )
    with pytest.raises(sim.UserCodeError, match="returned 'shrug' for sink-error"):
        sim.run_pipeline(flaky, seed=1, **SHORT)
    with pytest.raises(sim.UsageError, match="Pipeline.commit must be one of"):
        sim.run_pipeline(sim.Pipeline(double, commit="sometimes"), seed=1)


# --- determinism -------------------------------------------------------------------------------
def test_wall_clock_and_unseeded_randomness_in_user_code_are_reported() -> None:
    import random

    def stamped(record: sim.Record) -> list[Any]:
        return [{"v": record.value, "at": time.time()}]

    run = sim.run_pipeline(sim.Pipeline(stamped, sink=upsert_sink), seed=2, **SHORT)
    assert run.nondeterminism[0].startswith("transform test_user_pipeline:")
    assert run.nondeterminism[0].endswith("called time.time()")
    with pytest.raises(ExactlyOnceError, match="nondeterministic user code: transform"):
        run.assert_exactly_once()

    def jitter(record: sim.Record) -> list[Any]:
        return [record.value + random.random()]

    with pytest.raises(
        DeterminismError, match=r"seed 2: two runs of the same seed differ .*random\.random\(\)"
    ):
        sim.run_pipeline(
            sim.Pipeline(jitter, sink=upsert_sink), seed=2, check_determinism=True, **SHORT
        )

    # the seeded stream and the simulated clock are the deterministic way
    def seeded(record: sim.Record) -> list[Any]:
        return [{"v": record.value, "at": sim.now(), "salt": sim.random().random()}]

    ok = sim.run_pipeline(
        sim.Pipeline(seeded, sink=upsert_sink), seed=2, check_determinism=True, **SHORT
    )
    assert ok.nondeterminism == [] and not ok.problems()
    assert time.time is not None and random.random.__module__ != __name__  # nothing left patched


def test_state_kept_between_runs_is_caught_by_check_determinism() -> None:
    seen: list[int] = []

    def sink(db: sim.StoreHandle, record: sim.Record, outputs: list[Any]) -> None:
        seen.append(record.value)  # a global: the second run starts from the first one's state
        db.upsert(["out", len(seen)], outputs[0])

    with pytest.raises(DeterminismError, match="state kept between runs"):
        sim.run_pipeline(sim.Pipeline(double, sink=sink), seed=4, check_determinism=True, **SHORT)


# --- what the checkers judge -----------------------------------------------------------------
def test_a_sink_that_ignores_store_timeouts_loses_inputs() -> None:
    ignore = sim.Policies(on_sink_error=lambda incident: "ignore")
    pipeline = sim.Pipeline(
        double,
        sink=upsert_sink,
        commit="manual",
        store=sim.StoreFaults(timeout=0.05),
        policies=ignore,
    )
    results = sim.run_pipelines(pipeline, range(5), "")
    with pytest.raises(
        ExactlyOnceError, match="pipeline-loss .*the group's commit .* has 0 of its 1 output"
    ):
        results.assert_exactly_once()


def test_a_resend_on_timeout_policy_duplicates_kafka_outputs() -> None:
    """KAFKA-18579 as a user policy: a pipeline writing to Kafka that resends on timeout."""
    calls: list[str] = []

    def resend(incident: sim.Incident) -> str:
        calls.append(incident.kind)
        return "resend"

    pipeline = sim.Pipeline(double, commit="manual", policies=sim.Policies(on_timeout=resend))
    drops = [{"at": 1.0, "nemesis": "drop-acks", "duration": 2.5, "target": "all-processors"}]
    run = sim.run_pipeline(pipeline, seed=1, schedule=drops, delivery_timeout_ms=1000.0)
    assert calls and set(calls) == {"timeout"}
    assert "duplicate" in run.results["anomaly_types"]
    with pytest.raises(ExactlyOnceError, match=r"duplicate \(\d+\): value \d+ on out"):
        run.assert_exactly_once()
    # the default policy leaves a timed-out send to the producer: no resend, no duplicate
    plain = sim.run_pipeline(
        sim.Pipeline(double, commit="manual"), seed=1, schedule=drops, delivery_timeout_ms=1000.0
    )
    assert "duplicate" not in plain.results["anomaly_types"]


def test_transform_outputs_to_kafka_exactly_once_with_transactions() -> None:
    def two(record: sim.Record) -> list[Any]:
        return [] if record.value % 5 == 0 else [record.value, -record.value]  # filter, fan-out

    results = sim.run_pipelines(sim.Pipeline(two), range(3), "crash-consumer")
    results.assert_exactly_once()
    assert all(r.results["user_code"]["inputs_processed"] for r in results.runs.values())


# --- stores of user runs -----------------------------------------------------------------------
def test_replay_refuses_a_store_of_user_code_in_one_line(tmp_path: Path) -> None:
    store = tmp_path / "run"
    sim.run_pipeline(sim.Pipeline(double, sink=upsert_sink), seed=1, store=store, **SHORT)
    assert "user.pipeline" in (store / "config.toml").read_text()
    for args in (["replay", str(store)], ["run", "--config", str(store / "config.toml")]):
        proc = subprocess.run(
            [sys.executable, "-m", "sim.cli", *args, "--quiet"]
            if args[0] == "replay"
            else [
                sys.executable,
                "-m",
                "sim.cli",
                *args,
                "--no-report",
                "--store",
                str(tmp_path / "x"),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            env=_env(),
        )
        assert proc.returncode == 2, proc.stdout + proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and "cannot rebuild user code from a store" in lines[0], proc.stderr
        assert "sink=test_user_pipeline:upsert_sink" in lines[0]
