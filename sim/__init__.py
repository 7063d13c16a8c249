"""eosim's public Python API: a small surface over the layers below.

    import sim
    outcome = sim.run(sim.Config(mode="idempotent", nemesis=("drop-acks",)), seed=7)
    outcome.results["valid"], outcome.digest

    summary = sim.campaign(sim.Config(mode="at-least-once", nemesis=("drop-acks",)), range(20))

    pipeline = sim.Pipeline(transform=my_transform, sink=my_sink, commit="transactional")
    sim.run_pipeline(pipeline, seed=3, nemesis="crash-consumer,drop-acks").assert_exactly_once()
    results = sim.check(history_ops, mode="idempotent")
    sim.SCENARIOS["two-generals"], sim.run_scenario(sim.SCENARIOS["two-generals"], seeds=3)

Names are imported on first use (PEP 562), so ``import sim.config`` from a lower layer does not
drag in the whole simulator, and the package itself adds no import cycle.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from sim import compiled as _compiled

_compiled.install()  # the compiled core, when one is built for these sources (eosim compile)

if TYPE_CHECKING:
    from checkers import check
    from sim.clients.user import (
        Incident,
        Pipeline,
        Policies,
        Record,
        StoreConflict,
        StoreFaults,
        StoreHandle,
        StoreTimeout,
        now,
        random,
    )
    from sim.config import Config, from_mapping
    from sim.errors import UsageError, UserCodeError
    from sim.runs.campaign import CampaignSummary
    from sim.runs.campaign import run_campaign as campaign
    from sim.runs.pipeline import (
        DeterminismError,
        ExactlyOnceError,
        PipelineResults,
        PipelineRun,
        run_pipeline,
        run_pipelines,
    )
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
    # your own pipeline, run inside the simulation
    "Pipeline": ("sim.clients.user", "Pipeline"),
    "Policies": ("sim.clients.user", "Policies"),
    "Incident": ("sim.clients.user", "Incident"),
    "Record": ("sim.clients.user", "Record"),
    "StoreFaults": ("sim.clients.user", "StoreFaults"),
    "StoreHandle": ("sim.clients.user", "StoreHandle"),
    "StoreTimeout": ("sim.clients.user", "StoreTimeout"),
    "StoreConflict": ("sim.clients.user", "StoreConflict"),
    "now": ("sim.clients.user", "now"),
    "random": ("sim.clients.user", "random"),
    "UserCodeError": ("sim.errors", "UserCodeError"),
    "run_pipeline": ("sim.runs.pipeline", "run_pipeline"),
    "run_pipelines": ("sim.runs.pipeline", "run_pipelines"),
    "PipelineRun": ("sim.runs.pipeline", "PipelineRun"),
    "PipelineResults": ("sim.runs.pipeline", "PipelineResults"),
    "ExactlyOnceError": ("sim.runs.pipeline", "ExactlyOnceError"),
    "DeterminismError": ("sim.runs.pipeline", "DeterminismError"),
}

__all__ = [
    "SCENARIOS",
    "CampaignSummary",
    "Config",
    "DeterminismError",
    "ExactlyOnceError",
    "Incident",
    "Outcome",
    "Pipeline",
    "PipelineResults",
    "PipelineRun",
    "Policies",
    "Record",
    "StoreConflict",
    "StoreFaults",
    "StoreHandle",
    "StoreTimeout",
    "UsageError",
    "UserCodeError",
    "campaign",
    "check",
    "from_mapping",
    "now",
    "random",
    "run",
    "run_pipeline",
    "run_pipelines",
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
