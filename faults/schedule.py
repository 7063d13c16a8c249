"""Fault schedules are data: a list of timed fault ops, stored as ``faults.json``.

A schedule is planned from the seed (``--nemesis a,b --nemesis-interval S``), written by hand
(JSON or TOML), or drawn by hypothesis; the same schedule + seed replays exactly. Every fault
heals before the workload's time limit, so the convergence window that follows is quiet and the
checkers can tell "not read yet" from "lost".

    {"at": 2.0, "nemesis": "drop-acks", "duration": 1.5, "target": "producers", "params": {}}
"""

from __future__ import annotations

import json
import math
from collections.abc import Generator
from pathlib import Path
from typing import Any

from faults import catalog  # noqa: F401  (registers the nemeses)
from faults.catalog import FaultContext
from faults.registry import REGISTRY
from faults.targets import EVERY, resolve, validate_target
from sim.config import did_you_mean
from sim.errors import UsageError
from sim.rand import derive_seed

FIELDS = {"at", "nemesis", "duration", "target", "params"}
NO_ACTIVE_CONTROLLER = "no active controller (the admin request is answered NOT_CONTROLLER)"


def validate_schedule(
    schedule: Any, time_limit: float | None = None, keys: list[str] | None = None
) -> list[dict[str, Any]]:
    """Check a schedule's shape; the first problem is reported as one line."""
    if not isinstance(schedule, list):
        raise UsageError("fault schedule must be a list of fault ops")
    out = []
    for i, op in enumerate(schedule):
        where = f"fault #{i}"
        if not isinstance(op, dict):
            raise UsageError(f"{where}: expected an object, got {type(op).__name__}")
        unknown = set(op) - FIELDS
        if unknown:
            raise UsageError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
        for required in ("at", "nemesis", "duration"):
            if required not in op:
                raise UsageError(f"{where}: missing field {required!r}")
        if not isinstance(op["nemesis"], str) or op["nemesis"] not in REGISTRY:
            raise UsageError(
                f"{where}: unknown nemesis {op['nemesis']!r}"
                f"{did_you_mean(str(op['nemesis']), sorted(REGISTRY))} (see: eosim run --nemesis list)"
            )
        for name in ("at", "duration"):
            value = op[name]
            if (
                not isinstance(value, (int, float))
                or isinstance(value, bool)
                or not math.isfinite(value)
                or value < 0
            ):
                raise UsageError(f"{where}: {name} must be a non-negative number, got {op[name]!r}")
        if time_limit is not None and op["at"] + op["duration"] > time_limit:
            raise UsageError(
                f"{where}: heals at {op['at'] + op['duration']:.3f}s, after the time limit {time_limit}s"
            )
        target = op.get("target", REGISTRY[op["nemesis"]].default_target)
        if not isinstance(target, str):
            raise UsageError(f"{where}: target must be a string")
        try:
            validate_target(target)
        except UsageError as exc:
            raise UsageError(f"{where}: {exc}") from None
        if (
            keys is not None
            and target.startswith("leader-of:")
            and target.split(":", 1)[1] not in keys
        ):
            raise UsageError(f"{where}: target {target!r} names an unknown partition")
        params = op.get("params", {})
        if not isinstance(params, dict):
            raise UsageError(f"{where}: params must be an object")
        partition = params.get("partition")
        if (
            keys is not None
            and isinstance(partition, str)
            and partition not in ("random", "all")
            and partition not in keys
        ):
            raise UsageError(f"{where}: params.partition names an unknown partition {partition!r}")
        check = REGISTRY[op["nemesis"]].check_params
        if check is not None:
            try:
                check(params)
            except UsageError as exc:
                raise UsageError(f"{where}: {exc}") from None
        out.append(
            {
                "at": float(op["at"]),
                "nemesis": op["nemesis"],
                "duration": float(op["duration"]),
                "target": target,
                "params": params,
            }
        )
    return out


def load_schedule(path: str | Path) -> list[dict[str, Any]]:
    p = Path(path)
    if not p.is_file():
        raise UsageError(f"fault schedule not found: {p}")
    text = p.read_text()
    if p.suffix == ".toml":
        import tomllib

        try:
            data = tomllib.loads(text).get("fault", [])
        except tomllib.TOMLDecodeError as exc:
            raise UsageError(f"{p}: invalid TOML: {exc}") from None
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UsageError(f"{p}: invalid JSON at line {exc.lineno}: {exc.msg}") from None
    return validate_schedule(data)


