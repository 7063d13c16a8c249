"""Run a user pipeline (``sim.Pipeline``) inside the simulation and judge it end to end.

    import sim
    pipeline = sim.Pipeline(transform=double, sink=my_sink, commit="transactional")
    run = sim.run_pipeline(pipeline, seed=3, nemesis="crash-consumer,drop-acks")
    run.assert_exactly_once()   # fails with the witness and the line that reproduces it

User code cannot go into a TOML file, so a store written here names the callables
(``user.pipeline`` in config.toml) and ``eosim replay`` refuses it with one line.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sim.clients.user import Pipeline
from sim.config import Config, from_mapping
from sim.errors import UsageError
from sim.runs.runner import Outcome, run

EXACTLY_ONCE = ("pipeline-duplicate", "pipeline-loss", "external-duplicate")
DEFAULT_NEMESIS = ("crash-consumer", "drop-acks")
PIPELINE_DEFAULTS: dict[str, Any] = {"time-limit": 6.0, "convergence": 4.0, "rate": 60.0}


class DeterminismError(UsageError):
    """The same seed gave two different histories: something in the run is not seeded."""


class ExactlyOnceError(AssertionError):
    """A user pipeline broke exactly-once; the message has the witness and the reproduce line."""


def pipeline_config(
    pipeline: Pipeline,
    nemesis: str | Iterable[str] = DEFAULT_NEMESIS,
    mode: str | None = None,
    **knobs: Any,
) -> Config:
    """The run's config: the pipeline's commit choice sets the mode and auto-commit; knobs use
    Kafka's or the CLI's names (``time-limit``, ``session.timeout.ms``, ...)."""
    pipeline.validate()
    if mode is None:
        mode = "transactional" if pipeline.commit == "transactional" else "idempotent"
    if pipeline.commit == "transactional" and mode != "transactional":
        raise UsageError(f"commit='transactional' needs mode transactional, not {mode}")
    if pipeline.commit != "transactional" and mode == "transactional":
        raise UsageError(f"commit={pipeline.commit!r} runs without transactions: use another mode")
    names = nemesis.split(",") if isinstance(nemesis, str) else list(nemesis)
    base = Config(
        mode=mode,
        workload="sink" if pipeline.sink is not None else "ctp",
        nemesis=tuple(n for n in names if n),
        enable_auto_commit=pipeline.commit == "auto",
        external={"user.pipeline": pipeline.qualified_names()},
    )
    data = {**PIPELINE_DEFAULTS, **{k.replace("_", "-"): v for k, v in knobs.items()}}
    return from_mapping(data, base).validate()


@dataclass
class PipelineRun:
    """One seed of a user pipeline: the run's outcome and what was found."""

    pipeline: Pipeline
    outcome: Outcome
    nemesis: tuple[str, ...]
    knobs: dict[str, Any] = field(default_factory=dict)
    custom_schedule: bool = False

    @property
    def seed(self) -> int:
        return self.outcome.seed

    @property
    def results(self) -> dict[str, Any]:
        return self.outcome.results

    @property
    def nondeterminism(self) -> list[str]:
        return list(self.results.get("user_code", {}).get("nondeterministic_calls", []))

    def found(self) -> list[str]:
        """The exactly-once anomalies found: the pipeline ones, and a duplicate in the output
        topic (one output value at two offsets: e.g. a resend on timeout)."""
        types = self.results.get("anomaly_types", [])
        out = [a for a in EXACTLY_ONCE if a in types]
        dups = self.results.get("anomalies", {}).get("duplicate", [])
        if any(str(w.get("key", "")).startswith("out") for w in dups):
            out.append("duplicate")
        return out

    def reproduce(self) -> str:
        args = [f"seed={self.seed}", f"nemesis={','.join(self.nemesis)!r}"]
        args += [f"{k}={v!r}" for k, v in sorted(self.knobs.items())]
        line = f"sim.run_pipeline(pipeline, {', '.join(args)})"
        if self.custom_schedule:
            line = line[:-1] + ", schedule=<the same schedule>)"
        names = self.outcome.config.external.get("user.pipeline", "")
        return f"{line}  # pipeline: {names}"

    def problems(self) -> list[str]:
        out = []
        for name in self.found():
            witnesses = self.results["anomalies"][name]
            witness = witnesses[0]
            if name == "duplicate":  # the output topic's, not an input producer's
                witness = next(w for w in witnesses if str(w.get("key", "")).startswith("out"))
            count = self.results.get("counts", {}).get(name, 1)
            out.append(f"{name} ({count}): {witness.get('explanation', witness)}")
        if self.nondeterminism:
            out.append(f"nondeterministic user code: {self.nondeterminism[0]}")
        return out

    def assert_exactly_once(self) -> None:
        __tracebackhide__ = True
        problems = self.problems()
        if problems:
            raise ExactlyOnceError(
                f"seed {self.seed}: exactly-once broken: {problems[0]}"
                + "".join(f"\n  also: {p}" for p in problems[1:])
                + f"\nreproduce: {self.reproduce()}"
            )


