"""Shrinking explains itself and round-trips (issue: failing runs explain themselves).

``eosim shrink`` writes a fresh numbered store with its report and never overwrites one; the
shrunk store replays; its printed reproduce command reruns it to the same digest; and any store's
own config.toml (with its faults.json) reruns the stored run.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
from pathlib import Path

import pytest

from sim.runs.store import FILES, INCOMPLETE
from tests.cli.test_bad_input import eosim
from tests.cli.test_commands import FAILING_RUN, SMALL

MAX_RUNS = "30"


def digest_of(store: Path) -> str:
    return str(json.loads((store / "results.json").read_text())["digest"])


def shrink(store: Path, *extra: str) -> tuple[str, Path]:
    proc = eosim("shrink", str(store), "--max-runs", MAX_RUNS, *extra)
    assert proc.returncode == 1, proc.stdout + proc.stderr  # the shrunk run still fails
    if "--json" in extra:
        return proc.stdout, Path(json.loads(proc.stdout)["shrunk_store"])
    found = re.search(r"^minimal store: (\S+)", proc.stdout, re.M)
    assert found, proc.stdout
    return proc.stdout, Path(found.group(1))


def assert_complete(store: Path) -> None:
    for name in (*FILES, "timeline.html"):
        assert (store / name).is_file(), f"{store} lacks {name}"
    assert not (store / INCOMPLETE).exists()
    assert not list(store.glob(".*.tmp"))


@pytest.fixture(scope="module")
def failing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("shrink")
    proc = eosim(*FAILING_RUN, str(root / "run"), *SMALL, "--set", "nemesis-interval=0.8")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    return root / "run"


@pytest.fixture(scope="module")
def shrunk(failing: Path) -> tuple[str, Path]:
    return shrink(failing)


def test_shrink_writes_a_complete_numbered_store_and_prints_the_schedule(
    failing: Path, shrunk: tuple[str, Path]
) -> None:
    stdout, target = shrunk
    assert target == failing.with_name(failing.name + "-shrunk-1")
    assert_complete(target)
    schedule = json.loads((target / "faults.json").read_text())
    assert 1 <= len(schedule) <= len(json.loads((failing / "faults.json").read_text()))
    lines = [line.strip() for line in stdout.splitlines() if line.strip().startswith("at=")]
    assert len(lines) == len(schedule), stdout
    for line, op in zip(lines, schedule, strict=True):
        for field in (f"nemesis={op['nemesis']}", f"target={op['target']}", "duration=", "params="):
            assert field in line, line
    assert "duplicate" in json.loads((target / "results.json").read_text())["anomaly_types"]


def test_shrinking_again_never_overwrites(failing: Path, shrunk: tuple[str, Path]) -> None:
    _, first = shrunk
    before = {p.name: p.read_bytes() for p in sorted(first.iterdir())}
    stamps = {p.name: p.stat().st_mtime_ns for p in first.iterdir()}
    _, second = shrink(failing)
    assert second == failing.with_name(failing.name + "-shrunk-2")
    assert_complete(second)
    assert {p.name: p.read_bytes() for p in sorted(first.iterdir())} == before
    assert {p.name: p.stat().st_mtime_ns for p in first.iterdir()} == stamps
    assert digest_of(second) == digest_of(first)  # the shrink itself is deterministic


def test_the_shrunk_store_replays(shrunk: tuple[str, Path]) -> None:
    _, target = shrunk
    proc = eosim("replay", str(target))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert digest_of(target)[:16] in proc.stdout


def test_the_printed_reproduce_command_reruns_the_shrunk_store(
    shrunk: tuple[str, Path], tmp_path: Path
) -> None:
    stdout, target = shrunk
    found = re.search(r"^reproduce: (eosim run .*)$", stdout, re.M)
    assert found, stdout
    argv = shlex.split(found.group(1))
    assert argv[:2] == ["eosim", "run"] and argv[-2:] == ["--faults", str(target / "faults.json")]
    again = tmp_path / "again"
    proc = eosim(*argv[1:], "--store", str(again), "--no-report", "-q")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert digest_of(again) == digest_of(target)


def test_shrink_json_states_the_same_facts(failing: Path) -> None:
    stdout, target = shrink(failing, "--json")
    facts = json.loads(stdout)
    assert_complete(target)
    assert facts["store"] == str(failing)
    assert facts["schedule"] == json.loads((target / "faults.json").read_text())
    results = json.loads((target / "results.json").read_text())
    assert (facts["digest"], facts["seed"], facts["valid"]) == (
        results["digest"],
        results["seed"],
        False,
    )
    assert facts["after"]["faults"] == len(facts["schedule"]) <= facts["before"]["faults"]
    assert "duplicate" in facts["preserving"] and facts["simulations"] >= 1
    assert facts["reproduce"].startswith("eosim run ")
    assert facts["reproduce"].endswith(f"--faults {target / 'faults.json'}")


def test_a_stores_config_reruns_it(failing: Path, tmp_path: Path) -> None:
    """``run --config STORE/config.toml`` takes the seed from the file and reproduces the stored
    digest (the faults are planned from that seed); with ``--faults STORE/faults.json`` too."""
    plain = tmp_path / "plain"
    proc = eosim("run", "--config", str(failing / "config.toml"), "--store", str(plain), "-q")
    assert proc.returncode == 1, proc.stderr
    assert digest_of(plain) == digest_of(failing)
    both = tmp_path / "both"
    proc = eosim(
        "run",
        "--config",
        str(failing / "config.toml"),
        "--faults",
        str(failing / "faults.json"),
        "--store",
        str(both),
        "--no-report",
        "-q",
    )
    assert proc.returncode == 1, proc.stderr
    assert digest_of(both) == digest_of(failing)


def test_a_passing_stores_config_reruns_it(tmp_path: Path) -> None:
    first = tmp_path / "ok"
    proc = eosim("run", "--mode", "idempotent", "--seed", "3", *SMALL, "--store", str(first), "-q")
    assert proc.returncode == 0, proc.stderr
    again = tmp_path / "again"
    proc = eosim("run", "--config", str(first / "config.toml"), "--store", str(again), "-q")
    assert proc.returncode == 0, proc.stderr
    assert digest_of(again) == digest_of(first)


def test_a_shrunk_stores_config_and_faults_rerun_it(
    shrunk: tuple[str, Path], tmp_path: Path
) -> None:
    _, target = shrunk
    again = tmp_path / "again"
    proc = eosim(
        "run",
        "--config",
        str(target / "config.toml"),
        "--faults",
        str(target / "faults.json"),
        "--store",
        str(again),
        "--no-report",
        "-q",
    )
    assert proc.returncode == 1, proc.stderr
    assert digest_of(again) == digest_of(target)


def test_an_interrupted_shrink_leaves_no_half_store(
    failing: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C while the shrunk store is written (here: during its report) exits 130 and leaves
    no ``-shrunk-N`` directory behind; the next shrink takes the first number."""
    import sim.cli

    store = tmp_path / "run"
    shutil.copytree(failing, store)

    def interrupted(directory: Path) -> None:
        # the data is complete (a report may re-run it for message diagrams); the report is not
        assert not (directory / INCOMPLETE).exists() and (directory / "results.json").exists()
        raise KeyboardInterrupt

    monkeypatch.setattr(sim.cli, "write_report_quietly", interrupted)
    with pytest.raises(SystemExit) as stopped:
        sim.cli.main(["shrink", str(store), "--max-runs", MAX_RUNS, "-q"])
    assert stopped.value.code == 130
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]
    monkeypatch.undo()
    _, target = shrink(store)
    assert target.name == "run-shrunk-1"


