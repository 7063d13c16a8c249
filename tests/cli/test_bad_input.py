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
        (["run", "--mode", "idempotnt"], ["unknown mode", "did you mean 'idempotent'"]),
        (["run", "--workload", "ctpp"], ["unknown workload", "did you mean 'ctp'"]),
        (["run", "--rate", "-5"], ["rate", "positive"]),
        (["run", "--set", "replication.factor=5"], ["replication.factor", "brokers"]),
        (["run", "--set", "min.insync.replicas=4"], ["min.insync.replicas"]),
        (["run", "--nemesis", "meteor"], ["unknown nemesis", "meteor"]),
        (["run", "--bug", "gremlins"], ["unknown bug", "gremlins"]),
        (["run", "--set", "bogus.knob=1"], ["unknown config knob", "bogus.knob"]),
        (
            ["run", "--set", "eligible.leader.replica.version=1"],
            ["unknown config knob", "did you mean 'eligible.leader.replicas.version'"],
        ),
        (["run", "--set", "eligible.leader.replicas.version=2"], ["between 0 and 1"]),
        (
            ["run", "--set", "kafka.version=3.9", "--set", "eligible.leader.replicas.version=1"],
            ["needs kafka.version 4.0"],
        ),
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
        (["scenario", "run", "no-such-scenario"], ["unknown scenario", "eosim scenario list"]),
        (["scenario", "run", "stale-leader-resett"], ["did you mean 'stale-leader-reset'"]),
        (["replay", "/nonexistent/store"], ["not found"]),
        (["report", "/nonexistent/store"], ["history.jsonl"]),
        (["check", "/nonexistent/history.jsonl"], ["not found"]),
        (["run", "--set", "kafka.version=4.3"], ["kafka.version", "did you mean '4.2'"]),
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
        (
            ["run", "--set", "sim.buggify-sites=late-reqest"],
            ["sim.buggify-sites", "unknown site", "did you mean 'late-request'"],
        ),
        (
            ["run", "--set", "sim.buggify-sites=late-request", "--set", "sim.buggify=false"],
            ["sim.buggify-sites contradicts sim.buggify=false"],
        ),
        (["run", "--set", "sim.buggify-sites=3"], ["sim.buggify-sites", "site names"]),
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
    one_line_error(eosim(command, str(store), cwd=tmp_path), "incomplete store")


def test_a_corrupted_results_file_is_named(tmp_path: Path) -> None:
    store = stored_run(tmp_path)
    (store / "results.json").write_text("{not json")
    one_line_error(eosim("replay", str(store), cwd=tmp_path), "results.json", "invalid JSON")


def test_a_store_with_nothing_to_compare_is_refused(tmp_path: Path) -> None:
    store = stored_run(tmp_path)
    (store / "results.json").unlink()
    (store / "history.jsonl").unlink()
    one_line_error(eosim("replay", str(store), cwd=tmp_path), "no digest to compare")


# --- eosim check: every class of bad history is one line and exit 2 (issue 17) ---------------
_SEND = '{"index": 0, "time": 0, "process": 1, "type": "invoke", "f": "send", "value": [["send", "k", 7]]}'  # fmt: skip
_ACK = '{"index": 1, "time": 0.1, "process": 1, "type": "ok", "f": "send", "value": [["send", "k", [0, 7]]]}'  # fmt: skip
_EDN = "{:index 0 :time 0 :process 1 :type :invoke :f :send :value [[:send 1 7]]}\n"


def _jsonl(line: str) -> str:
    return f"{_SEND}\n{_ACK}\n{line}\n"


def _poll(records: str) -> str:
    return '{"index": 2, "time": 0.2, "process": 2, "type": "ok", "f": "poll", "value": [["poll", {"k": ' + records + "}]]}"  # fmt: skip


