"""eosim's public Python API: a small surface over the layers below.

    import sim
    outcome = sim.run(sim.Config(mode="idempotent", nemesis=("drop-acks",)), seed=7)
    outcome.results["valid"], outcome.digest

    summary = sim.campaign(sim.Config(mode="at-least-once", nemesis=("drop-acks",)), range(20))
    results = sim.check(history_ops, mode="idempotent")
    sim.SCENARIOS["two-generals"], sim.run_scenario(sim.SCENARIOS["two-generals"], seeds=3)

Names are imported on first use (PEP 562), so ``import sim.config`` from a lower layer does not
drag in the whole simulator, and the package itself adds no import cycle.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from checkers import check
    from sim.config import Config, from_mapping
    from sim.errors import UsageError
    from sim.runs.campaign import CampaignSummary
    from sim.runs.campaign import run_campaign as campaign
    from sim.runs.runner import Outcome, run
    from sim.scenarios import SCENARIOS, run_scenario

_EXPORTS = {
    "Config": ("sim.config", "Config"),
    "from_mapping": ("sim.config", "from_mapping"),
    "UsageError": ("sim.errors", "UsageError"),
    "run": ("sim.runs.runner", "run"),
    "Outcome": ("sim.runs.runner", "Outcome"),
    "campaign": ("sim.runs.campaign", "run_campaign"),
    "CampaignSummary": ("sim.runs.campaign", "CampaignSummary"),
    "check": ("checkers", "check"),
    "SCENARIOS": ("sim.scenarios", "SCENARIOS"),
    "run_scenario": ("sim.scenarios", "run_scenario"),
}

__all__ = [
    "SCENARIOS",
    "CampaignSummary",
    "Config",
    "Outcome",
    "UsageError",
    "campaign",
    "check",
    "from_mapping",
    "run",
    "run_scenario",
]


def __getattr__(name: str) -> Any:
    try:
        module, attr = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'sim' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