# --swarm runs this many extra fault lanes beside the first, each its own Jepsen-style sequence,
# so faults overlap (a partition holding markers while a clock jumps; a kill during a pause), as
# FoundationDB's swarm runs several fault workloads at once: one to five lanes, uniformly. The
# replication bugs want overlap (the last ISR member's lossy crash needs a second replica out
# already: no find in 2,900 one-lane runs, 0.38% with five), the transactional timing bugs
# want sparse faults (the late marker on 4.0: 1.2% with one lane, 0.3% with five), and a fifth
# of the seeds keep one lane for them (benchmarks/intensity.py; was (0, 0, 1, 2)).
SWARM_EXTRA_LANES = (0, 1, 2, 3, 4)
# --swarm starts this share of its lanes at time 0, while every client is still making its
# first requests (a producer's first batch to a partition, the first InitProducerId), which a
# lane's usual start (a fifth of an interval or later) never reaches.
SWARM_FROM_START = 0.25


def plan(config: Any, seed: int, extra_lanes: int | None = None) -> list[dict[str, Any]]:
    """Jepsen-style generator: faults at exponential intervals, kinds drawn from the selection;
    with ``--swarm`` the kinds, intervals, targets, parameters and the number of overlapping
    lanes come from the seed too. ``extra_lanes`` fixes that number instead (lane j is the same
    whatever it is: ``benchmarks/intensity.py`` compares intensities on the same seeds)."""
    import random

    rng = random.Random(derive_seed(seed, "faults/plan"))
    kinds = list(config.nemesis)
    interval = config.nemesis_interval
    if config.swarm:
        pool = kinds or swarm_pool(config)
        kinds = [k for k in pool if rng.random() < 0.5] or [pool[rng.randrange(len(pool))]]
        interval = interval * rng.uniform(0.5, 2.0)
    if not kinds:
        return []
    schedule = _lane(rng, kinds, interval, config, seed, "faults/plan")
    if config.swarm:
        lanes = random.Random(derive_seed(seed, "faults/plan/lanes"))
        extra = lanes.choice(SWARM_EXTRA_LANES) if extra_lanes is None else extra_lanes
        for j in range(1, 1 + extra):
            stream = f"faults/plan/lane{j}"
            schedule += _lane(random.Random(derive_seed(seed, stream)), kinds, interval, config,
                              seed, stream)  # fmt: skip
        schedule.sort(key=lambda op: op["at"])  # stable: lane order breaks ties
    return schedule


def _lane(
    rng: Any, kinds: list[str], interval: float, config: Any, seed: int, stream: str
) -> list[dict[str, Any]]:
    """One sequence of faults, each healed before the next starts."""
    schedule: list[dict[str, Any]] = []
    t = rng.uniform(0.2, 1.0) * interval
    if config.swarm and _starts_at_zero(seed, stream):
        t = 0.0
    limit = config.time_limit
    while True:
        kind = kinds[rng.randrange(len(kinds))]
        duration = round(rng.uniform(0.3, 1.0) * interval, 3)
        at = round(t, 3)
        if at + duration > limit - 0.05:
            break
        schedule.append(
            {
                "at": at,
                "nemesis": kind,
                "duration": duration,
                "target": swarm_target(kind, config, seed, len(schedule), stream),
                "params": swarm_params(kind, config, seed, len(schedule), stream),
            }
        )
        t = at + duration + rng.expovariate(1.0 / interval)
    return schedule


def _starts_at_zero(seed: int, stream: str) -> bool:
    """Drawn from a stream of its own, so the lanes that do not start at 0 keep their plans."""
    import random

    return random.Random(derive_seed(seed, f"{stream}/from-start")).random() < SWARM_FROM_START


def swarm_pool(config: Any) -> list[str]:
    """The kinds ``--swarm`` (and guided search) draw from when none is named: every kind in
    the pool that this configuration can run (transactions, a KRaft quorum) and whose fault
    its promise covers (``swarm_if``)."""
    return sorted(n for n in REGISTRY if REGISTRY[n].in_pool_for(config))