def test_a_store_killed_mid_write_is_refused(
    failing: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """write_store keeps the incomplete marker until every file is in place: a store whose
    writing stopped half way is refused by replay, shrink and report."""
    import sim.runs.store as store_module
    from sim.errors import UsageError
    from sim.runs.store import read_store, write_store

    config, seed, schedule, results = read_store(failing)
    real = store_module.write_atomic

    def dies_at_history(path: Path, text: str) -> None:
        if path.name == "history.jsonl":
            raise KeyboardInterrupt
        real(path, text)

    monkeypatch.setattr(store_module, "write_atomic", dies_at_history)
    half = tmp_path / "half"
    with pytest.raises(KeyboardInterrupt):
        write_store(half, config, seed, schedule, "", results)
    monkeypatch.undo()
    assert (half / INCOMPLETE).exists()
    with pytest.raises(UsageError, match="incomplete store"):
        read_store(half)
    for command in ("replay", "shrink", "report"):
        proc = eosim(command, str(half))
        assert proc.returncode == 2 and "incomplete store" in proc.stderr, proc.stderr


def test_shrinking_store_latest_writes_beside_the_real_run(failing: Path, tmp_path: Path) -> None:
    """``store/latest`` is a symlink; the minimal run is named after the run it came from."""
    latest = tmp_path / "latest"
    latest.symlink_to(failing)
    _, target = shrink(latest)
    assert target.parent == failing.parent
    assert target.name.startswith(failing.name + "-shrunk-")
    assert not (tmp_path / "latest-shrunk-1").exists()
