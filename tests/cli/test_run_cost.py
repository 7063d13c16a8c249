"""What ``eosim run`` pays for its report: no matplotlib (the plots are drawn in the browser)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.cli.test_commands import FAILING_RUN, SMALL

ROOT = Path(__file__).resolve().parents[2]
# test_commands' failing run: idempotent with the no-dedup bug and lost acks duplicates.
BROKEN = [*SMALL, "--set", "nemesis-interval=0.8"]
ENV = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}

# A fresh interpreter runs the command in-process, then says which plotting modules it loaded.
IN_PROCESS = """
import sys
from sim.cli import main
try:
    main(sys.argv[1:])
except SystemExit as exc:
    print("exit", exc.code)
print("matplotlib loaded:", "matplotlib" in sys.modules)
"""


def in_fresh_interpreter(*args: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-c", IN_PROCESS, *args],
        capture_output=True, text=True, timeout=300, cwd=ROOT, env=ENV,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_run_with_its_report_never_imports_matplotlib_and_report_does(tmp_path: Path) -> None:
    """A failing run: its report has plots, anomaly marks and message diagrams, and still no
    matplotlib; ``eosim report`` of the same store draws the PNGs with it (the check can fail)."""
    store = tmp_path / "run"
    out = in_fresh_interpreter(*FAILING_RUN, str(store), *BROKEN, "-q")
    assert "exit 1" in out and "matplotlib loaded: False" in out, out
    page = (store / "timeline.html").read_text()
    assert 'id="latency-plot"' in page and "uPlot" in page
    assert (store / "messages-duplicate.html").is_file()
    assert not (store / "latency.png").exists()
    out = in_fresh_interpreter("report", str(store))
    assert "exit 0" in out and "matplotlib loaded: True" in out, out
    assert (store / "latency.png").is_file() and (store / "throughput.png").is_file()
