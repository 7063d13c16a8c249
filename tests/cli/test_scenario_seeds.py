"""Scenarios name their failing seeds with a reproduce line and, with --keep, a full store; the
scenario list prints every name whole at any terminal width."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

from sim.runs.store import FILES, INCOMPLETE
from sim.scenarios import SCENARIOS
from tests.cli.test_bad_input import eosim


@pytest.mark.parametrize("columns", ["60", "80"])
def test_scenario_list_prints_every_name_whole(
    columns: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", columns)
    proc = eosim("scenario", "list")
    assert proc.returncode == 0, proc.stderr
    assert "…" not in proc.stdout and "..." not in proc.stdout
    for s in SCENARIOS.values():
        heading = re.escape(s.name) + (r"  \[" + re.escape(s.ticket) + r"\]" if s.ticket else "")
        assert re.search(rf"^{heading}$", proc.stdout, re.M), f"{s.name} not whole:\n{proc.stdout}"
    width = int(columns)
    for line in proc.stdout.splitlines():
        if line.startswith(" "):
            assert len(line) <= width, line  # claims wrap to the terminal


def test_two_generals_keeps_its_first_failing_seed(tmp_path: Path) -> None:
    keep = tmp_path / "kept"
    proc = eosim("scenario", "run", "two-generals", "--seeds", "3", "--keep", str(keep))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    stored = re.search(r"^  store: (\S+)$", proc.stdout, re.M)
    command = re.search(r"^  reproduce: (eosim run .*)$", proc.stdout, re.M)
    assert stored and command, proc.stdout
    store = Path(stored.group(1))
    assert store.parent == keep and re.fullmatch(r"two-generals-at-least-once-seed\d+", store.name)
    for name in (*FILES, "timeline.html"):
        assert (store / name).is_file(), name
    assert not (store / INCOMPLETE).exists()
    results = json.loads((store / "results.json").read_text())
    # as the scenario predicts: duplicates and no lost writes. At-least-once allows duplicates,
    # so the mode's verdict is valid: the scenario's claim is about the anomaly, not a broken promise.
    assert "duplicate" in results["anomaly_types"] and "lost-write" not in results["anomaly_types"]
    assert "duplicate" in results["allowed"] and results["forbidden"] == []
    assert results["valid"] is True and results["mode"] == "at-least-once"
    assert f"seed {results['seed']}  digest {results['digest'][:16]}" in proc.stdout
    seed = int(store.name.rsplit("seed", 1)[1])
    assert results["seed"] == seed
    argv = shlex.split(command.group(1))
    assert argv[-2:] == ["--faults", str(store / "faults.json")]
    again = tmp_path / "again"
    rerun = eosim(*argv[1:], "--store", str(again), "--no-report", "-q")
    assert rerun.returncode == 0, rerun.stderr
    assert json.loads((again / "results.json").read_text())["digest"] == results["digest"]
    replay = eosim("replay", str(store))
    assert replay.returncode == 0, replay.stderr


def test_scenario_json_names_the_first_failing_seed(tmp_path: Path) -> None:
    keep = tmp_path / "kept"
    proc = eosim("scenario", "run", "two-generals", "--seeds", "2", "--keep", str(keep), "--json")
    assert proc.returncode == 0, proc.stderr
    first = json.loads(proc.stdout)["first_failing"]["at-least-once"]
    store = Path(first["store"])
    assert store.parent == keep
    assert first["digest"] == json.loads((store / "results.json").read_text())["digest"]
    assert first["schedule"] == "fixed"
    assert first["faults"] == json.loads((store / "faults.json").read_text())
    assert first["reproduce"].endswith(f"--faults {store / 'faults.json'}")


def test_a_planned_case_reproduces_without_a_store(tmp_path: Path) -> None:
    """A case whose faults are planned from its config and seed reruns from the flags alone."""
    proc = eosim("scenario", "run", "read-committed-vs-uncommitted", "--seeds", "1", "--json")
    result = json.loads(proc.stdout)
    assert result["first_failing"], proc.stdout
    for first in result["first_failing"].values():
        assert first["schedule"] == "planned" and first["store"] is None
        again = tmp_path / "again"
        rerun = eosim(
            *shlex.split(first["reproduce"])[1:], "--store", str(again), "--no-report", "-q"
        )
        assert rerun.returncode in (0, 1, 4), rerun.stderr
        assert json.loads((again / "results.json").read_text())["digest"] == first["digest"]
