"""The scenario gallery: every claim of the exactly-once story, and real protocol bugs,
reproduced as seeded campaigns with the verdict the theory predicts."""

from __future__ import annotations

from sim.scenarios import gallery, kafka_bugs, overhead  # noqa: F401  (register the scenarios)
from sim.scenarios.base import SCENARIOS, Case, Scenario, run_scenario

__all__ = ["SCENARIOS", "Case", "Scenario", "run_scenario"]
