"""One run: config + seed (+ fault schedule) -> history -> verdict. Pure and deterministic."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from checkers.gcpause import gc_paused
from faults.shrink import Check
from sim.clients.txn_producer import TxnProducer
from sim.clients.workload import Workload
from sim.cluster.build import build_world
from sim.cluster.trace import MessageTrace
from sim.cluster.world import World
from sim.config import Config
from sim.errors import UsageError
from sim.history import digest_of
from sim.runs.liveness import buggify_quiet_from


@dataclass
class Outcome:
    config: Config
    seed: int
    history_text: str
    digest: str
    results: dict[str, Any]
    schedule: list[dict[str, Any]]
    ops: list[dict[str, Any]] = field(repr=False, default_factory=list)
    world: World | None = field(repr=False, default=None)


Progress = Callable[[float, float], None]  # (simulated now, simulated end)
PROGRESS_STEPS = 200


def simulate(
    config: Config,
    seed: int,
    schedule: list[dict[str, Any]] | None = None,
    progress: Progress | None = None,
    trace: MessageTrace | None = None,
    user: Any = None,
) -> tuple[World, Workload, list[dict[str, Any]]]:
    """Build the world, run the workload and the fault schedule, and close pending ops.

    ``progress`` is told the simulated time now and then; the ticks are events of their own that
    touch nothing in the model, so the history is the same with or without them. ``trace``
    (a ``MessageTrace``) records the messages and decisions of its window; it draws no
    randomness and schedules nothing, so the history is the same with or without it too.
    ``user``: a user pipeline (``sim.run_pipeline``) whose callables the processors run."""
    from faults.catalog import check_quorum, validate_names
    from faults.schedule import install, plan, validate_schedule

    config.validate()
    validate_names(config.nemesis)  # the Python API gets the CLI's "did you mean", not a KeyError
    refuse_user_code(config, user)
    check_quorum(config, list(config.nemesis))
    if schedule is not None:
        check_quorum(config, [str(op.get("nemesis")) for op in schedule if isinstance(op, dict)])
    world = build_world(config, seed)
    if trace is not None:
        world.net.attach_trace(trace)
    workload = Workload(world)
    workload.user = user
    world.workload = workload
    if world.buggify is not None:
        world.buggify.quiet_from = buggify_quiet_from(workload.stop_at)
    workload.start()
    if schedule is None:
        schedule = plan(config, seed)
    schedule = validate_schedule(schedule, config.time_limit, keys=[*world.controller.partitions])
    install(world, workload, schedule)
    hard_stop = workload.end_at + 30.0
    if progress is not None:
        world.env.process(_progress_ticks(world, workload.end_at, progress))
    with gc_paused():  # ~20% faster: the model allocates many short-lived, acyclic objects
        world.env.run(until=world.env.any_of([workload.final_done, world.env.timeout(hard_stop)]))
    close_pending(world)
    if user is not None:
        workload.pipelines.finish()
    if trace is not None:
        _finish_trace(trace, world, workload)
    return world, workload, schedule


def refuse_user_code(config: Config, user: Any) -> None:
    """A run of user code (``sim.run_pipeline``) stores the names of its callables, not the
    code: a store or TOML file naming them cannot be re-run from here (replay, shrink, report
    --messages, run --config) and says so in one line."""
    names = config.external.get("user.pipeline")
    if names and user is None:
        raise UsageError(
            f"this run ran user code ({names}); eosim cannot rebuild user code from a store: "
            "re-run it from Python with sim.run_pipeline(<your pipeline>, seed=<its seed>)"
        )
    if user is not None and not names:
        raise UsageError("a user pipeline needs its names in the config (use sim.run_pipeline)")


def _finish_trace(trace: MessageTrace, world: World, workload: Workload) -> None:
    """After the run: who was what (roles, the process numbers each client session spoke for)."""
    trace.roles = dict(world.net.roles)
    trace.processes = {p: s.name for s in workload.sessions for p in s.processes}
    trace.sim_end = world.env.now
    trace.env = None


def _progress_ticks(world: World, end: float, progress: Progress) -> Generator[Any, Any, None]:
    step = min(end / PROGRESS_STEPS, 1.0)  # at least once a simulated second
    while True:
        progress(world.env.now, end)
        yield world.env.timeout(step)


def close_pending(world: World) -> None:
    """Ops still pending when the run stops end as info: their fate is unknown."""
    from sim.clients.session import crash_value, op_extras

    for process in sorted(world.history._pending, key=str):
        op = world.history.pending(process)
        assert op is not None
        world.history.complete(process, "info", crash_value(op), **op_extras(op), ended=True)


def run(
    config: Config,
    seed: int,
    schedule: list[dict[str, Any]] | None = None,
    progress: Progress | None = None,
    trace: MessageTrace | None = None,
    user: Any = None,
) -> Outcome:
    world, workload, schedule = simulate(config, seed, schedule, progress, trace, user)
    text = world.history.text()
    digest = digest_of(text)  # the text is built and hashed once (it was built twice)
    results = verdict(world, config, seed, digest)
    return Outcome(config, seed, text, digest, results, schedule, world.history.ops, world)


def verdict(world: World, config: Config, seed: int, digest: str) -> dict[str, Any]:
    import checkers
    from sim.runs.known import known_classes
    from sim.runs.liveness import stalled

    results = checkers.check(world.history.ops, config.mode, extra_anomalies=stalled(world))
    results["seed"] = seed
    results["digest"] = digest
    results.setdefault("stats", {})["sim_time"] = round(world.env.now, 6)
    known = known_classes(world, results)
    if known:  # failures real Kafka has too (sim.runs.known), told apart from the model's own
        results["known_real"] = known
    if world.quorum is not None:
        results["stats"]["elections"] = world.quorum.elections
        results["stats"]["isr_shrinks"] = world.quorum.isr_shrinks
        results["stats"]["controller_epochs"] = world.quorum.quorum_elections
    else:
        results["stats"]["elections"] = world.controller.elections
        results["stats"]["isr_shrinks"] = world.controller.isr_shrinks
    results["stats"].update(protocol_counters(world))
    results["processes"] = process_roles(world)
    if world.buggify is not None:
        results["stats"]["buggify"] = {
            site: world.buggify.fired[site] if on else None
            for site, on in sorted(world.buggify.enabled.items())
        }  # None: the site was not enabled in this run
    return dict(sorted(results.items()))


def sites_enabled(results: Mapping[str, Any]) -> list[str] | None:
    """The BUGGIFY sites a run had enabled, fired or not (``stats.buggify``, written above);
    None when BUGGIFY was off."""
    sites = (results.get("stats") or {}).get("buggify")
    if not isinstance(sites, dict):
        return None
    return [site for site, fired in sites.items() if fired is not None]


def sites_fired(results: Mapping[str, Any]) -> list[str]:
    """The BUGGIFY sites that took their rare path at least once in a run."""
    sites = (results.get("stats") or {}).get("buggify")
    return [site for site, fired in sites.items() if fired] if isinstance(sites, dict) else []


def protocol_counters(world: World) -> dict[str, Any]:
    """What the protocol did to keep (or fail) its promise: producer retries, batches the
    broker answered as duplicates, fencings, transaction outcomes, and the error codes the
    producers saw. A run's output prints them so a reader sees the machinery at work."""
    from sim.clients.producer import Producer

    producers: list[Producer] = []
    workload = world.workload
    for session in workload.sessions if workload is not None else ():
        for node in (session.node, session.producer):
            if isinstance(node, Producer):
                producers.append(node)
    errors: dict[str, int] = {}
    for producer in producers:
        for code, n in producer.stats.errors.items():
            errors[code] = errors.get(code, 0) + n
    coordinators = list(world.txn_coordinators.values())
    txn = {k: sum(c.stats[k] for c in coordinators) for k in ("commits", "aborts", "timeouts")}
    return {
        "retries": sum(p.stats.retries for p in producers),
        "deduplicated": sum(p.stats.duplicates_answered for p in producers),
        "fenced": sum(c.stats["fenced"] for c in coordinators),
        "txn_commits": txn["commits"],
        "txn_aborts": txn["aborts"],
        "txn_timeouts": txn["timeouts"],
        "producer_errors": dict(sorted(errors.items())),
    }


