"""The command line end to end: run, replay, check, report, campaign, scenario."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

from tests.cli.test_bad_input import eosim

SMALL = ["--time-limit", "3", "--set", "convergence=2"]
# An idempotent run with the no-dedup bug and lost acks: it breaks its promise.
FAILING_RUN = [
    "run",
    "--mode",
    "idempotent",
    "--nemesis",
    "drop-acks",
    "--bug",
    "no-dedup",
    "--seed",
    "4",
    "--store",
]


@pytest.fixture(scope="module")
def failing_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An idempotent run with the no-dedup bug and lost acks: it breaks its promise."""
    root = tmp_path_factory.mktemp("store")
    proc = eosim(
        *FAILING_RUN,
        str(root / "run"),
        *SMALL,
        "--set",
        "nemesis-interval=0.8",
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    return root / "run"


def test_run_writes_a_complete_store_and_explains_itself(failing_store: Path) -> None:
    for name in (
        "config.toml",
        "faults.json",
        "history.jsonl",
        "results.json",
        "timeline.html",
    ):
        assert (failing_store / name).is_file(), name
    for name in ("latency.png", "throughput.png"):  # the run's plots are drawn in the page
        assert not (failing_store / name).exists(), name
    results = json.loads((failing_store / "results.json").read_text())
    assert results["valid"] is False and "duplicate" in results["forbidden"]
    assert results["seed"] == 4 and len(results["digest"]) == 64
    witness = results["anomalies"]["duplicate"][0]
    assert witness["ops"] and witness["explanation"]


def test_default_store_directory_and_latest_link(tmp_path: Path) -> None:
    proc = eosim("run", "--mode", "idempotent", "--seed", "1", "--no-report", *SMALL, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    runs = [p for p in (tmp_path / "store").iterdir() if p.name.startswith("idempotent-none-1-")]
    assert len(runs) == 1
    assert (tmp_path / "store" / "latest").resolve() == runs[0].resolve()


def test_replay_reproduces_the_digest_and_detects_tampering(
    failing_store: Path, tmp_path: Path
) -> None:
    ok = eosim("replay", str(failing_store))
    assert ok.returncode == 0 and "replay matches" in ok.stdout
    tampered = tmp_path / "tampered"
    tampered.mkdir()
    for name in ("config.toml", "faults.json", "history.jsonl"):
        (tampered / name).write_bytes((failing_store / name).read_bytes())
    results = json.loads((failing_store / "results.json").read_text())
    results["digest"] = "0" * 64
    (tampered / "results.json").write_text(json.dumps(results))
    bad = eosim("replay", str(tampered))
    assert bad.returncode == 1 and "replay diverged" in bad.stderr


def test_printed_reproduce_command_gives_the_same_digest(
    failing_store: Path, tmp_path: Path
) -> None:
    proc = eosim(
        *FAILING_RUN,
        str(tmp_path / "a"),
        "--no-report",
        *SMALL,
        "--set",
        "nemesis-interval=0.8",
    )
    command = re.search(r"reproduce: eosim run (.*)", proc.stdout.replace("\n", " "))
    assert command, proc.stdout
    again = eosim(
        "run",
        *shlex.split(command.group(1)),
        "--store",
        str(tmp_path / "b"),
        "--no-report",
        "--json",
    )
    digest = json.loads(again.stdout)["digest"]
    assert digest == json.loads((failing_store / "results.json").read_text())["digest"]


def test_check_reads_a_stored_history_and_prints_json(failing_store: Path) -> None:
    proc = eosim("check", str(failing_store / "history.jsonl"), "--mode", "idempotent", "--json")
    assert proc.returncode == 1
    assert "duplicate" in json.loads(proc.stdout)["forbidden"]
    human = eosim("check", str(failing_store / "history.jsonl"), "--mode", "at-least-once")
    assert human.returncode == 0 and "duplicate" in human.stdout


def test_check_reads_jepsen_edn(tmp_path: Path) -> None:
    edn = tmp_path / "history.edn"
    edn.write_text(
        "{:type :invoke, :f :send, :value [[:send 1 5]], :process 0, :time 1000, :index 0}\n"
        "{:type :ok, :f :send, :value [[:send 1 [0 5]]], :process 0, :time 2000, :index 1}\n"
        "{:type :invoke, :f :poll, :value [[:poll]], :process 1, :time 3000, :index 2}\n"
        "{:type :ok, :f :poll, :value [[:poll {1 [[0 5] [1 5]]}]], :process 1, :time 4000, :index 3}\n"
    )
    proc = eosim("check", str(edn), "--format", "jepsen-edn", "--mode", "transactional", "--json")
    assert proc.returncode == 1
    assert "duplicate" in json.loads(proc.stdout)["anomaly_types"]


def test_report_command_rewrites_the_report_and_draws_the_pngs(failing_store: Path) -> None:
    """``eosim report`` writes the page the run wrote, byte for byte, plus the two PNGs."""
    page = failing_store / "timeline.html"
    by_run = page.read_bytes()
    page.unlink()
    proc = eosim("report", str(failing_store))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert page.read_bytes() == by_run
    for name in ("latency.png", "throughput.png"):
        assert (failing_store / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
        assert f"wrote {failing_store / name}" in proc.stdout


def test_shrink_writes_a_smaller_failing_store(failing_store: Path) -> None:
    proc = eosim("shrink", str(failing_store), "--max-runs", "40")
    shrunk = failing_store.with_name(failing_store.name + "-shrunk-1")
    assert shrunk.is_dir(), proc.stdout + proc.stderr
    before = json.loads((failing_store / "faults.json").read_text())
    after = json.loads((shrunk / "faults.json").read_text())
    assert len(after) <= len(before) and "faults" in proc.stdout
    assert "duplicate" in json.loads((shrunk / "results.json").read_text())["anomaly_types"]


def test_campaign_summarises_failures_with_reproduce_commands(tmp_path: Path) -> None:
    proc = eosim(
        "campaign",
        "--mode",
        "idempotent",
        "--nemesis",
        "drop-acks",
        "--bug",
        "no-dedup",
        "--seeds",
        "0..3",
        "--workers",
        "2",
        "--store",
        str(tmp_path / "c"),
        *SMALL,
        "--set",
        "nemesis-interval=0.8",
        cwd=tmp_path,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "anomaly type x seeds" in proc.stdout and "eosim run" in proc.stdout
    summary = json.loads((tmp_path / "c" / "campaign.json").read_text())
    assert summary["done"] == 4 and summary["failing_seeds"]
    failing = summary["failing_seeds"][0]
    assert (
        tmp_path / "c" / f"seed-{failing}" / "history.jsonl"
    ).is_file()  # failing runs keep their store


def test_scenario_run_json_and_list() -> None:
    listing = eosim("scenario", "list", "--json")
    names = {s["name"] for s in json.loads(listing.stdout)}
    assert {"two-generals", "idempotent-dedup", "delayed-endtxn-v1"} <= names
    proc = eosim("scenario", "run", "two-generals", "--seeds", "2", "--json")
    data = json.loads(proc.stdout)
    assert proc.returncode == 0 and data["confirmed"] is True
    assert set(data) >= {
        "name",
        "claim",
        "expected",
        "observed",
        "seeds",
        "failing_seeds",
        "confirmed",
    }


def test_nemesis_and_bug_lists() -> None:
    nem = eosim("run", "--nemesis", "list")
    assert nem.returncode == 0 and "drop-acks" in nem.stdout and "partition-ring" in nem.stdout
    bugs = eosim("run", "--bug", "list")
    assert bugs.returncode == 0 and "no-dedup" in bugs.stdout


def test_help_has_examples() -> None:
    for cmd in (["run"], ["check"], ["campaign"], ["scenario"], ["replay"], ["shrink"], ["report"]):
        proc = eosim(*cmd, "--help")
        assert proc.returncode == 0 and "eosim" in proc.stdout and "Example" in proc.stdout, cmd


@pytest.mark.parametrize(
    ("lines", "code", "reason"),
    [
        ([], 4, "empty history: no client operations"),
        (
            [
                '{"index": 0, "time": 0.1, "process": 0, "type": "invoke", "f": "send", "value": [["send", "k", 5]]}',
                '{"index": 1, "time": 0.2, "process": 0, "type": "ok", "f": "send", "value": [["send", "k", [0, 5]]]}',
            ],
            4,
            "no reads: 1 acknowledged send(s)",
        ),
        (
            [
                '{"index": 0, "time": 0.1, "process": 0, "type": "invoke", "f": "send", "value": [["send", "k", 5]]}',
                '{"index": 1, "time": 0.2, "process": 0, "type": "ok", "f": "send", "value": [["send", "k", [0, 5]]]}',
                '{"index": 2, "time": 0.3, "process": 1, "type": "invoke", "f": "poll", "value": [["poll"]]}',
                '{"index": 3, "time": 0.4, "process": 1, "type": "ok", "f": "poll", "value": [["poll", {"k": [[0, 5]]}]]}',
            ],
            0,
            None,
        ),
    ],
)
def test_check_exit_code_follows_the_verdict(tmp_path: Path, lines, code, reason) -> None:
    """0 only for valid; "unknown" exits 4 and says why, in JSON and on the verdict line."""
    path = tmp_path / "history.jsonl"
    path.write_text("".join(x + "\n" for x in lines))
    proc = eosim("check", str(path), "--json")
    assert proc.returncode == code, proc.stderr
    results = json.loads(proc.stdout)
    assert results["valid"] == ("unknown" if code == 4 else True)
    if reason is None:
        assert results["unknown_reason"] is None
    else:
        assert results["unknown_reason"].startswith(reason)
        human = eosim("check", str(path))
        assert human.returncode == 4 and "UNKNOWN" in human.stdout and reason[:10] in human.stdout


def test_a_stores_config_toml_reruns_the_same_run(failing_store: Path, tmp_path: Path) -> None:
    """DESIGN: a store's own config.toml is a valid --config; its seed is the default seed."""
    again = tmp_path / "again"
    proc = eosim("run", "--config", str(failing_store / "config.toml"), "--store", str(again))
    assert proc.returncode == 1, proc.stderr
    first = json.loads((failing_store / "results.json").read_text())
    second = json.loads((again / "results.json").read_text())
    assert (second["seed"], second["digest"]) == (first["seed"], first["digest"])
    other = eosim("run", "--config", str(failing_store / "config.toml"), "--seed", "5", "-q")
    assert "digest" not in other.stderr and other.returncode in (0, 1, 4)


@pytest.mark.parametrize("command", ["run", "campaign"])
@pytest.mark.parametrize(("flag", "entry"), [("--nemesis", "drop-acks"), ("--bug", "no-dedup")])
def test_every_command_lists_nemeses_and_bugs(command: str, flag: str, entry: str) -> None:
    proc = eosim(command, flag, "list")
    assert proc.returncode == 0, proc.stderr
    assert entry in proc.stdout
