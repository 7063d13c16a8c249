"""The compiled core (sim.compiled): used only while it matches the sources, and byte-identical.

The build test compiles the hot modules and the checkers with mypyc into a temporary cache
(a minute or two of one core), runs every golden-digest case in a fresh interpreter on the
compiled modules (each history and each verdict must be plain Python's, byte for byte), and runs
the checkers' tests on the compiled checkers. It is skipped only where mypyc or a C compiler is
missing (``pip install 'eosim[test]'`` brings mypy)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

import pytest

from sim import compiled

ROOT = Path(__file__).resolve().parents[2]


def copy_tree(tmp: Path) -> Path:
    for package in compiled.PACKAGES:
        shutil.copytree(ROOT / package, tmp / package, ignore=shutil.ignore_patterns("__pycache__"))
    for module in compiled.MODULES:
        shutil.copy(ROOT / module, tmp / module)
    return tmp


def test_the_digest_follows_the_compiled_modules_only(tmp_path: Path) -> None:
    root = copy_tree(tmp_path)
    before = compiled.source_digest(root)
    assert compiled.source_digest(root) == before  # stable
    (root / "sim/cluster/trace.py").write_text("# left interpreted: not part of a build\n")
    assert compiled.source_digest(root) == before
    broker = root / "sim/cluster/broker.py"
    broker.write_text(broker.read_text() + "\n# an edit\n")
    assert compiled.source_digest(root) != before  # an edited module: the old build is not used
    names = {p.as_posix() for p in compiled.compiled_sources(root)}
    assert {
        "sim/cluster/broker.py",
        "sim/clients/producer.py",
        "sim/history.py",
        "checkers/check.py",
    } <= names
    assert {Path(n).name for n in names}.isdisjoint(compiled.LEFT_INTERPRETED)


def test_a_build_is_used_only_when_complete_and_not_switched_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EOSIM_COMPILED_DIR", str(tmp_path))
    monkeypatch.delenv(compiled.PURE_ENV)
    monkeypatch.setattr(compiled, "_digest", None)
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setattr(
        sys, "meta_path", [f for f in sys.meta_path if not isinstance(f, compiled._Finder)]
    )
    build = compiled.build_dir()
    assert build.parent == tmp_path
    suffix = EXTENSION_SUFFIXES[0]
    for rel in ("sim/cluster/broker", "checkers/check", "sim/history", "lib/abc__mypyc"):
        (build / rel).parent.mkdir(parents=True, exist_ok=True)
        (build / (rel + suffix)).write_bytes(b"")
    assert not compiled.install()  # no "complete" mark: an interrupted build is not used
    (build / compiled.COMPLETE).write_text("x\n")
    monkeypatch.setenv(compiled.PURE_ENV, "1")
    assert not compiled.install()
    monkeypatch.delenv(compiled.PURE_ENV)
    assert compiled.install()
    finder = sys.meta_path[0]
    assert sys.path[0] == str(build / "lib")
    assert sorted(finder.files) == ["checkers.check", "sim.cluster.broker", "sim.history"]
    spec = finder.find_spec("sim.cluster.broker")
    assert spec.origin == str(build / ("sim/cluster/broker" + suffix))
    assert finder.find_spec("sim.cluster.trace") is None  # left interpreted: the usual finder
    # switched off after install (pytest imports sim for its plugin before a conftest runs):
    # the next import of a compiled module is plain Python
    monkeypatch.setenv(compiled.PURE_ENV, "1")
    assert finder.find_spec("sim.cluster.broker") is None


def test_the_suite_itself_runs_plain_python() -> None:
    assert not compiled.active()


def _can_compile() -> str | None:
    try:
        import mypyc  # noqa: F401
    except ImportError:
        return "mypyc (mypy) is not installed"
    compiler = str(sysconfig.get_config_var("CC") or "cc").split()[0]
    if shutil.which(compiler) is None:
        return f"no C compiler ({compiler})"
    return None


CHECK = """
import json, sys
from sim import compiled
import sim.cluster.broker, sim.clients.producer, sim.history, checkers.check
for name in ("sim.cluster.broker", "sim.clients.producer", "sim.history", "checkers.check"):
    assert sys.modules[name].__file__.endswith(".so"), sys.modules[name].__file__
from tests.sim.test_compiled import verdicts
print(json.dumps(verdicts()))
"""


def verdicts() -> dict[str, object]:
    """Every golden case's digest and its checked results (the checkers are compiled too)."""
    from sim.runs.runner import run
    from tests.sim.test_golden_digests import CASES, SEEDS

    out: dict[str, object] = {}
    for name in sorted(CASES):
        for seed in SEEDS:
            outcome = run(CASES[name], seed)
            out[f"{name}@{seed}"] = outcome.results
    return out


@pytest.mark.skipif(_can_compile() is not None, reason=str(_can_compile()))
@pytest.mark.timeout(1200)  # a mypyc build takes minutes on a busy machine; its own limit is 900 s
def test_a_compiled_build_gives_the_golden_digests(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != compiled.PURE_ENV}
    env["EOSIM_COMPILED_DIR"] = str(tmp_path / "cache")
    built = subprocess.run(
        [sys.executable, "-c", "from sim.cli import console_main; console_main()", "compile"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert built.returncode == 0, built.stdout + built.stderr
    assert "compiled core:" in built.stdout
    status = subprocess.run(
        [sys.executable, "-c", "from sim.cli import console_main; console_main()",
         "compile", "--status"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert status.stdout.strip() == "compiled", status.stdout + status.stderr
    proc = subprocess.run(
        [sys.executable, "-c", CHECK], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    on_compiled = json.loads(proc.stdout)
    golden = json.loads((ROOT / "tests/sim/golden_digests.json").read_text())
    assert {case: r["digest"] for case, r in on_compiled.items()} == golden
    assert on_compiled == json.loads(json.dumps(verdicts()))  # plain Python's, this process
    # The checkers' own tests, bad histories included, on the compiled checkers: mypyc turns
    # annotations into runtime checks, so an annotation narrower than the data fails here.
    checks = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:xdist", "-p", "no:cacheprovider",
         "-o", "addopts=", "tests/checkers"],
        cwd=ROOT, env={**env, "EOSIM_TEST_COMPILED": "1"}, capture_output=True, text=True,
        timeout=600,
    )  # fmt: skip
    assert checks.returncode == 0, checks.stdout[-3000:]
