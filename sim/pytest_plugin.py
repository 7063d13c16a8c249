"""pytest plugin for eosim (registered through the ``pytest11`` entry point).

Kept import-light on purpose: pytest loads it in every session of every project that has eosim
installed, so the simulator is imported only when a test asks for the ``eosim`` fixture.

    def test_my_settings_never_duplicate(eosim):
        result = eosim.run(mode="idempotent", nemesis="drop-acks,kill-broker", seeds=range(5))
        result.assert_absent("duplicate", "lost-write")

    def test_the_gallery_claim_holds(eosim):
        eosim.scenario("two-generals").assert_confirmed()

    def test_my_pipeline_is_exactly_once(eosim):       # your own code inside the simulation
        pipeline = sim.Pipeline(transform=my_transform, sink=my_sink, commit="transactional")
        eosim.pipeline(pipeline, seeds=20, nemesis="crash-consumer,drop-acks").assert_exactly_once()
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pytest


class DeliveryInvariantError(AssertionError):
    """A delivery invariant did not hold; the message carries the command that reproduces it."""


@dataclass
class RunsResult:
    """Results of one configuration over several seeds, with assertion helpers."""

    config: Any
    per_seed: dict[int, dict[str, Any]] = field(default_factory=dict)
    schedules: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    custom_schedule: bool = False  # the test passed its own schedule: not plannable from flags

    def seeds_with(self, anomaly: str) -> list[int]:
        _known(anomaly)
        return sorted(s for s, r in self.per_seed.items() if anomaly in r.get("anomaly_types", []))

    def _reproduce(self, seed: int) -> str:
        from sim.cli import reproduce_args

        line = f"eosim run {reproduce_args(self.config, seed)}"
        if self.custom_schedule:
            # ``eosim run`` plans faults from the seed; a hand-made schedule has to be given
            line += f"\nwith fault schedule (faults.json): {json.dumps(self.schedules[seed])}"
        return line

    def _witness(self, seed: int, name: str) -> str:
        witnesses = self.per_seed[seed].get("anomalies", {}).get(name) or [{}]
        witness = witnesses[0]
        return str(witness.get("explanation", witness))

    def assert_absent(self, *anomalies: str) -> None:
        __tracebackhide__ = True
        for name in anomalies:
            seeds = self.seeds_with(name)
            if seeds:
                raise DeliveryInvariantError(
                    f"{name} found in {len(seeds)} seed(s) {seeds[:10]}: {self._witness(seeds[0], name)}\n"
                    f"reproduce: {self._reproduce(seeds[0])}"
                )

    def assert_found(self, *anomalies: str) -> None:
        __tracebackhide__ = True
        for name in anomalies:
            if not self.seeds_with(name):
                raise DeliveryInvariantError(
                    f"{name} expected in at least one of seeds {sorted(self.per_seed)} but never found"
                )

    def assert_valid(self) -> None:
        __tracebackhide__ = True
        bad = sorted(s for s, r in self.per_seed.items() if r.get("valid") is False)
        if bad:
            r = self.per_seed[bad[0]]
            forbidden = r.get("forbidden") or r.get("anomaly_types", [])
            first = f": {self._witness(bad[0], forbidden[0])}" if forbidden else ""
            raise DeliveryInvariantError(
                f"mode {self.config.mode} broke its promise in seeds {bad[:10]}: {', '.join(forbidden)}{first}\n"
                f"reproduce: {self._reproduce(bad[0])}"
            )


def _known(anomaly: str) -> None:
    """A misspelt anomaly name would make ``assert_absent`` pass vacuously: reject it."""
    from checkers.modes import ANOMALY_NAMES
    from sim.errors import UsageError

    if anomaly not in ANOMALY_NAMES:
        raise UsageError(
            f"unknown anomaly {anomaly!r} (expected one of: {', '.join(ANOMALY_NAMES)})"
        )


@dataclass
class ScenarioResult:
    data: dict[str, Any]

    def assert_confirmed(self) -> None:
        __tracebackhide__ = True
        if not self.data["confirmed"]:
            raise DeliveryInvariantError(
                f"scenario {self.data['name']} not confirmed: expected {self.data.get('expected')}, observed {self.data.get('observed')}\n"
                f"reproduce: eosim scenario run {self.data['name']} --seeds {self.data['seeds']}"
            )


class Eosim:
    """The fixture: run configurations, schedules or gallery scenarios from a test."""

    def run(
        self,
        seeds: int | Iterable[int] = range(3),
        schedule: list[dict[str, Any]] | None = None,
        **knobs: Any,
    ) -> RunsResult:
        """Run one configuration (Kafka or CLI knob names) over ``seeds`` (an int n means
        ``range(n)``), with the schedule planned from each seed unless one is given."""
        from faults.catalog import validate_names
        from sim.bugs import validate_bugs
        from sim.config import from_mapping
        from sim.runs.runner import run

        config = from_mapping(knobs).validate()
        validate_names(config.nemesis)  # as ``eosim run`` does: one clear line, not a KeyError
        validate_bugs(config.bugs)
        result = RunsResult(config, custom_schedule=schedule is not None)
        for seed in range(seeds) if isinstance(seeds, int) else seeds:
            outcome = run(config, seed, schedule)
            result.per_seed[seed] = outcome.results
            result.schedules[seed] = outcome.schedule
        return result

    def pipeline(
        self,
        pipeline: Any,
        seeds: int | Iterable[int] = range(20),
        nemesis: str | Iterable[str] = ("crash-consumer", "drop-acks"),
        stop_at_first_failure: bool = True,
        **kwargs: Any,
    ) -> Any:
        """Run a user pipeline (``sim.Pipeline``) over ``seeds`` under ``nemesis``; the result's
        ``assert_exactly_once()`` fails with the witness (the input record, the sink ops) and
        the ``sim.run_pipeline(...)`` line that reproduces the failing seed. Other keywords go
        to ``sim.run_pipeline`` (``mode``, ``check_determinism``, knobs such as
        ``time_limit``)."""
        from sim.runs.pipeline import run_pipelines

        return run_pipelines(pipeline, seeds, nemesis, stop_at_first_failure, **kwargs)

    def scenario(self, name: str, seeds: int | None = None) -> ScenarioResult:
        from sim.scenarios import SCENARIOS, run_scenario

        if name not in SCENARIOS:
            raise pytest.UsageError(f"unknown eosim scenario {name!r}")
        return ScenarioResult(run_scenario(SCENARIOS[name], seeds))


@pytest.fixture
def eosim() -> Eosim:
    """Run eosim simulations and assert delivery invariants, with reproduce commands on failure."""
    return Eosim()