@pytest.mark.parametrize(
    ("name", "text", "needles"),
    [
        ("big.jsonl", _jsonl(_poll("[[0, " + "9" * 5000 + "]]")), ["line 3", "integer with more than"]),
        ("deep.jsonl", _jsonl(_poll("[[0, " + "[" * 5000 + "]" * 5000 + "]]")), ["line 3", "nested deeper"]),
        ("deep2.jsonl", _jsonl(_poll("[[0, " + "[" * 500 + "]" * 500 + "]]")), ["line 3", "nested deeper"]),
        ("nan.jsonl", _jsonl(_poll("[[0, NaN]]")), ["line 3", "NaN is not a JSON number"]),
        ("type.jsonl", _jsonl(_poll("[]").replace('"ok"', '["ok"]')), ["line 3", "unknown type"]),
        ("index.jsonl", _jsonl(_poll("[]").replace('"index": 2', '"index": "2"')), ["line 3", "field index"]),
        ("key.jsonl", _jsonl(_ACK.replace('"k"', '{"k": 1}').replace('"index": 1', '"index": 3')), ["line 3", "send key"]),
        ("pid.jsonl", _jsonl(_poll("[]").replace('"f": "poll"', '"f": "poll", "pid": [1]')), ["line 3", "field pid"]),
        ("inst.edn", _EDN + '{:index 1 :time 1 :process 2 :type :info :f :x :value #inst "x"}\n', ["line 2", "malformed EDN"]),
        ("uuid.edn", _EDN + '{:index 1 :time 1 :process 2 :type :info :f :x :value #uuid "x"}\n', ["line 2", "malformed EDN"]),
        ("big.edn", _EDN + "{:index 1 :time 1 :process 2 :type :info :f :x :value " + "9" * 5000 + "}\n", ["line 2", "integer with more than"]),
        ("deep.edn", _EDN + "{:index 1 :time 1 :process 2 :type :info :f :x :value " + "[" * 3000 + "]" * 3000 + "}\n", ["line 2", "nested deeper"]),
        ("nan.edn", _EDN + "{:index 1 :time ##NaN :process 2 :type :info :f :x :value 1}\n", ["line 2", "##NaN"]),
        ("lex.edn", _EDN + "{:index 1 :value ~ \n\n\n:f :x}\n", ["line 2", "illegal character"]),
    ],
)  # fmt: skip
def test_a_bad_history_is_one_line_and_exit_2(
    name: str, text: str, needles: list[str], tmp_path: Path
) -> None:
    path = tmp_path / name
    path.write_text(text)
    fmt = ["--format", "jepsen-edn"] if name.endswith(".edn") else []
    for extra in ([], ["--json"]):
        proc = eosim("check", str(path), *fmt, *extra)
        one_line_error(proc, name, *needles)
        assert proc.stdout == ""


def _strict(text: str) -> dict[str, object]:
    def refuse(name: str) -> None:
        raise AssertionError(f"{name} in --json output")

    return json.loads(text, parse_constant=refuse)  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("name", "text", "value"),
    [
        ("inf.jsonl", _jsonl(_poll("[[0, 1e999], [1, 1e999]]").replace('"k"', '"j"')), "Infinity"),
        ("ratio.edn", _EDN + "{:index 1 :time 1 :process 2 :type :ok :f :poll :value [[:poll {2 [[0 1/3] [1 1/3]]}]]}\n", "1/3"),
        ("uuid.edn", _EDN + '{:index 1 :time 1 :process 2 :type :ok :f :poll :value [[:poll {2 [[0 #uuid "f81d4fae-7dec-11d0-a765-00a0c91e6bf6"] [1 #uuid "f81d4fae-7dec-11d0-a765-00a0c91e6bf6"]]}]]}\n', "f81d4fae-7dec-11d0-a765-00a0c91e6bf6"),
    ],
)  # fmt: skip
def test_check_json_output_is_strict_json(name: str, text: str, value: str, tmp_path: Path) -> None:
    path = tmp_path / name
    path.write_text(text)
    fmt = ["--format", "jepsen-edn"] if name.endswith(".edn") else []
    proc = eosim("check", str(path), *fmt, "--mode", "transactional", "--json")
    assert proc.returncode == 1, proc.stderr
    results = _strict(proc.stdout)
    assert "duplicate" in results["anomaly_types"]  # type: ignore[operator]
    assert results["anomalies"]["duplicate"][0]["value"] == value  # type: ignore[index]


def test_an_internal_error_in_check_is_one_line_and_exit_3(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real bug is not hidden as bad input: exit 3, still one line (messages may hold newlines)."""
    from click.testing import CliRunner

    import checkers
    from sim.cli import cli

    path = tmp_path / "h.jsonl"
    path.write_text(f"{_SEND}\n{_ACK}\n")

    def broken(*_: object, **__: object) -> None:
        raise RuntimeError("first line\nsecond line")

    monkeypatch.setattr(checkers, "check", broken)
    result = CliRunner().invoke(cli, ["check", str(path)])
    assert result.exit_code == 3
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "internal error: RuntimeError: first line second line" in lines[0]
