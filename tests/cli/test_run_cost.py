"""What ``eosim run`` pays for its report: no matplotlib (the plots are drawn in the browser), and
as a one-shot process no interpreter teardown, with every file and line of output still there."""

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


# The console script's entry point, with an atexit handler and an object whose finaliser
# only runs when the interpreter tears itself down.
CONSOLE = """
import atexit, sys
class Finalised:
    def __del__(self):
        print("teardown ran", flush=True)
keep = Finalised()
atexit.register(lambda: print("atexit ran", flush=True))
from sim.cli import console_main
sys.argv = ["eosim", *sys.argv[1:]]
console_main()
"""


def console(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", CONSOLE, *args],
        capture_output=True, text=True, timeout=300, cwd=cwd, env=ENV,
    )  # fmt: skip


def test_one_shot_run_skips_teardown_but_keeps_output_files_and_exit_code(tmp_path: Path) -> None:
    store = tmp_path / "run"
    proc = console(*FAILING_RUN, str(store), *BROKEN, cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[-1] == "atexit ran", proc.stdout  # handlers ran, after everything printed
    assert "teardown ran" not in proc.stdout  # and no teardown followed them
    assert any(line.startswith("reproduce: eosim run") for line in lines)
    for name in ("history.jsonl", "results.json", "timeline.html"):
        assert (store / name).is_file(), name
    assert (store / "timeline.html").read_text().endswith("</body></html>\n")


def test_other_commands_exit_the_ordinary_way(tmp_path: Path) -> None:
    """Only ``run`` skips teardown; ``check`` (like campaign, with its Dask client) does not."""
    store = tmp_path / "run"
    ran = console(*FAILING_RUN, str(store), *BROKEN, "-q", "--no-report", cwd=tmp_path)
    assert ran.returncode == 1 and ran.stdout.splitlines() == ["atexit ran"], ran.stdout
    proc = console("check", str(store / "history.jsonl"), "-q", cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout.splitlines()[-2:] == ["atexit ran", "teardown ran"], proc.stdout


def test_in_process_callers_of_main_keep_their_interpreter(tmp_path: Path) -> None:
    """``main`` (what tests, benchmarks and the pytest plugin call) only raises SystemExit."""
    out = in_fresh_interpreter(*FAILING_RUN, str(tmp_path / "run"), *BROKEN, "-q", "--no-report")
    assert out.splitlines()[0] == "exit 1" and out.splitlines()[-1].startswith("matplotlib")
