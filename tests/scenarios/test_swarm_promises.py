"""Every mode keeps its promise under swarm faults: each seed draws its own mix of nemeses and
intervals (FoundationDB-style swarm testing), so 20 seeds cover many combinations.

Transactional seeds 15 and 16 lost writes or hung before the coordinator kept a Prepare
transition pending until its record was committed (16 of the first 300 seeds failed then)."""

from __future__ import annotations

import pytest

from sim.config import Config
from sim.runs.campaign import run_campaign


@pytest.mark.parametrize("mode", ["at-least-once", "idempotent", "transactional"])
def test_mode_keeps_its_promise_under_swarm_faults(mode: str) -> None:
    summary = run_campaign(Config(mode=mode, swarm=True), list(range(20)), workers=1)
    assert summary.failing == [], {s: summary.results[s]["forbidden"] for s in summary.failing}