def run_pipeline(
    pipeline: Pipeline,
    seed: int = 0,
    nemesis: str | Iterable[str] = DEFAULT_NEMESIS,
    mode: str | None = None,
    schedule: list[dict[str, Any]] | None = None,
    check_determinism: bool = False,
    store: str | Path | None = None,
    **knobs: Any,
) -> PipelineRun:
    """Run ``pipeline`` for one seed under the nemeses (or a fault ``schedule``) and check it.
    ``check_determinism`` runs the seed twice and raises DeterminismError if the histories
    differ; ``store`` writes a store directory (``eosim report`` draws it; replay refuses)."""
    config = pipeline_config(pipeline, nemesis, mode, **knobs)
    outcome = _run(config, seed, schedule, pipeline)
    if check_determinism:
        again = _run(config, seed, schedule, pipeline)
        if again.digest != outcome.digest:
            raise DeterminismError(_divergence(outcome, again))
    if store is not None:
        from sim.runs.store import write_store

        write_store(
            Path(store),
            config,
            seed,
            outcome.schedule,
            outcome.history_text,
            outcome.results,
        )
    return PipelineRun(pipeline, outcome, config.nemesis, dict(knobs), schedule is not None)


def _run(
    config: Config, seed: int, schedule: list[dict[str, Any]] | None, pipeline: Pipeline
) -> Outcome:
    outcome = run(config, seed, schedule, user=pipeline)
    world = outcome.world
    rt = world.workload.pipelines.user if world is not None and world.workload else None
    if rt is not None:
        info: dict[str, Any] = {
            "pipeline": config.external.get("user.pipeline"),
            "inputs_processed": len(rt.expected),
        }
        if rt.guard.offenses:
            info["nondeterministic_calls"] = list(rt.guard.offenses)
        outcome.results["user_code"] = info
    outcome.world = None  # the world holds the user's callables: do not keep it alive
    return outcome


def _divergence(a: Outcome, b: Outcome) -> str:
    la, lb = a.history_text.splitlines(), b.history_text.splitlines()
    n = next(
        (i for i, (x, y) in enumerate(zip(la, lb, strict=False)) if x != y), min(len(la), len(lb))
    )
    calls = a.results.get("user_code", {}).get("nondeterministic_calls", [])
    why = (
        f"first suspect: {calls[0]}"
        if calls
        else "no wall-clock or module-level random call was seen: look for state kept between "
        "runs (module globals, class attributes), set iteration order or hash()"
    )
    return (
        f"seed {a.seed}: two runs of the same seed differ from history line {n + 1}; "
        f"user code is not deterministic ({why})"
    )


@dataclass
class PipelineResults:
    """A user pipeline over several seeds."""

    runs: dict[int, PipelineRun] = field(default_factory=dict)
    stopped_early: bool = False

    def failing(self) -> list[int]:
        return sorted(s for s, r in self.runs.items() if r.problems())

    def assert_exactly_once(self) -> None:
        __tracebackhide__ = True
        bad = self.failing()
        if bad:
            first = self.runs[bad[0]]
            ran = f"{len(self.runs)} seed(s) ran" + (
                ", stopped at the first failure" if self.stopped_early else ""
            )
            raise ExactlyOnceError(
                f"exactly-once broken in seed(s) {bad[:10]} ({ran}): {first.problems()[0]}"
                + "".join(f"\n  also: {p}" for p in first.problems()[1:])
                + f"\nreproduce: {first.reproduce()}"
            )
        if self.runs and not any(
            r.results.get("user_code", {}).get("inputs_processed") for r in self.runs.values()
        ):
            raise ExactlyOnceError(
                "the pipeline processed no input in any seed: nothing was checked"
            )


def run_pipelines(
    pipeline: Pipeline,
    seeds: int | Iterable[int] = range(5),
    nemesis: str | Iterable[str] = DEFAULT_NEMESIS,
    stop_at_first_failure: bool = True,
    **kwargs: Any,
) -> PipelineResults:
    """``run_pipeline`` over ``seeds`` (an int n means ``range(n)``)."""
    out = PipelineResults()
    for seed in range(seeds) if isinstance(seeds, int) else seeds:
        r = run_pipeline(pipeline, seed, nemesis, **kwargs)
        out.runs[seed] = r
        if stop_at_first_failure and r.problems():
            out.stopped_early = True
            break
    return out
