"""Bad input gets one clear line on stderr and exit code 2, never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def eosim(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """The real command line, in a subprocess (works installed or from a checkout)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run(
        [sys.executable, "-m", "sim.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
        env=env,
    )


def one_line_error(proc: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert proc.returncode == 2, proc.stderr + proc.stdout
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["run", "--mode", "nope"], ["unknown mode", "nope"]),
        (["run", "--rate", "-5"], ["rate", "positive"]),
        (["run", "--set", "replication.factor=5"], ["replication.factor", "brokers"]),
        (["run", "--set", "min.insync.replicas=4"], ["min.insync.replicas"]),
        (["run", "--nemesis", "meteor"], ["unknown nemesis", "meteor"]),
        (["run", "--bug", "gremlins"], ["unknown bug", "gremlins"]),
        (["run", "--set", "bogus.knob=1"], ["unknown config knob", "bogus.knob"]),
        (["run", "--set", "workload.arrivals=opne"], ["workload.arrivals", "closed, open"]),
        (["run", "--set", "client.oos=retry"], ["client.oos", "bump-and-retry"]),
        (
            ["run", "--set", "workload.arrivals=open", "--set", "workload.threads=4"],
            ["workload.threads", "closed-loop"],
        ),
        (["run", "--acks", "2"], ["acks"]),
        (["run", "--mode", "idempotent", "--acks", "1"], ["idempotence", "acks"]),
        (["run", "--seed", "abc"], ["seed"]),
        (["run", "--frobnicate"], ["frobnicate"]),
        (["campaign", "--seeds", "9..2"], ["seeds"]),
        (["campaign", "--seeds", "0..100000000000"], ["--seeds", "at most"]),
        (
            ["campaign", "--backend", "dask", "--scheduler", "not a url", "--seeds", "0..1", "-q"],
            ["cannot use the Dask scheduler", "not a url"],
        ),
        (
            ["campaign", "--backend", "dask", "--scheduler", "tcp://127.0.0.1:9", "--seeds", "0"],
            ["cannot use the Dask scheduler", "127.0.0.1:9"],
        ),
        (["scenario", "run", "no-such-scenario"], ["unknown scenario"]),
        (["replay", "/nonexistent/store"], ["not found"]),
        (["report", "/nonexistent/store"], ["history.jsonl"]),
        (["check", "/nonexistent/history.jsonl"], ["not found"]),
        (["run", "--set", "kafka.version=4.1"], ["kafka.version", "did you mean '4.0'"]),
        (["run", "--set", "kafka.verison=3.6"], ["unknown config knob", "did you mean"]),
        (
            ["run", "--set", "kafka.version=3.6", "--set", "txn.protocol=v2"],
            ["txn.protocol=v2", "4.0"],
        ),
        (["run", "--set", "txn.protocol=v3"], ["txn.protocol", "v1 or v2"]),
        (["run", "--faults", "/nonexistent/faults.json"], ["fault schedule not found"]),
        (["run", "--set", "retry.backoff.ms=0"], ["retry.backoff.ms", "positive"]),
        (["run", "--time-limit", "inf"], ["time-limit", "finite"]),
        (["run", "--set", "convergence=nan"], ["convergence", "finite"]),
        (["run", "--set", "session.timeout.ms=-1"], ["session.timeout.ms", "positive"]),
        (["run", "--set", "transaction.timeout.ms=0"], ["transaction.timeout.ms", "positive"]),
        (["run", "--set", "txn-ops=0"], ["txn-ops", "at least 1"]),
        (["run", "--set", "brokers=1000000"], ["brokers", "at most 64"]),
        (["run", "--set", "partitions=100000"], ["partitions", "at most 1024"]),
        (["run", "--set", "workload.threads=0"], ["workload.threads", "between 1 and 64"]),
        (["run", "--set", "workload.abort-probability=nan"], ["abort-probability", "between"]),
        (["run", "--set", "workload.txn-think-ms=abc"], ["workload.txn-think-ms", "a number"]),
        (["run", "--set", "client.ignore-fenced=maybe"], ["client.ignore-fenced", "true or false"]),
        (
            ["run", "--set", "workload.thread=4"],
            ["unknown knob", "did you mean 'workload.threads'"],
        ),
        (["run", "--nemesis", "drop-ack"], ["unknown nemesis", "did you mean 'drop-acks'"]),
        (["run", "--bug", "no-dedupe"], ["unknown bug", "did you mean 'no-dedup'"]),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    args: list[str], needles: list[str], tmp_path: Path
) -> None:
    one_line_error(eosim(*args, cwd=tmp_path), *needles)


