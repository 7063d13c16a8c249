"""The small public API a Python user needs: ``sim.Config``, ``sim.run``, ``sim.campaign``,
``sim.check`` and the scenario registry, re-exported lazily from the layers (as trio does)."""

from __future__ import annotations

import subprocess
import sys

import pytest

import sim
from sim.runs.runner import run

SHORT = sim.Config(mode="at-least-once", nemesis=("drop-acks",), time_limit=2, convergence=1)


def test_every_exported_name_resolves() -> None:
    for name in sim.__all__:
        assert getattr(sim, name) is not None
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = sim.nope  # type: ignore[attr-defined]


def test_run_is_the_runner_and_check_agrees_with_it() -> None:
    outcome = sim.run(SHORT, 3)
    assert outcome.digest == run(SHORT, 3).digest
    again = sim.check(outcome.ops, SHORT.mode)
    assert again["valid"] == outcome.results["valid"]
    assert again["anomaly_types"] == outcome.results["anomaly_types"]


def test_campaign_and_scenarios_are_reachable() -> None:
    summary = sim.campaign(SHORT, [0, 1])
    assert sorted(summary.results) == [0, 1]
    assert "two-generals" in sim.SCENARIOS


def test_importing_sim_imports_no_layer() -> None:
    """``import sim.config`` from faults/ runs sim/__init__: it must not pull in the runs layer.
    Only the compiled core's switch (``sim.compiled``, standard library only) comes along."""
    code = "import sys, sim; print(sorted(m for m in sys.modules if m.startswith('sim.')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['sim.compiled']"


def test_all_lists_exactly_the_lazy_exports() -> None:
    assert sorted(sim.__all__) == sorted(sim._EXPORTS)