def process_roles(world: World) -> dict[str, dict[str, str]]:
    """Who each history process was (role and client node), so a report can label its lanes
    and point node-targeted faults at them; the history itself stays Jepsen's bare numbers."""
    roles: dict[str, dict[str, str]] = {}
    workload = world.workload
    for session in workload.sessions if workload is not None else ():
        role = session.role
        if role == "producer" and isinstance(session.node, TxnProducer):
            role = "txn-producer"
        for process in session.processes:
            roles[str(process)] = {"role": role, "node": session.name}
    return dict(sorted(roles.items(), key=lambda kv: int(kv[0])))


def trace_store(directory: Path, start: float, end: float) -> tuple[MessageTrace, Outcome]:
    """Re-run a stored run with a message trace of ``[start, end]`` and check that it is the
    same run: its digest must equal the stored one (else one UsageError). Traces are never
    stored; any window of any store can be drawn again this way."""
    from faults.schedule import validate_schedule
    from sim.runs.store import read_store

    config, seed, schedule, results = read_store(directory)
    config.validate()
    validate_schedule(schedule)
    want = results.get("digest")
    history = directory / "history.jsonl"
    if want is None and history.is_file():
        want = hashlib.sha256(history.read_bytes()).hexdigest()
    if want is None:
        raise UsageError(f"{directory}: results.json and history.jsonl are both missing")
    trace = MessageTrace(start=start, end=end)
    outcome = run(config, seed, schedule, trace=trace)
    if outcome.digest != want:
        raise UsageError(
            f"{directory}: re-running the store gave digest {outcome.digest[:16]}, stored "
            f"{str(want)[:16]}: it was written by another version of eosim (or edited), so its "
            "messages cannot be drawn"
        )
    return trace, outcome


def still_fails(seed: int, anomalies: set[str]) -> Check:
    """The predicate: a run of (config, seed, schedule) shows one of ``anomalies``."""

    def check(config: Config, schedule: list[dict[str, Any]]) -> bool:
        outcome = run(config, seed, schedule)
        return bool(anomalies & set(outcome.results.get("anomaly_types", [])))

    return check
