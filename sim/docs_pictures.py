"""Regenerate the README's pictures from real runs (needs Debian's ``chromium`` for screenshots).

    python -m sim.docs_pictures [--out docs]

- ``latency.png``: an at-least-once run with lost acks and broker kills (its own plot).
- ``lso-lag.png``: the ``lso-blocking`` scenario's lag plot.
- ``report.png``: the top of a failing run's timeline.html in a 1400x900 window, as a stranger
  first sees it (acks=1 with partitions and broker kills loses acknowledged writes).
- ``messages.png``: the message diagram of the ``two-generals`` scenario: the ack lost on its
  way back, the retry, and the second append.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from sim.config import from_mapping
from sim.report import write_report
from sim.runs.runner import run
from sim.runs.store import write_store

ROOT = Path(__file__).resolve().parent.parent


def stored_run(directory: Path, knobs: dict[str, object], seed: int) -> Path:
    config = from_mapping(knobs)
    outcome = run(config, seed)
    write_store(directory, config, seed, outcome.schedule, outcome.history_text, outcome.results)
    write_report(directory, pngs=True)
    return directory


def screenshot(page: Path, png: Path, width: int, height: int, profile: Path) -> None:
    """Chromium's own headless screenshot of ``page`` (file URL, fragment allowed)."""
    chromium = shutil.which("chromium")
    if chromium is None:
        raise SystemExit("chromium is needed for screenshots (Debian: apt-get install chromium)")
    cmd = [
        chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", f"--user-data-dir={profile}", "--hide-scrollbars",
        f"--window-size={width},{height}", f"--screenshot={png}", page.resolve().as_uri(),
    ]  # fmt: skip
    env = {**os.environ, "DBUS_SESSION_BUS_ADDRESS": "disabled:"}
    subprocess.run(cmd, check=True, capture_output=True, timeout=120, env=env)


def two_generals_diagram(work: Path) -> Path:
    """The first duplicated value's send, from invoke to ack, drawn from a traced re-run."""
    import sys

    from sim.report.messages import write_witness_messages
    from sim.report.model import load_history, load_results

    keep = work / "two-generals"
    subprocess.run(
        [sys.executable, "-m", "sim.cli", "scenario", "run", "two-generals", "--seeds", "1",
         "--keep", str(keep)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    store = next(p for p in sorted(keep.iterdir()) if p.is_dir())
    witness = load_results(store / "results.json")["anomalies"]["duplicate"][0]
    sends = {op["index"] for op in load_history(store / "history.jsonl") if op["f"] == "send"}
    ops = [i for i in witness["ops"] if i in sends][:1]  # the one send that landed twice
    return write_witness_messages(store, ops, out_path=store / "messages.html")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    args = parser.parse_args()
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        latency = stored_run(
            work / "latency",
            {"mode": "at-least-once", "nemesis": "drop-acks,kill-broker", "time-limit": 8},
            3,
        )
        shutil.copyfile(latency / "latency.png", out / "latency.png")
        failing = stored_run(
            work / "failing",
            {"mode": "at-least-once", "acks": "1", "nemesis": "partition-halves,kill-broker"},
            3,
        )
        screenshot(failing / "timeline.html", out / "report.png", 1400, 900, work / "p1")
        screenshot(two_generals_diagram(work), out / "messages.png", 1400, 1150, work / "p2")
        from sim.scenarios import SCENARIOS
        from sim.scenarios.base import run_scenario

        lag = run_scenario(SCENARIOS["lso-blocking"], 1).get("plot")
        if lag:
            shutil.copyfile(lag, out / "lso-lag.png")
    for name in ("latency.png", "lso-lag.png", "report.png", "messages.png"):
        print(f"wrote {out / name}")


if __name__ == "__main__":
    main()
