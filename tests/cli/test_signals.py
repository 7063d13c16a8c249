"""A campaign stopped by a signal: SIGTERM keeps what finished and says the campaign was
interrupted; SIGKILL of the parent leaves no worker process behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def start_campaign(store: Path, marker: str) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
        "EOSIM_TEST_MARK": marker,  # inherited by every worker: how the test finds them
    }
    args = ["campaign", "--seeds", "0..999", "--workers", "2", "--time-limit", "3", "-q"]
    return subprocess.Popen(
        [sys.executable, "-m", "sim.cli", *args, "--store", str(store)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def processes_marked(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if f"EOSIM_TEST_MARK={marker}".encode() in (entry / "environ").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def wait_for_seeds(store: Path, n: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while len(list(store.glob("seed-*/results.json"))) < n:
        assert time.monotonic() < deadline, "the campaign never got going"
        time.sleep(0.1)


def test_sigterm_stops_a_campaign_like_ctrl_c(tmp_path: Path) -> None:
    store = tmp_path / "campaign"
    proc = start_campaign(store, uuid.uuid4().hex)
    wait_for_seeds(store, 3)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    summary = json.loads((store / "campaign.json").read_text())
    assert summary["interrupted"] is True
    # a worker may have stored a seed the parent had not yet collected when the signal came:
    # the summary counts the seeds the parent collected, never more than the store holds
    on_disk = len(list(store.glob("seed-*/results.json")))
    assert 1 <= summary["done"] <= on_disk < 1000
    assert len(summary["results"]) == summary["done"]
    page = (store / "campaign.html").read_text()  # the page is written for it too, and says so
    assert "Interrupted" in page and f"after {summary['done']} of 1000 seeds" in page


def test_sigkill_of_the_campaign_leaves_no_worker_behind(tmp_path: Path) -> None:
    marker = uuid.uuid4().hex
    proc = start_campaign(tmp_path / "campaign", marker)
    wait_for_seeds(tmp_path / "campaign", 2)
    assert len(processes_marked(marker)) >= 3  # the campaign, the forkserver, the workers
    proc.kill()
    proc.wait(timeout=10)
    deadline = time.monotonic() + 15
    while processes_marked(marker) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert processes_marked(marker) == [], "workers outlived the campaign"
