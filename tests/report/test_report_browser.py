"""timeline.html in a real headless Chromium: it loads, logs nothing to the console, and shows
the witness op. Runs whenever chromium is installed, and always under CI (CI installs it with
``apt-get install -y chromium``), where a missing browser is a failure, not a skip."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from sim.report import write_report

pytestmark = pytest.mark.skipif(
    not shutil.which("chromium") and not os.environ.get("CI"),
    reason="chromium not installed (Debian: apt-get install -y chromium)",
)

CONSOLE = re.compile(r":CONSOLE[(:]|Uncaught")


def run_chromium(page: Path, profile: Path) -> tuple[str, list[str]]:
    """Dump the rendered DOM and return it with any console lines Chromium logged."""
    chromium = shutil.which("chromium")
    assert chromium, "CI must have chromium: apt-get install -y chromium"
    cmd = [
        chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0",
        "--virtual-time-budget=2000", "--dump-dom", page.resolve().as_uri(),
    ]  # fmt: skip
    env = {**os.environ, "DBUS_SESSION_BUS_ADDRESS": "disabled:"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout, [line for line in proc.stderr.splitlines() if CONSOLE.search(line)]


def test_console_detection_works(tmp_path: Path) -> None:
    """Guards the real test: if Chromium's log format changed, errors would pass unseen."""
    bad = tmp_path / "bad.html"
    bad.write_text('<!DOCTYPE html><html><head><link rel="icon" href="data:,"></head><body>'
                   "<script>console.error('boom'); notDefined();</script></body></html>")  # fmt: skip
    _, console = run_chromium(bad, tmp_path / "profile")
    assert any("boom" in line for line in console)
    assert any("Uncaught" in line for line in console)


def test_timeline_loads_without_console_errors_and_shows_witness(tmp_path: Path) -> None:
    history = [
        {"index": 0, "time": 0.0, "process": 0, "type": "invoke", "f": "send",
         "value": [["send", "k1", 1]]},
        {"index": 1, "time": 0.05, "process": "nemesis", "type": "info", "f": "drop-acks",
         "value": {"fault": 0, "phase": "start", "target": "p0", "until": 0.3}},
        {"index": 2, "time": 0.1, "process": 1, "type": "invoke", "f": "poll", "value": None},
        {"index": 3, "time": 0.2, "process": 0, "type": "info", "f": "send",
         "value": [["send", "k1", [None, 1]]]},
        {"index": 4, "time": 0.25, "process": 1, "type": "ok", "f": "poll",
         "value": [["poll", {"k1": [[0, 1], [1, 1]]}]]},
        {"index": 5, "time": 0.3, "process": "nemesis", "type": "info", "f": "drop-acks",
         "value": {"fault": 0, "phase": "stop", "target": "p0"}},
        {"index": 6, "time": 0.4, "process": 2, "type": "invoke", "f": "send", "value": None},
    ]  # fmt: skip
    results = {"valid": False, "mode": "idempotent", "seed": 1, "digest": "d",
               "anomalies": {"duplicate": [{"ops": [3, 4], "explanation": "k1/1 twice"}]}}  # fmt: skip
    (tmp_path / "history.jsonl").write_text("".join(json.dumps(o) + "\n" for o in history))
    (tmp_path / "results.json").write_text(json.dumps(results))
    write_report(tmp_path)

    dom, console = run_chromium(tmp_path / "timeline.html", tmp_path / "profile")
    assert console == []
    assert re.search(r'class="op info witness" id="op-3"', dom)
    assert re.search(r'class="op ok witness" id="op-4"', dom)
    assert 'href="#op-3"' in dom and 'class="nem"' in dom