def test_a_store_path_that_is_a_file_is_refused_and_left_alone(tmp_path: Path) -> None:
    target = tmp_path / "not-a-dir"
    target.write_text("keep me\n")
    proc = eosim("run", "--store", str(target), "--time-limit", "1", "--no-report", cwd=tmp_path)
    one_line_error(proc, "cannot write the store", "not a directory")
    assert target.read_text() == "keep me\n"
    assert not list(tmp_path.glob(".*.tmp"))


def test_malformed_schedule_in_store_is_rejected_without_touching_the_store(tmp_path: Path) -> None:
    store = tmp_path / "run"
    store.mkdir()
    (store / "config.toml").write_text('seed = 1\nmode = "idempotent"\n')
    (store / "faults.json").write_text(json.dumps([{"at": 1, "nemesis": "meteor", "duration": 1}]))
    (store / "history.jsonl").write_text("keep me\n")
    proc = eosim("replay", str(store))
    one_line_error(proc, "unknown nemesis")
    assert (store / "history.jsonl").read_text() == "keep me\n"


def test_bad_toml_config_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("mode = = idempotent\n")
    one_line_error(eosim("run", "--config", str(bad), cwd=tmp_path), "invalid TOML")


@pytest.mark.parametrize(
    ("params", "needle"),
    [
        ({"api": "TxnOfsetCommit"}, "did you mean 'TxnOffsetCommit'"),
        ({"api": "Produce", "delay": -1}, "delay must be"),
        ({"api": "Produce", "count": 0}, "count must be"),
    ],
)
def test_a_bad_delay_request_in_a_faults_file_is_one_line(
    params: dict[str, object], needle: str, tmp_path: Path
) -> None:
    faults = tmp_path / "faults.json"
    op = {"at": 1.0, "nemesis": "delay-request", "duration": 1.0, "params": params}
    faults.write_text(json.dumps([op]))
    one_line_error(eosim("run", "--faults", str(faults), cwd=tmp_path), "fault #0", needle)


def stored_run(tmp_path: Path) -> Path:
    store = tmp_path / "run"
    proc = eosim(
        "run", "--time-limit", "1", "--store", str(store), "--no-report", "-q", cwd=tmp_path
    )
    assert proc.returncode in (0, 1), proc.stderr
    assert not (store / ".incomplete").exists()
    return store


@pytest.mark.parametrize("command", ["replay", "report", "shrink"])
def test_an_interrupted_store_is_called_incomplete(command: str, tmp_path: Path) -> None:
    store = stored_run(tmp_path)
    (store / ".incomplete").write_text("")
    needle = "incomplete store" if command != "report" else "incomplete store"
    one_line_error(eosim(command, str(store), cwd=tmp_path), needle)


def test_a_corrupted_results_file_is_named(tmp_path: Path) -> None:
    store = stored_run(tmp_path)
    (store / "results.json").write_text("{not json")
    one_line_error(eosim("replay", str(store), cwd=tmp_path), "results.json", "invalid JSON")


def test_a_store_with_nothing_to_compare_is_refused(tmp_path: Path) -> None:
    store = stored_run(tmp_path)
    (store / "results.json").unlink()
    (store / "history.jsonl").unlink()
    one_line_error(eosim("replay", str(store), cwd=tmp_path), "no digest to compare")