def swarm_target(kind: str, config: Any, seed: int, i: int, stream: str = "faults/plan") -> str:
    """The default target, except that ``--swarm`` draws one of a kind's ``swarm_targets``
    from a stream of its own (so kinds without them draw nothing and keep their schedules)."""
    choices = REGISTRY[kind].swarm_targets
    if not config.swarm or not choices:
        return default_target(kind, config)
    import random

    rng = random.Random(derive_seed(seed, f"{stream}/{kind}/{i}"))
    return for_workload(choices[rng.randrange(len(choices))], config)


def swarm_params(
    kind: str, config: Any, seed: int, i: int, stream: str = "faults/plan"
) -> dict[str, Any]:
    """No parameters (the kind's defaults), except that ``--swarm`` draws them for kinds that
    say how (``swarm_params``), from a stream of their own: a delayed request of any type, a
    clock jump of any size and direction."""
    draw = REGISTRY[kind].swarm_params
    if not config.swarm or draw is None:
        return {}
    import random

    rng = random.Random(derive_seed(seed, f"{stream}/{kind}/{i}/params"))
    params = draw(rng)
    fit = REGISTRY[kind].swarm_fit
    return params if fit is None else fit(params, config, rng)


def fit_params(fault: dict[str, Any], config: Any, rng: Any) -> dict[str, Any]:
    """``fault`` with its parameters narrowed to ``config`` by its kind's ``swarm_fit`` (guided
    search's mutations draw parameters without knowing the configuration)."""
    fit = REGISTRY[fault["nemesis"]].swarm_fit
    params = fault.get("params")
    if fit is None or not params:
        return fault
    fitted = fit(params, config, rng)
    return fault if fitted == params else {**fault, "params": fitted}


def default_target(kind: str, config: Any) -> str:
    """A nemesis's default target for this workload: ``leader-of:k0`` names the first
    partition the workload writes, which is ``in0`` for the pipelines (ctp, sink)."""
    return for_workload(REGISTRY[kind].default_target, config)


def for_workload(target: str, config: Any) -> str:
    """``leader-of:k0`` names the first partition the workload writes: ``in0`` for the
    pipelines (ctp, sink), whose partitions are in0.. and out0.."""
    if target == "leader-of:k0" and config.workload in ("ctp", "sink"):
        return "leader-of:in0"
    return target


def install(world: Any, workload: Any, schedule: list[dict[str, Any]]) -> None:
    """Start one simpy process per fault op; each records start and stop in the history."""
    ctx = FaultContext(world, workload, world.rng("nemesis"))
    for i, op in enumerate(schedule):
        world.env.process(_run_fault(ctx, i, op))


def _run_fault(ctx: FaultContext, i: int, op: dict[str, Any]) -> Generator[Any, Any, None]:
    env = ctx.world.env
    yield env.timeout(op["at"])
    spec = REGISTRY[op["nemesis"]]
    params = dict(op.get("params", {}))
    params["duration"] = op["duration"]
    targets = resolve(ctx.world, ctx.workload, op.get("target", spec.default_target), ctx.rng)
    until = round(env.now + op["duration"], 6)
    history = ctx.world.history
    if not targets:
        history.nemesis(
            spec.name,
            {"fault": i, "phase": "start", "target": None, "until": until, "skipped": "no target"},
        )
        return
    # "all-producers" / "all-processors" apply the fault to each; other roles name one node (or, like
    # "brokers" for the partition shapes, the cluster as a whole).
    if op.get("target") not in EVERY and not spec.every_node:
        targets = targets[:1]
    target: Any = targets[0] if len(targets) == 1 else targets
    ctx.notes = {}
    if spec.admin and ctx.world.quorum is not None and ctx.world.quorum.leader() is None:
        # A KRaft quorum between a leader's loss and its successor committing in its epoch has
        # no active controller: the operator's admin request is answered NOT_CONTROLLER
        # (QuorumController.appendWriteEvent).
        ctx.notes["skipped"] = NO_ACTIVE_CONTROLLER
        heals = []
    else:
        heals = [spec.start(ctx, t, params) for t in targets]

    def heal() -> None:
        for h in heals:
            h()

    history.nemesis(
        spec.name, {"fault": i, "phase": "start", "target": target, "until": until, **ctx.notes}
    )
    yield env.timeout(op["duration"])
    heal()
    history.nemesis(spec.name, {"fault": i, "phase": "stop", "target": target})
